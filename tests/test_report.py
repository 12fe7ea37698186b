"""The HTML report builder on small hand-made inputs: every section present, every image embedded, no network,
the unsupervised and no-ground-truth cases, equal bytes on a rebuild, and the tile choices behind it."""
from __future__ import annotations

import base64
import io
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from tilescan import artifacts
from tilescan.artifacts import LOSS_FILES, METRICS_FILES
from tilescan.params import Report
from tilescan.report import ReportInputs, build_report
from tilescan.report.inputs import cluster_sample, cluster_sizes, flatten, spread, truth_frame

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ["flagged", "review", "truth", "neighbours", "map", "clusters", "reconstruction", "training", "dataset",
            "metrics"]
SIDE = 8


class Page(HTMLParser):
    """What a test needs from the page: section ids, image sources and alt texts, h3 texts, all text."""

    def __init__(self, text: str):
        super().__init__()
        self.sections, self.images, self.headings, self.text = [], [], [], []
        self._in_h3 = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs["id"])
        elif tag == "img":
            self.images.append((attrs["src"], attrs.get("alt", "")))
        elif tag == "h3":
            self._in_h3 = True
            self.headings.append("")

    def handle_endtag(self, tag):
        if tag == "h3":
            self._in_h3 = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_h3:
            self.headings[-1] += data

    def tile_ids(self) -> list[str]:
        return [alt.removeprefix("tile ") for _, alt in self.images if alt.startswith("tile ")]

    def heading(self, start: str) -> str:
        return next(h for h in self.headings if h.startswith(start))


def make_inputs(queries=("t3", "t25"), truth: bool = True, n: int = 40) -> ReportInputs:
    """40 tiles: t0-t29 train, t30-t39 val; cluster 0 = t0-t11, cluster 1 = t12-t19, the rest noise;
    score falls with position, t0-t4 flagged. Truth: t0, t1 (flagged), t5, t20, t35 (val) annotation;
    t2-t4 flagged without annotation. d0 (train) was unreadable (skipped by prepare) and is an annotation tile."""
    rng = np.random.default_rng(0)
    ids = [f"t{i}" for i in range(n)]
    tiles = rng.integers(0, 256, (n, SIDE, SIDE), dtype=np.uint8)
    labels = np.array([0] * 12 + [1] * 8 + [-1] * (n - 20), dtype=np.int32)
    score = np.linspace(1.0, 0.0, n).round(6)
    flagged = (np.arange(n) < 5).astype(int)
    query_rows = [ids.index(q) for q in queries]
    knn = pd.DataFrame([(q, rank, ids[(ids.index(q) + rank) % n], 0.5 * rank) for q in queries for rank in range(3)],
                       columns=["query", "rank", "neighbour", "distance"])
    metrics = {
        "prepare": {"format": "png_csv", "img_size": SIDE, "skipped_ids": [],
                    "splits": {"train": {"read": 31, "kept": 30, "dropped_black": 1, "skipped_unreadable": 1},
                               "val": {"read": 10, "kept": 10, "dropped_black": 0, "skipped_unreadable": 0}}},
        "train": {"loss": 0.6, "val_loss": 0.65, "epochs_run": 2},
        "detector": {"examples": 64, "loss": 0.5},
        "runtime": {"env": {"NPY_ENABLE_CPU_FEATURES": "X86_V3"}, "numpy": {"dispatch_enabled": ["X86_V3"]}},
        "dbscan": {"eps": 0.9, "n_clusters": 2, "largest_clusters": [12, 8], "query_clusters": {"t3": 0}},
        "knn_report": {"method": "baseline", "k": 3, "review_centre": 0.94},
        "quality": ({"labels_csv": "truth.csv", "split": "train", "average_precision": 0.5, "precision": 0.4,
                     "recall": 0.5, "f1": 0.444444, "recall_at_precision_0.9": 0.25, "n_tiles": 31,
                     "n_annotation": 4, "n_flagged": 5} if truth else {"labels_csv": None}),
        "export_clean": {"train": {"rows_in": 31, "rows_out": 25}},
    }
    annotated = {"t0", "t1", "t5", "t20", "t35", "d0"}
    return ReportInputs(
        ids=ids, splits=np.array(["train"] * 30 + ["val"] * (n - 30)), read_tile=lambda p: tiles[p],
        labels=labels, latents=rng.normal(size=(n, 4)).astype(np.float32),
        flagged=pd.DataFrame({"id": ids, "score": score, "flagged": flagged, "cluster": labels}),
        knn=knn if queries else knn.iloc[:0], queries=list(queries),
        reconstructions=255 - tiles[query_rows] if queries else np.zeros((0, SIDE, SIDE), np.uint8),
        query_errors=np.full(len(query_rows), 0.25, np.float32) if queries else np.zeros(0, np.float32),
        recon_error=np.where(np.arange(n) % 2, np.nan, 0.5),
        metrics={str(METRICS_FILES[k]): v for k, v in metrics.items()},
        train_loss=pd.DataFrame({"step": [0, 1], "loss": [0.7, 0.6]}),
        val_loss=pd.DataFrame({"step": [0, 1], "loss": [0.72, 0.65]}),
        truth=(pd.DataFrame({"id": ids + ["d0"], "annotation": [int(i in annotated) for i in ids + ["d0"]]})
               if truth else None),
        pr_curve=pd.DataFrame({"recall": [1.0, 0.5, 0.0], "precision": [0.1, 0.4, 1.0]}) if truth
        else pd.DataFrame(columns=["recall", "precision"]),
        dropped=pd.DataFrame({"id": ["d0"], "filename": ["d0.png"], "split": ["train"], "reason": ["unreadable"]}),
        settings=Report(clusters_shown=10, tiles_per_cluster=3, noise_tiles=4, top_flagged=6, borderline_tiles=9,
                        error_tiles=5, tile_px=128))


