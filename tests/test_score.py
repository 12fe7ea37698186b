"""Scoring: hand-made cases for the notebook baseline, the statistics, the detector and their combination."""
import numpy as np
import pytest

from tilescan.errors import TilescanError
from tilescan.features import FEATURE_NAMES
from tilescan.ranks import percentile_rank, tail_fraction
from tilescan.score import (
    DETECTOR_WEIGHT,
    EVIDENCE,
    NO_ROWS,
    STAND_INS,
    TOP_SHARE,
    baseline_scores,
    check_method,
    combined_scores,
    detector_scores,
    knn_report,
    score_components,
    stand_in_rows,
    statistics_scores,
    text_evidence,
)

NAMES = list(FEATURE_NAMES)


def test_percentile_rank_ties_and_range():
    assert percentile_rank(np.array([0, 0, 5, 1])).tolist() == [0.375, 0.375, 1.0, 0.75]
    # the share of values at least as high: 5 -> 1/4, 1 -> 2/4, the tied zeros share 3/4 and 4/4
    assert tail_fraction(np.array([0, 0, 5, 1])).tolist() == [0.875, 0.875, 0.25, 0.5]


def test_baseline_with_queries_flags_neighbours_and_query_clusters():
    points = np.array([[0.0], [0.1], [5.0], [5.1], [9.0]])
    labels = np.array([-1, -1, 3, 3, -1])
    score, flagged = baseline_scores(points, labels, np.array([2]), np.array([[2, 3]]), min_samples=2)
    assert flagged.tolist() == [False, False, True, True, False]
    assert score[2] == 1.0 and score[3] > score[4] > score[0]


def test_baseline_without_queries_flags_noise():
    points = np.array([[0.0], [0.1], [0.2], [9.0]])
    score, flagged = baseline_scores(points, np.array([0, 0, 0, -1]), np.array([], dtype=int), np.zeros((0, 0), int), 2)
    assert flagged.tolist() == [False, False, False, True] and np.argmax(score) == 3


def _features(stroke_values):
    features = np.zeros((len(stroke_values), len(NAMES)), dtype=np.float32)
    for name in EVIDENCE:
        features[:, NAMES.index(name)] = stroke_values
    return features


def test_text_evidence_orders_by_stroke_statistics():
    evidence = text_evidence(_features([0.0, 0.3, 0.1, 0.9]), NAMES)
    assert np.argsort(evidence).tolist() == [0, 2, 1, 3]


def test_statistics_flag_counts_glyphs_in_a_row_not_a_share_of_the_dataset():
    features = _features(np.linspace(0, 1, 20))
    lines = NAMES.index("line_glyphs")
    features[:, lines] = 0
    score, flagged, _ = statistics_scores(features, NAMES, np.array([], dtype=int), min_line_glyphs=2, seed=0)
    # no tile holds a row of glyphs: nothing is flagged, though the top tiles rank near 1
    assert score[-1] == score.max() >= 0.8 and not flagged.any()
    features[[3, 10, 19], lines] = [2, 4, 3]
    assert np.flatnonzero(statistics_scores(features, NAMES, np.array([], dtype=int), 2, 0)[1]).tolist() == [3, 10, 19]
    assert np.flatnonzero(statistics_scores(features, NAMES, np.array([], dtype=int), 3, 0)[1]).tolist() == [10, 19]


def test_tilescan_queries_pull_similar_tiles_up():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, len(NAMES))).astype(np.float32)
    features[:, NAMES.index("stroke_components")] = np.abs(features[:, NAMES.index("stroke_components")])
    odd = NAMES.index("lbp_3")
    features[50:, odd] += 8.0  # ten tiles share an unusual statistic; two of them are queries
    plain, _, _ = statistics_scores(features, NAMES, np.array([], dtype=int), 2, 0)
    guided, _, _ = statistics_scores(features, NAMES, np.array([50, 51]), 2, 0)
    assert guided[52:].mean() > plain[52:].mean()
    assert statistics_scores(features, NAMES, np.array([50, 51]), 99, 0)[1][[50, 51]].all()  # queries always flagged
    assert np.all((guided >= 0) & (guided <= 1))


def test_detector_flag_is_a_probability_threshold_and_queries_are_flagged():
    probability = np.array([0.1, 0.49, 0.5, 0.9])
    score, flagged = detector_scores(probability, np.array([0]), 0.5)
    assert score.tolist() == probability.tolist() and flagged.tolist() == [True, False, True, True]


