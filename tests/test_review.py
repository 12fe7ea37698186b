"""Verdicts: the loader's contract (exact-string ids, one-line errors), how verdicts enter the score, and the
review queue."""
import json

import numpy as np
import pandas as pd
import pytest

from helpers import make_workdir, refused, set_params, succeeded, write_clusters, write_latents, write_prepared
from tilescan.errors import TilescanError
from tilescan.features import FEATURE_NAMES
from tilescan.review import (
    MIN_REVIEWED_POSITIVES,
    apply_verdicts,
    disagreement,
    learned_positives,
    load_verdicts,
    queue_centre,
    review_queue,
    verdict_rows,
)
from tilescan.score import EVIDENCE, knn_report, statistics_scores

NAMES = list(FEATURE_NAMES)
ODD_IDS = ["NA", "0053", 'say "cheese", $HOME', "naïve ✓", "c1", ""]


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


# ---- loading --------------------------------------------------------------------------------------

def test_ids_survive_as_exact_strings(tmp_path):
    frame = pd.DataFrame({"id": ODD_IDS + ["NA"], "annotation": [1, 0, 1, 0, 1, 0, 1],
                          "reviewed_at": ["2024-01-01T00:00:00Z"] * 7})
    frame.to_csv(tmp_path / "v.csv", index=False)  # pandas quotes the id with a comma and quotes
    verdicts = load_verdicts(tmp_path / "v.csv", ODD_IDS)
    assert verdicts["id"].tolist() == ODD_IDS  # the identical duplicate "NA",1 collapses
    assert verdicts["annotation"].tolist() == [1, 0, 1, 0, 1, 0]


def test_header_only_file_is_no_verdicts_and_a_bom_is_accepted(tmp_path):
    assert load_verdicts(write(tmp_path / "v.csv", "id,annotation,reviewed_at\n"), ["c1"]).empty
    assert load_verdicts(write(tmp_path / "b.csv", "\ufeffid,annotation\nc1,1\n"), ["c1"])["id"].tolist() == ["c1"]


@pytest.mark.parametrize("content, message", [
    ("id,annotation\nc1,1\nc9999,0\n", "unknown tile id 'c9999'"),
    ("id,annotation\nc1,2\n", "annotation must be 0 or 1, got '2' for id 'c1' (row 2)"),
    ("id,annotation\nc1,yes\n", "annotation must be 0 or 1, got 'yes'"),
    ("id,annotation\nc1,\n", "annotation must be 0 or 1, got ''"),
    ("id,annotation\nc1,1\nc2,0\nc1,0\n", "conflicting verdicts for id 'c1'"),
    ("id,verdict\nc1,1\n", "missing column(s) annotation"),
    ("tile,annotation\nc1,1\n", "missing column(s) id"),
    ("", "the verdicts file is empty"),
    ("  \n\n", "the verdicts file is empty"),
    ('id,annotation\n"c1,1\n', "not a readable CSV"),
    (b"id,annotation\n\xff\xfe,1\n", "not UTF-8 text"),
])
def test_bad_verdict_files_are_one_line_errors(tmp_path, content, message):
    path = write(tmp_path / "verdicts.csv", content)
    with pytest.raises(TilescanError) as error:
        load_verdicts(path, ["c1", "c2"])
    assert message in str(error.value) and str(path) in str(error.value)
    assert "\n" not in str(error.value)


def test_a_missing_file_names_the_parameter(tmp_path):
    with pytest.raises(TilescanError, match="review.verdicts: .*nope.csv does not exist"):
        load_verdicts(tmp_path / "nope.csv", ["c1"])


def test_verdict_rows_and_flags():
    verdicts = pd.DataFrame({"id": ["b", "gone", "d", "a"], "annotation": [1, 1, 0, 0]})
    positives, negatives = verdict_rows(verdicts, ["a", "b", "c", "d"])  # "gone": dropped by prepare
    assert positives.tolist() == [1] and negatives.tolist() == [0, 3]
    flags = apply_verdicts(np.array([True, False, True, True]), positives, negatives)
    assert flags.tolist() == [False, True, True, False]