@pytest.fixture(scope="module")
def full_page() -> tuple[str, Page]:
    text = build_report(make_inputs())
    return text, Page(text)


def test_every_section_is_present_in_order(full_page):
    assert full_page[1].sections == SECTIONS


def test_every_image_is_an_embedded_png_and_nothing_is_fetched(full_page):
    text, page = full_page
    assert page.images
    for source, _ in page.images:
        assert source.startswith("data:image/png;base64,")
        Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))).verify()
    rest = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)
    # the review script is inline (no src) and its data is JSON; neither reaches out
    assert re.findall(r"<script[^>]*>", rest) == ['<script type="application/json" id="review-data">', "<script>"]
    for remote in ("http:", "https:", "//", "<script src", "<link", "@import", "url(", "<iframe", "fetch(",
                   "XMLHttpRequest", "WebSocket"):
        assert remote not in rest
    assert set(re.findall(r'href="(.)', rest)) <= {"#"}


def test_tiles_show_their_ids_and_scores(full_page):
    text, page = full_page
    shown = page.tile_ids()
    assert shown[:6] == ["t0", "t1", "t2", "t3", "t4", "t5"]  # the top_flagged gallery, highest score first
    assert "score 1.000 · #1" in text and "#1 · distance 0.500" in text and "query itself" in text
    assert text.count('class="tile flagged"') >= 5
    # query errors come from the report's own reconstruction; the mean only from the tiles encode measured
    assert "error 0.250" in text and "mean 0.500 over the 20 tiles encode measured" in text  # 20 of 40 not NaN


def test_edge_of_the_flag_when_the_top_gallery_ends_before_it():
    inputs = make_inputs()
    inputs = replace(inputs, settings=replace(inputs.settings, top_flagged=3, borderline_tiles=2))
    page = Page(build_report(inputs))
    assert page.tile_ids()[:7] == ["t0", "t1", "t2", "t3", "t4", "t5", "t6"]  # top 3, last 2 flagged, next 2
    assert page.heading("At the edge: the 2 lowest-scoring flagged")
    assert not any(h.startswith("At the edge") for h in Page(build_report(make_inputs())).headings)


def test_ground_truth_galleries_count_by_hand(full_page):
    text, page = full_page
    # flagged t0-t4; annotation t0, t1 among them -> t2, t3, t4 are false positives
    assert page.heading("False positives").startswith("False positives: 3 ")
    # train annotation tiles not flagged: t5, t20 shown, d0 skipped by prepare; t35 is val (not evaluated)
    assert page.heading("Missed").startswith("Missed: 3 annotation tiles")
    assert "2 are among the prepared tiles" in text and "1 were skipped by prepare (1 unreadable)" in text
    assert 'class="truth"' in text


def test_clusters_and_noise_galleries(full_page):
    _, page = full_page
    assert page.heading("Cluster 0").startswith("Cluster 0: 12 tiles")
    assert page.heading("Cluster 1").startswith("Cluster 1: 8 tiles")
    assert page.heading("Noise").startswith("Noise: 20 tiles")


def test_metrics_table_lists_every_file_flattened(full_page):
    text, _ = full_page
    for path in METRICS_FILES.values():
        assert str(path) in text
    assert "splits.train.dropped_black" in text and "query_clusters.t3" in text and "12, 8" in text


