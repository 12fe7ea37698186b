"""reports/index.html from a real (tiny) pipeline run, opened from disk in headless Chromium: every image
loads, nothing is fetched from anywhere, no console error. Screenshots go to test-artifacts/ (git-ignored).

Chromium is the Debian package (`apt-get install chromium`; .ci/run installs it), driven by Playwright
without its own browser download. Missing locally: skipped with the reason; missing under CI: a failure."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
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


# ---- review in the browser: verdicts in, verdicts.csv out, and into the next run -------------------------

def open_report(browser, report: Path):
    """A fresh browser context (its own localStorage) showing report; the list that collects page errors and
    requests for anything but the file itself (blob: downloads excepted)."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.route("**/*", lambda route: route.continue_() if route.request.url == report.as_uri()
               else (problems.append(route.request.url), route.abort()))
    page.goto(report.as_uri(), wait_until="load")
    return context, page, problems


def css_id(tile_id: str) -> str:
    return 'figure.tile[data-id="' + tile_id.replace("\\", "\\\\").replace('"', '\\"') + '"]'


def marks(page) -> dict[str, int]:
    """id -> the verdict the page shows on it (0 or 1), for every reviewable tile that has one."""
    shown = page.eval_on_selector_all("figure.tile[data-id]", "els => els.map(e => [e.dataset.id, "
                                      "e.classList.contains('verdict-1') ? 1 : e.classList.contains('verdict-0') ? 0 "
                                      ": null])")
    return {tile_id: mark for tile_id, mark in shown if mark is not None}


def focused(page) -> str | None:
    return page.evaluate("document.activeElement && document.activeElement.dataset.id || null")


def download_verdicts(page, dest: Path) -> pd.DataFrame:
    with page.expect_download() as download:
        page.click("#review-download")
    assert download.value.suggested_filename == "verdicts.csv"
    download.value.save_as(dest)
    return pd.read_csv(dest, dtype=str, keep_default_na=False, na_filter=False)


@pytest.mark.slow
def test_review_in_the_browser_feeds_the_next_run(pipeline_repo, browser, tmp_path):
    repo = tmp_path / "review"
    shutil.copytree(pipeline_repo, repo, symlinks=True)
    queries = set(yaml.safe_load((repo / "params.yaml").read_text())["knn_report"]["queries"])
    before = pd.read_csv(repo / "reports/flagged.csv", dtype={"id": str}).set_index("id")["flagged"]
    context, page, problems = open_report(browser, repo / "reports/index.html")
    order = page.eval_on_selector_all("figure.tile[data-id]", "els => els.map(e => e.dataset.id)")
    assert page.locator("#review figure.tile[data-id]").count() > 0, "the Review next gallery is empty"
    candidates = [tile_id for i, tile_id in enumerate(order) if i + 1 < len(order)]
    # flagged tiles to mark "not lettering": in the tiny set these are the query tiles, which a verdict of 0
    # un-flags too
    flagged = list(dict.fromkeys(t for t in candidates if before[t] == 1))
    unflagged = list(dict.fromkeys(t for t in candidates if before[t] == 0 and t not in queries))
    assert len(flagged) >= 2 and len(unflagged) >= 3, (flagged, unflagged)
    a, d, e = unflagged[:3]
    b, c = flagged[:2]

    # the mouse: A is lettering, B is not
    page.click(f"{css_id(a)} >> button[data-verdict='1']")
    page.click(f"{css_id(b)} >> button[data-verdict='0']")
    # the keyboard: arrows move between tiles, n / y decide, u undoes the last verdict
    position = order.index(c)
    page.click(f"{css_id(c)} >> img")
    assert focused(page) == c
    page.keyboard.press("ArrowRight")
    assert focused(page) == order[position + 1]
    page.keyboard.press("ArrowLeft")
    assert focused(page) == c
    # positions in the document, not the viewport: moving the focus may scroll the page
    top = page.evaluate("document.activeElement.getBoundingClientRect().top + window.scrollY")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.getBoundingClientRect().top + window.scrollY") > top
    page.keyboard.press("ArrowUp")
    page.click(f"{css_id(c)} >> img")
    page.keyboard.press("n")                       # C: not lettering; the focus moves on
    assert focused(page) == order[position + 1]
    page.click(f"{css_id(d)} >> img")
    page.keyboard.press("y")                       # D: lettering ...
    assert marks(page).get(d) == 1
    page.keyboard.press("u")                       # ... undone
    assert d not in marks(page)
    page.click(f"{css_id(e)} >> img")
    page.keyboard.press("y")                       # E: lettering
    expected = {a: 1, b: 0, c: 0, e: 1}
    assert marks(page) == expected
    counter = "4 reviewed (2 lettering, 2 not lettering)"
    assert page.inner_text("#review-count") == counter

    page.reload(wait_until="load")                 # kept in localStorage
    assert marks(page) == expected and page.inner_text("#review-count") == counter
    rows = download_verdicts(page, tmp_path / "verdicts.csv")
    assert rows.columns.tolist() == ["id", "annotation", "reviewed_at"]
    assert dict(zip(rows["id"], rows["annotation"].astype(int))) == expected
    assert pd.to_datetime(rows["reviewed_at"], utc=True).notna().all()
    assert problems == [], problems
    context.close()

    # a new browser (no localStorage) loads the file back
    context, page, problems = open_report(browser, repo / "reports/index.html")
    assert marks(page) == {} and page.inner_text("#review-count").startswith("0 reviewed")
    page.set_input_files("#review-load", str(tmp_path / "verdicts.csv"))
    page.wait_for_function(f"document.getElementById('review-count').textContent === {counter!r}")
    assert marks(page) == expected and problems == []
    context.close()

    # the next run learns from them: lettering flagged, not lettering never
    (repo / "verdicts").mkdir(exist_ok=True)
    shutil.copy(tmp_path / "verdicts.csv", repo / "verdicts/verdicts.csv")
    set_params(repo, {"review.verdicts": "verdicts/verdicts.csv"})
    dvc("repro", cwd=repo)
    after = pd.read_csv(repo / "reports/flagged.csv", dtype={"id": str}).set_index("id")["flagged"]
    assert [before[t] for t in expected] == [0, 1, 1, 0]
    assert [after[t] for t in expected] == [1, 0, 0, 1]
    # the new report starts from those verdicts and leaves them out of Review next
    context, page, problems = open_report(browser, repo / "reports/index.html")
    assert marks(page) == expected
    queued = page.eval_on_selector_all("#review figure.tile[data-id]", "els => els.map(e => e.dataset.id)")
    assert queued and not set(queued) & set(expected) and problems == []
    context.close()


def test_verdicts_csv_quotes_any_id(browser, tmp_path):
    """Ids with commas, quotes, $, unicode and HTML survive the page and the CSV, and load_verdicts reads
    them back exactly (a page built from html.py's parts; no pipeline needed)."""
    from tilescan.report.figures import tile_uri
    from tilescan.report.html import Tile, gallery
    from tilescan.report.html import page as html_page
    from tilescan.report.verdicts import script, toolbar
    from tilescan.review import load_verdicts

    ids = ['say "cheese", $HOME', "naïve ✓ 0053", "NA", "</script><b>x</b> & co", "c1"]
    pixel = tile_uri(np.full((8, 8), 200, np.uint8), 16)
    body = gallery([Tile(pixel, (tile_id, "caption")) for tile_id in ids], review=True)
    report = tmp_path / "index.html"
    report.write_text(html_page("t", "s", "", [("review", "Review next", body)], toolbar(), script(ids, None)),
                      encoding="utf-8")
    context, page, problems = open_report(browser, report)
    assert page.eval_on_selector_all("figure.tile[data-id]", "els => els.map(e => e.dataset.id)") == ids
    for i, tile_id in enumerate(ids[:4]):
        page.click(f"{css_id(tile_id)} >> button[data-verdict='{i % 2}']")
    rows = download_verdicts(page, tmp_path / "verdicts.csv")
    assert problems == []
    context.close()
    assert rows["id"].tolist() == ids[:4]
    verdicts = load_verdicts(tmp_path / "verdicts.csv", ids)
    assert dict(zip(verdicts["id"], verdicts["annotation"])) == {tile_id: i % 2 for i, tile_id in enumerate(ids[:4])}
