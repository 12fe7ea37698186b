"""Stage report: one self-contained HTML page (reports/index.html) of everything the pipeline found."""
import tilescan.pinned  # noqa: F401  (first: pins the math before NumPy/TF load; see tilescan/runtime.py)

# isort: split
from tilescan import artifacts
from tilescan.atomic import staged_outputs
from tilescan.params import Params
from tilescan.report import build_report, load_inputs
from tilescan.stage import run_stage


def main(params: Params) -> str:
    inputs = load_inputs(params)
    page = build_report(inputs)
    with staged_outputs(artifacts.REPORT_HTML) as (html_file,):
        html_file.write_text(page, encoding="utf-8")
    truth = "with ground truth" if inputs.truth is not None else "no ground truth"
    return (f"report: {len(inputs.ids)} tiles, {int(inputs.flagged['flagged'].sum())} flagged, "
            f"{len(inputs.queries)} queries, {truth}; {page.count('<img ')} images, "
            f"{len(page.encode('utf-8')) / 1e6:.1f} MB -> {artifacts.REPORT_HTML}")


if __name__ == "__main__":
    run_stage(main)