def test_no_queries_says_so_instead_of_failing():
    text = build_report(make_inputs(queries=()))
    page = Page(text)
    assert page.sections == SECTIONS
    assert text.count("knn_report.queries is empty") == 2  # neighbours and reconstructions
    assert "query itself" not in text


def test_no_ground_truth_says_so():
    text = build_report(make_inputs(truth=False))
    assert "No ground truth" in text and 'class="truth"' not in text
    assert not any(h.startswith(("False positives", "Missed")) for h in Page(text).headings)


def test_rebuild_gives_equal_bytes():
    assert build_report(make_inputs()) == build_report(make_inputs())


def test_larger_tiles_are_shrunk_to_tile_px():
    inputs = make_inputs()
    inputs = replace(inputs, settings=replace(inputs.settings, tile_px=4))
    sources = [s for s, alt in Page(build_report(inputs)).images if alt.startswith("tile ")]
    assert sources and {Image.open(io.BytesIO(base64.b64decode(s.split(",", 1)[1]))).size for s in sources} == {(4, 4)}


# --- the choices behind the galleries -------------------------------------------------------------

def test_spread_keeps_ends_and_order():
    assert spread(np.arange(10), 3).tolist() == [0, 4, 9]
    assert spread(np.arange(3), 5).tolist() == [0, 1, 2]


def test_cluster_sizes_largest_first_ties_by_label():
    sizes = cluster_sizes(np.array([2, 2, -1, 0, 0, 1, 1, 1, -1]))
    assert sizes.values.tolist() == [[1, 3], [0, 2], [2, 2]]


def test_cluster_sample_starts_at_the_member_nearest_the_centroid():
    latents = np.array([[1.0], [10.0], [4.9], [5.2], [99.0]])
    labels = np.array([0, 0, 0, 0, 1])
    assert cluster_sample(latents, labels, 0, 2).tolist() == [3, 1]  # centroid 5.275: 5.2 nearest, 10 farthest


def test_flatten_nests_dicts_keeps_lists():
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": None}) == [("a.b", 1), ("a.c.d", [1, 2]), ("e", None)]


def test_truth_frame_keeps_the_evaluated_split_in_score_order():
    frame = truth_frame(make_inputs(), "train")
    assert frame["id"].tolist() == [f"t{i}" for i in range(30)]
    assert frame["rank"].tolist() == list(range(1, 31))


# --- the stage declares what it reads -------------------------------------------------------------

def test_report_stage_deps_cover_every_file_it_reads():
    dvc_yaml = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    stages = dvc_yaml["stages"]
    declared_metrics = {next(iter(m)) if isinstance(m, dict) else m
                        for stage in stages.values() for m in stage.get("metrics", [])}
    assert {str(p) for p in METRICS_FILES.values()} == declared_metrics, "METRICS_FILES: every stage's metrics"
    deps = set(stages["report"]["deps"])
    reads = {*map(str, METRICS_FILES.values()), *map(str, LOSS_FILES.values()), str(artifacts.FLAGGED),
             "reports/knn.csv", "reports/pr_curve.csv", "data/prepared", "data/scaled/latents.npy",
             "data/clusters/labels.npy", "data/encoded/recon_error.npy", str(artifacts.MODEL_WEIGHTS)}
    assert reads <= deps, f"missing deps: {sorted(reads - deps)}"
    assert stages["report"]["outs"] == ["reports/index.html"]


def test_review_next_leaves_out_queries_and_reviewed_tiles_and_presets_verdicts():
    inputs = replace(make_inputs(), verdicts=pd.DataFrame({"id": ["t6"], "annotation": [0]}))
    inputs.metrics[str(METRICS_FILES["knn_report"])]["review_centre"] = 0.85
    text = build_report(inputs)
    review = text.split('<section id="review">')[1].split("</section>")[0]
    queued = re.findall(r'data-id="([^"]*)"', review)
    # scores fall 1/39 per tile: t6 (0.846) is nearest 0.85 but reviewed, so t5 (0.872) comes first
    assert queued[0] == "t5" and "t6" not in queued and "t3" not in queued and "t25" not in queued
    assert len(queued) == 24 and 'button type="button" data-verdict="1"' in review
    assert '"t6": {"annotation": 0, "reviewed_at": ""}' in text


def test_tile_ids_are_escaped_in_their_data_attribute():
    from tilescan.report.html import Tile, tile

    shown = tile(Tile("data:,", ('a"<&>\'x',)), review=True)
    assert 'data-id="a&quot;&lt;&amp;&gt;&#x27;x"' in shown
    assert "data-id" not in tile(Tile("data:,", ("plain",)))