def test_combined_ranks_by_both_and_flags_by_values_not_percentiles():
    probability = np.array([0.9, 0.8, 0.1, 0.6])
    statistics = np.array([0.2, 0.9, 0.5, 0.7])
    evidence = np.array([0.7, 0.9, 1.0, 0.8])
    score, flagged = combined_scores(probability, statistics, evidence, np.array([], dtype=int), 0.75)
    # shares of tiles ranked at least as high: probability 1/4, 2/4, 4/4, 3/4; statistics 4/4, 1/4, 3/4, 2/4
    w = DETECTOR_WEIGHT
    tails = [(0.25, 1.0), (0.5, 0.25), (1.0, 0.75), (0.75, 0.5)]
    assert np.allclose(score, [1 - p ** w * s ** (1 - w) for p, s in tails])
    assert score[0] > score[3]  # equal weights would tie them: the detector weighs more than the statistics
    assert flagged.tolist() == [True, True, False, False]  # (p + evidence) / 2 = 0.8, 0.85, 0.55, 0.7
    # a dataset without lettering: the detector calls every tile clean, so nothing is flagged whatever the ranks
    clean = combined_scores(np.full(100, 0.05), np.linspace(0, 1, 100), np.linspace(0, 1, 100),
                            np.array([], dtype=int), 0.75)[1]
    assert not clean.any()


def test_combined_lets_the_very_top_of_one_method_count():
    """The detector's top tile, middling by the statistics (rank 0.3), outranks a tile both rank 0.8: the mean of
    ranks would put it below (2/3 + 0.3/3 = 0.77 < 0.8)."""
    order = np.arange(100, dtype=float)
    probability, statistics = order.copy(), order.copy()  # tile 79: rank 0.8 by both
    probability[[29, 99]] = probability[[99, 29]]          # tile 29: top of the detector, rank 0.3 by the statistics
    score = combined_scores(probability, statistics, statistics, np.array([], dtype=int), 0.75)[0]
    assert score[29] > score[79]


def test_combined_lets_the_top_of_learned_statistics_count_more():
    """Once the statistics have learned the user's lettering, a tile at the top of their similarity to it, ranked
    0.1 by the detector and 0.5 by the statistics, outranks a tile all three rank 0.85; before, it ranked far
    below. Flags do not change."""
    order = np.arange(100, dtype=float)
    probability, statistics, similarity = order / 100, order.copy(), order.copy()  # tile 84: rank 0.85 by all
    statistics[[9, 49]] = statistics[[49, 9]]      # tile 9: rank 0.1 by the detector, 0.5 by the statistics,
    similarity[[9, 99]] = similarity[[99, 9]]      # the top by the similarity
    evidence = np.linspace(0, 1, 100)
    no_queries = np.array([], dtype=int)
    plain, plain_flags = combined_scores(probability, statistics, evidence, no_queries, 0.75)
    learned, learned_flags = combined_scores(probability, statistics, evidence, no_queries, 0.75, similarity)
    assert plain[9] < plain[84] and learned[9] > learned[84]
    tail_p, tail_s, tail_q = 1 - order / 100, 1 - statistics / 100, 1 - similarity / 100
    geometric = tail_p ** DETECTOR_WEIGHT * tail_s ** (1 - DETECTOR_WEIGHT)
    smallest = np.minimum(np.minimum(tail_p, tail_s), tail_q)
    assert np.allclose(learned, 1 - smallest ** TOP_SHARE * geometric ** (1 - TOP_SHARE))
    assert np.array_equal(plain_flags, learned_flags)


def test_a_mostly_black_query_is_scored_and_flagged():
    """Every tile has a row, black ones included, with the components; a black query is flagged by every method."""
    n = 30
    rng = np.random.default_rng(1)
    features = _features(list(rng.uniform(0, 1, n)))
    black = np.zeros(n, int)
    black[[3, 7]] = 1
    thresholds = {"statistics": 99, "detector": 0.99, "combined": 0.99, "review": 0.94}
    for method in ("baseline", "statistics", "detector", "combined", "tilescan"):
        flagged, _, summary = knn_report(
            [f"t{i}" for i in range(n)], black, rng.normal(size=(n, 3)), np.zeros(n, np.int32), features, NAMES,
            np.full(n, 0.01), np.array([3]), method, 2, thresholds, min_samples=2, seed=0)
        assert flagged.columns.tolist() == ["id", "score", "flagged", "cluster", "dropped_black", "statistics",
                                            "evidence", "query_similarity", "detector"]
        assert sorted(flagged["id"]) == sorted(f"t{i}" for i in range(n))
        row = flagged.set_index("id").loc["t3"]
        assert row["flagged"] == 1 and row["dropped_black"] == 1
        assert summary["n_black"] == 2 and summary["method"] == ("statistics" if method == "tilescan" else method)