def test_learned_positives_follow_the_queries_and_wait_for_five_reviewed_without_them():
    queries, none = np.array([7, 3]), np.zeros(0, np.int64)
    assert learned_positives(queries, np.array([9, 3]), none).tolist() == [7, 3, 9]  # queries first, in order
    assert learned_positives(queries, np.array([9]), np.array([7])).tolist() == [3, 9]  # a query marked 0 leaves
    assert learned_positives(none, np.arange(4), none).tolist() == []
    assert learned_positives(none, np.arange(MIN_REVIEWED_POSITIVES), none).tolist() == list(
        range(MIN_REVIEWED_POSITIVES))


# ---- the scoring hook -----------------------------------------------------------------------------

def _features(n=80, seed=0):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, len(NAMES))).astype(np.float32)
    features[:, NAMES.index("stroke_components")] = np.abs(features[:, NAMES.index("stroke_components")]) + 0.1
    features[60:, NAMES.index("lbp_3")] += 8.0  # twenty tiles share an unusual statistic
    features[:, NAMES.index("line_glyphs")] = rng.integers(0, 4, n)  # glyphs in the longest row
    return features


def test_reviewed_positives_teach_the_query_part_from_five_on_without_queries():
    features, none = _features(), np.zeros(0, np.int64)
    plain, _, plain_parts = statistics_scores(features, NAMES, none, 2, 0)
    four, _, four_parts = statistics_scores(features, NAMES, none, 2, 0, positives=np.arange(60, 64))
    assert np.array_equal(four, plain) and set(four_parts) == {"evidence"}  # too few to learn from: evidence alone
    taught, _, parts = statistics_scores(features, NAMES, none, 2, 0, positives=np.arange(60, 65))
    assert "query_similarity" not in plain_parts and set(parts) == {"evidence", "query_similarity"}
    assert np.array_equal(parts["evidence"], plain_parts["evidence"])  # verdicts touch only the learned part
    assert taught[65:].mean() > plain[65:].mean()


def test_with_a_query_one_reviewed_positive_is_learned_from():
    features, query = _features(), np.array([60])
    alone, _, _ = statistics_scores(features, NAMES, query, 2, 0)
    taught, _, _ = statistics_scores(features, NAMES, query, 2, 0, positives=np.array([61]))
    assert not np.array_equal(alone, taught)


def test_negatives_push_back_on_the_tiles_like_them():
    features = _features()
    for name in ("lbp_5", "lbp_6", "lbp_7"):  # ten of the odd tiles differ from the other ten ...
        features[70:, NAMES.index(name)] += 8.0
    for name in EVIDENCE:  # ... and all twenty look like lettering, so none is an automatic negative
        features[60:, NAMES.index(name)] += 3.0
    positives, none = np.arange(60, 65), np.zeros(0, np.int64)
    _, _, taught = statistics_scores(features, NAMES, none, 2, 0, positives=positives)
    _, _, mixed = statistics_scores(features, NAMES, none, 2, 0, positives=positives, negatives=np.arange(70, 75))
    like_negatives, like_positives = slice(75, 80), slice(65, 70)
    assert mixed["query_similarity"][like_negatives].mean() < taught["query_similarity"][like_negatives].mean()
    assert mixed["query_similarity"][like_negatives].mean() < mixed["query_similarity"][like_positives].mean()


def _knn_report(features, positives=(), negatives=(), queries=(), min_line_glyphs=2):
    n = len(features)
    points = np.random.default_rng(1).normal(size=(n, 3))
    thresholds = {"statistics": min_line_glyphs, "detector": 0.5, "combined": 0.75, "review": 0.94}
    return knn_report([f"t{i}" for i in range(n)], np.zeros(n, int), points, np.zeros(n, int), features, NAMES,
                      np.full(n, 0.1), np.array(queries, np.int64), "tilescan", 2, thresholds, 2, 0,
                      positives=np.array(positives, np.int64), negatives=np.array(negatives, np.int64))


