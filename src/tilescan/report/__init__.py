"""The HTML report (reports/index.html): what it reads and chooses (inputs), its pictures (figures), the page (html)."""
from tilescan.report.html import build_report
from tilescan.report.inputs import ReportInputs, load_inputs

__all__ = ["ReportInputs", "build_report", "load_inputs"]