def test_knn_report_combines_with_the_top_share_from_queries_or_the_detectors_stand_ins():
    """With a query the statistics learn from it; without, the combined method's statistics learn from the
    detector's STAND_INS surest tiles instead (and the summary names them), while the statistics method stays
    free of the detector. Either way the combined score takes the smallest tail into account."""
    n = 40
    rng = np.random.default_rng(3)
    features = _features(list(rng.uniform(0, 1, n)))
    features[:, NAMES.index("stroke_components")] = rng.integers(0, 9, n)
    probability = rng.uniform(0, 1, n)
    ids = [f"t{i}" for i in range(n)]
    thresholds = {"statistics": 2, "detector": 0.5, "combined": 0.75, "review": 0.94}
    surest = np.argsort(-probability)[:STAND_INS]
    assert stand_in_rows(probability).tolist() == surest.tolist()
    assert stand_in_rows(probability, negatives=surest[:2]).tolist() == np.argsort(-probability)[2:7].tolist()

    def report(queries, method):
        return knn_report(ids, np.zeros(n, int), rng.normal(size=(n, 3)), np.zeros(n, np.int32), features, NAMES,
                          probability, queries, method, 2, thresholds, min_samples=2, seed=0)

    for queries, learned_from in ((np.array([5]), NO_ROWS), (NO_ROWS, surest)):
        flagged, _, summary = report(queries, "combined")
        assert summary["stand_in_tiles"] == [ids[row] for row in learned_from]
        score = flagged.set_index("id").loc[ids, "score"].to_numpy()
        parts, _ = score_components(features, NAMES, probability, queries, 2, seed=0, stand_ins=learned_from)
        expected, plain = (combined_scores(parts["detector"], parts["statistics"], parts["evidence"], queries, 0.75,
                                           similarity)[0] for similarity in (parts["query_similarity"], None))
        assert np.allclose(score, expected, atol=1e-6) and not np.allclose(score, plain, atol=1e-6)
    statistics_only, _, summary = report(NO_ROWS, "statistics")
    assert "query_similarity" not in statistics_only and summary["stand_in_tiles"] == []
    # reviewed lettering joins the stand-ins (it would join queries): the regression keeps its anchor
    reviewed = np.setdiff1d(np.arange(n), surest)[:5]
    flagged, _, summary = knn_report(ids, np.zeros(n, int), rng.normal(size=(n, 3)), np.zeros(n, np.int32), features,
                                     NAMES, probability, NO_ROWS, "combined", 2, thresholds, min_samples=2, seed=0,
                                     positives=reviewed)
    assert summary["stand_in_tiles"] == [ids[row] for row in surest]
    both = statistics_scores(features, NAMES, np.concatenate([surest, reviewed]), 2, seed=0)[0]
    alone = statistics_scores(features, NAMES, reviewed, 2, seed=0)[0]
    statistics = flagged.set_index("id").loc[ids, "statistics"].to_numpy()
    assert np.allclose(statistics, both, atol=1e-6) and not np.allclose(statistics, alone, atol=1e-6)
    # a query a reviewer marked 0 is no lettering to learn from: the stand-ins take its place
    query = np.setdiff1d(np.arange(n), surest)[:1]
    flagged, _, summary = knn_report(ids, np.zeros(n, int), rng.normal(size=(n, 3)), np.zeros(n, np.int32), features,
                                     NAMES, probability, query, "combined", 2, thresholds, min_samples=2, seed=0,
                                     negatives=query)
    assert summary["stand_in_tiles"] == [ids[row] for row in surest]
    expected = statistics_scores(features, NAMES, query, 2, seed=0, negatives=query, stand_ins=surest)[0]
    statistics = flagged.set_index("id").loc[ids, "statistics"].to_numpy()
    assert np.allclose(statistics, expected, atol=1e-6) and flagged.set_index("id").loc[ids[query[0]], "flagged"] == 0


def test_validation():
    with pytest.raises(TilescanError, match="knn_report.method"):
        check_method("magic")
    assert check_method("tilescan") == "statistics"


def test_missing_feature_names_are_named():
    with pytest.raises(TilescanError, match="re-run the features stage"):
        text_evidence(np.zeros((2, 2)), ["a", "b"])