def test_marked_tiles_are_always_and_never_flagged():
    features = _features()
    before = _knn_report(features, queries=[60])[0].set_index("id")["flagged"]
    low = before[before == 0].index[0]      # a tile nobody flags
    high = before[before == 1].index[-1]    # a flagged tile ...
    query = "t60"                           # ... and a query tile, which is otherwise always flagged
    flagged, _, summary = _knn_report(features, positives=[int(low[1:])], negatives=[int(high[1:]), 60],
                                      queries=[60])
    after = flagged.set_index("id")["flagged"]
    assert after[low] == 1 and after[high] == 0 and after[query] == 0
    assert summary["n_reviewed_lettering"] == 1 and summary["n_reviewed_not_lettering"] == 2
    # the only query is marked 0 and one tile 1: too few to learn from, so no query_similarity column
    assert flagged.columns.tolist() == ["id", "score", "flagged", "cluster", "dropped_black", "statistics", "evidence",
                                        "detector"]


# ---- the review queue -----------------------------------------------------------------------------

def _flagged(scores, **components):
    frame = pd.DataFrame({"id": [f"t{i}" for i in range(len(scores))], "score": scores,
                          "flagged": (np.asarray(scores) >= 0.9).astype(int), "cluster": 0, **components})
    return frame.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)


def test_queue_without_components_is_nearest_the_threshold_first():
    frame = _flagged([0.99, 0.91, 0.5, 0.88, 0.2, 0.9])
    queue = review_queue(frame, 0.9, 3)
    assert queue["id"].tolist() == ["t5", "t1", "t3"]
    assert (queue["reason"] == "near the threshold").all()
    assert review_queue(frame, 0.9, 3, reviewed=["t5", "t1"])["id"].tolist() == ["t3", "t0", "t2"]
    assert len(review_queue(frame, 0.9, 50)) == 6


def test_queue_centre_is_a_score_level_of_the_method_and_knn_report_records_it():
    """The combined flag is a threshold on (p + evidence) / 2, not on the score: the queue centres on
    knn_report.review_centre there (as make review-curve simulates), on the probability's threshold for the
    detector, and the stage writes the centre for the report."""
    thresholds = {"statistics": 2, "detector": 0.5, "combined": 0.75, "review": 0.94}
    assert [queue_centre(m, thresholds) for m in ("combined", "statistics", "baseline", "detector")] == [
        0.94, 0.94, 0.94, 0.5]
    n = 12
    features = np.zeros((n, len(NAMES)), np.float32)
    for name in EVIDENCE:
        features[:, NAMES.index(name)] = np.linspace(0, 1, n)
    for method, centre in (("combined", 0.94), ("detector", 0.5)):
        summary = knn_report([f"t{i}" for i in range(n)], np.zeros(n, int), np.zeros((n, 2)), np.zeros(n, np.int32),
                             features, NAMES, np.linspace(0, 1, n), np.zeros(0, np.int64), method, 2, thresholds,
                             min_samples=2, seed=0)[2]
        assert summary["review_centre"] == centre and summary["flag_threshold"] == thresholds[method]


def test_queue_alternates_with_the_tiles_whose_components_disagree():
    # t4 scores far from the threshold, but its two components say opposite things
    frame = _flagged([0.95, 0.91, 0.6, 0.3, 0.5],
                     evidence=[0.9, 0.9, 0.6, 0.3, 0.95], query_similarity=[0.9, 0.9, 0.6, 0.3, 0.05],
                     label=["x"] * 5)  # a text column is not a component
    assert disagreement(frame).max() == pytest.approx(disagreement(frame)[frame["id"] == "t4"][0])
    queue = review_queue(frame, 0.9, 3)
    assert queue["id"].tolist()[:2] == ["t1", "t4"]
    assert queue["reason"].tolist()[:2] == ["near the threshold", "components disagree"]
    assert queue["id"].is_unique
    # any extra numeric column counts as a component: a third one joins without code changes
    agreeing = frame.set_index("id").loc[frame["id"], "evidence"].to_numpy()
    wider = frame.assign(query_similarity=agreeing,  # evidence and query part now agree everywhere ...
                         detector=frame["id"].map({"t0": 0.9, "t1": 0.9, "t2": 0.6, "t3": 0.99, "t4": 0.96}))
    assert review_queue(wider, 0.9, 2)["id"].tolist() == ["t1", "t3"]  # ... and the detector contradicts t3


# ---- the stage ------------------------------------------------------------------------------------

