"""reports/index.html from a real (tiny) pipeline run, opened from disk in headless Chromium: every image
loads, nothing is fetched from anywhere, no console error. Screenshots go to test-artifacts/ (git-ignored).

Chromium is the Debian package (`apt-get install chromium`; .ci/run installs it), driven by Playwright
without its own browser download. Missing locally: skipped with the reason; missing under CI: a failure."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from helpers import ROOT, dvc, set_params

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts"


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required under CI)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Python package playwright is not installed (pip install -r requirements.txt)")
    if not Path(CHROMIUM).is_file():
        _unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def render(browser, report: Path, screenshot: Path) -> dict:
    """Open report from disk; return its images' state, console errors and any outside request."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors, outside = [], []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))

    def only_the_file(route):
        if route.request.url == report.as_uri():
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_file)
    page.goto(report.as_uri(), wait_until="load")
    images = page.evaluate("Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])")
    sections = page.evaluate("Array.from(document.querySelectorAll('section')).map(s => s.id)")
    text = page.inner_text("body")
    screenshot.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    return {"images": images, "errors": errors, "outside": outside, "sections": sections, "text": text}


def check_rendered(result: dict) -> None:
    assert result["images"], "no images in the report"
    broken = [alt for alt, complete, width in result["images"] if not (complete and width > 0)]
    assert broken == [], f"images that did not load: {broken}"
    assert result["errors"] == [], f"console errors: {result['errors']}"
    assert result["outside"] == [], f"the report fetched: {result['outside']}"
    assert result["sections"][0] == "flagged" and result["sections"][-1] == "metrics"


@pytest.mark.slow
def test_pipeline_report_renders_in_chromium(pipeline_repo, browser):
    stages = yaml.safe_load((pipeline_repo / "dvc.lock").read_text())["stages"]
    assert [out["path"] for out in stages["report"]["outs"]] == ["reports/index.html"]
    result = render(browser, pipeline_repo / "reports/index.html", ARTIFACTS / "report.png")
    check_rendered(result)
    queries = yaml.safe_load((pipeline_repo / "params.yaml").read_text())["knn_report"]["queries"]
    assert queries and all(query in result["text"] for query in queries)
    assert "False positives" in result["text"] and "Missed" in result["text"]


@pytest.mark.slow
def test_unsupervised_report_without_ground_truth_renders(pipeline_repo, browser, tmp_path):
    """The same run with no query tiles and no labels CSV: those sections say so, the page still renders."""
    repo = tmp_path / "unsupervised"
    shutil.copytree(pipeline_repo, repo, symlinks=True)
    set_params(repo, {"knn_report.queries": [], "data.labels_csv": ""})
    dvc("repro", cwd=repo)
    result = render(browser, repo / "reports/index.html", ARTIFACTS / "report-unsupervised.png")
    check_rendered(result)
    assert "knn_report.queries is empty" in result["text"] and "No ground truth" in result["text"]