@pytest.fixture
def scored_work(tmp_path):
    work = make_workdir(tmp_path / "work")
    ids = write_prepared(work)
    write_latents(work, "data/scaled", len(ids))
    write_clusters(work, len(ids))
    (work / "verdicts").mkdir()
    return work, ids


def test_knn_report_refuses_a_bad_verdicts_file(scored_work):
    work, ids = scored_work
    write(work / "verdicts/verdicts.csv", f"id,annotation\n{ids[0]},1\nc9999,0\n")
    set_params(work, {"review.verdicts": "verdicts/verdicts.csv"})
    refused(work, "knn_report", "verdicts/verdicts.csv", "unknown tile id 'c9999'")
    write(work / "verdicts/verdicts.csv", f"id,annotation\n{ids[0]},1\n{ids[0]},0\n")
    refused(work, "knn_report", "verdicts/verdicts.csv", f"conflicting verdicts for id '{ids[0]}'")


def test_knn_report_writes_components_and_obeys_verdicts(scored_work):
    work, ids = scored_work
    # five tiles marked lettering: without queries, the regression learns from five on (review.MIN_REVIEWED_POSITIVES)
    marked = "".join(f"{tile},1,\n" for tile in ids[3:7])
    write(work / "verdicts/verdicts.csv", f'id,annotation,reviewed_at\n"{ids[1]}",1,""\n{ids[2]},0,\n{marked}')
    set_params(work, {"review.verdicts": "verdicts/verdicts.csv", "knn_report.combined_threshold": 0.0})
    succeeded(work, "knn_report")
    flagged = pd.read_csv(work / "reports/flagged.csv", dtype={"id": str}).set_index("id")
    assert flagged.columns.tolist()[:3] == ["score", "flagged", "cluster"]
    assert {"evidence", "query_similarity"} <= set(flagged.columns)
    assert flagged.loc[ids[1], "flagged"] == 1 and flagged.loc[ids[2], "flagged"] == 0


def test_quality_over_reviewed_tiles_counts_them_and_says_they_are_no_sample():
    from tilescan.evaluate import evaluation_frame, reviewed_quality

    flagged = pd.DataFrame({"id": ["a", "b", "c", "d"], "score": [0.9, 0.8, 0.3, 0.1], "flagged": [1, 1, 0, 0],
                            "cluster": 0})
    verdicts = pd.DataFrame({"id": ["a", "c", "d"], "annotation": [1, 1, 0]})
    reviewed = reviewed_quality(evaluation_frame(flagged, ["a", "b", "c", "d"], verdicts))
    assert (reviewed["n_reviewed"], reviewed["n_lettering"], reviewed["n_not_lettering"]) == (3, 2, 1)
    assert reviewed["average_precision"] == 1.0 and "not an unbiased sample" in reviewed["note"]
    only_ones = reviewed_quality(evaluation_frame(flagged, ["a"], verdicts))
    assert only_ones["average_precision"] is None and only_ones["n_reviewed"] == 1


def test_evaluate_without_ground_truth_measures_the_reviewed_tiles(scored_work):
    work, ids = scored_work
    (work / "reports").mkdir()
    pd.DataFrame({"id": ids, "score": np.linspace(1, 0, len(ids)), "flagged": [1, 1] + [0] * (len(ids) - 2),
                  "cluster": 0}).to_csv(work / "reports/flagged.csv", index=False)
    write(work / "verdicts/verdicts.csv", f"id,annotation\n{ids[0]},1\n{ids[4]},1\n{ids[1]},0\n")
    set_params(work, {"review.verdicts": "verdicts/verdicts.csv", "data.labels_csv": ""})
    succeeded(work, "evaluate")
    quality = json.loads((work / "metrics/quality.json").read_text())
    assert quality["labels_csv"] is None
    reviewed = quality["reviewed"]
    assert (reviewed["n_reviewed"], reviewed["n_lettering"], reviewed["n_not_lettering"]) == (3, 2, 1)
    assert reviewed["average_precision"] == pytest.approx(0.833333) and "not an unbiased sample" in reviewed["note"]
    write(work / "verdicts/verdicts.csv", "id,annotation\nnot-a-tile,1\n")
    refused(work, "evaluate", "verdicts/verdicts.csv", "unknown tile id 'not-a-tile'")
