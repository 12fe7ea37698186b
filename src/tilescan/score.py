"""Turning image statistics, the lettering detector's probability (and latents, for the notebook's baseline)
into a per-tile annotation score and a flag. One function per method (`knn_report.method`):

- `baseline`: the notebook's latent kNN / DBSCAN noise (`baseline_scores`).
- `statistics`: burned-in lettering is made of bright, thin, high-contrast strokes in many orientations, grouped
  into words, which breast tissue, film edges and scattered dust are not. `text_evidence` ranks tiles by five
  such statistics (averaged percentile ranks, so no unit or scale needs tuning). With query tiles, a logistic
  regression on all image statistics learns what the known annotation tiles share, against the half of the
  tiles with the least evidence as negatives; its rank makes up a third of the score. Flag: at least
  `min_line_glyphs` letter-sized strokes in one row (`line_glyphs`, tilescan.text_lines): a count, not a rank of
  the dataset, so it assumes nothing about how many lettering tiles there are (`statistics_scores`).
- `detector`: the learned detector's probability (train_detector); flag: probability >= `detector_threshold`.
- `combined`: one minus the weighted geometric mean of two tail fractions, each the share of tiles that its
  method (detector probability, weight DETECTOR_WEIGHT; statistics score) ranks at least as high: a tile at the
  very top of either method ranks high even where the other is lukewarm (`combined_scores`). When the
  statistics have learned from known lettering (queries or reviewed tiles), half of that mean (TOP_SHARE) gives
  way to the smallest tail fraction of three: the detector's, the statistics' and their similarity to the known
  lettering's, so the very top of any of them counts more. Without query tiles, the detector's STAND_INS most
  confident tiles stand in for them (`stand_in_rows`; reviewed lettering joins them as it would join queries),
  so the statistics learn this dataset's lettering all the same; flag:
  (probability + text evidence) / 2 >= `combined_threshold`. Since text evidence <= 1, a tile the detector
  calls clean (p < 2 * threshold - 1) is never flagged, so a dataset without lettering gets (almost) nothing
  flagged however the ranks fall: the flag is not a percentile of the dataset.

Query tiles are always flagged, whatever the method; a reviewer's verdicts (tilescan.review) come last:
marked 1 always flagged, marked 0 never, and the statistics' logistic regression learns from both (without
query tiles, once review.MIN_REVIEWED_POSITIVES tiles are marked 1).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler

from tilescan import artifacts
from tilescan.cluster import NOISE, nearest_neighbours
from tilescan.errors import TilescanError
from tilescan.ranks import percentile_rank, tail_fraction
from tilescan.review import apply_verdicts, learned_positives, queue_centre

METHODS = ("baseline", "statistics", "detector", "combined")
ALIASES = {"tilescan": "statistics"}  # the statistics method's former name
EVIDENCE = ("stroke_fraction_high", "stroke_components", "orientation_entropy", "stroke_concentration", "line_glyphs")
QUERY_WEIGHT = 1 / 3  # share of the score that comes from similarity to the query tiles
# the detector's weight in the combined score: the statistics' fixed thresholds were tuned on the default synthetic
# set and film scans, the detector holds up on data nobody tuned it to (README, Results; docs/experiments.md)
DETECTOR_WEIGHT = 2 / 3
# with known lettering, the share of the combined score's tail that is the smallest tail of the detector, the
# statistics and the similarity to the known lettering: the very top of any of them is then trusted
# (docs/experiments.md)
TOP_SHARE = 1 / 2
# without query tiles, the combined score's statistics learn from the detector's this many most confident tiles
# (as many as the default queries): unsupervised cross-check AP 0.712 -> 0.821 (docs/experiments.md)
STAND_INS = 5
NO_ROWS = np.zeros(0, dtype=np.int64)


def flag_thresholds(settings) -> dict[str, float]:
    """The flag threshold of each method that has one (for statistics, the fewest glyphs in a row), and the
    review queue's centre ("review"), from params.yaml's knn_report section."""
    return {"statistics": settings.min_line_glyphs, "detector": settings.detector_threshold,
            "combined": settings.combined_threshold, "review": settings.review_centre}


def check_method(method: str) -> str:
    """The method's name (an alias resolved); an unknown one is a TilescanError."""
    method = ALIASES.get(method, method)
    if method not in METHODS:
        raise TilescanError(f"knn_report.method must be one of {', '.join(METHODS)}, got {method!r}")
    return method


# --- the notebook's method ---------------------------------------------------------------------------

def min_distance_to(points: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Each point's Euclidean distance to its nearest target."""
    distances, _ = NearestNeighbors(n_neighbors=1).fit(targets).kneighbors(points)
    return distances[:, 0]


def baseline_scores(points: np.ndarray, labels: np.ndarray, query_rows: np.ndarray, neighbour_rows: np.ndarray,
                    min_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """The notebook's method made explicit. With queries: score falls with the latent distance to the nearest
    query; flagged = the queries' k nearest neighbours plus members of any (non-noise) query cluster.
    Without queries: score rises with the DBSCAN core distance; flagged = DBSCAN noise."""
    if len(query_rows):
        score = 1.0 / (1.0 + min_distance_to(points, points[query_rows]))
        query_clusters = set(labels[query_rows].tolist()) - {NOISE}
        flagged = np.isin(labels, list(query_clusters))
        flagged[neighbour_rows.ravel()] = True
        return score, flagged
    k = min(max(min_samples, 2), len(points))
    core_distance = NearestNeighbors(n_neighbors=k).fit(points).kneighbors(points)[0][:, -1]
    return core_distance / (1.0 + core_distance), labels == NOISE


# --- statistics -------------------------------------------------------------------------------------------

def text_evidence(features: np.ndarray, names: list[str]) -> np.ndarray:
    """Mean percentile rank of the stroke statistics in EVIDENCE: high = looks like lettering."""
    missing = [name for name in EVIDENCE if name not in names]
    if missing:
        raise TilescanError(f"{artifacts.FEATURE_NAMES_FILE} lacks {', '.join(missing)}: re-run the features stage")
    return np.mean([percentile_rank(features[:, names.index(name)]) for name in EVIDENCE], axis=0)


def query_similarity(features: np.ndarray, evidence: np.ndarray, query_rows: np.ndarray, seed: int,
                     negative_rows: np.ndarray = NO_ROWS) -> np.ndarray:
    """Decision value of a logistic regression: query tiles (positive) against the half of all tiles with
    the least text evidence plus negative_rows (tiles a reviewer marked "not lettering"), on signed-log,
    standardised image statistics."""
    compressed = np.sign(features) * np.log1p(np.abs(features))  # tame heavy tails (fractions, counts)
    space = StandardScaler().fit_transform(compressed)
    negatives = np.union1d(np.flatnonzero(evidence <= np.median(evidence)), negative_rows)
    negatives = np.setdiff1d(negatives, query_rows)
    train = np.concatenate([query_rows, negatives])
    target = np.concatenate([np.ones(len(query_rows)), np.zeros(len(negatives))])
    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=5000, random_state=seed)
    return model.fit(space[train], target).decision_function(space)


def stand_in_rows(probability: np.ndarray, negatives: np.ndarray = NO_ROWS, n: int = STAND_INS) -> np.ndarray:
    """The n rows the detector is surest show lettering, leaving out the tiles a reviewer marked 0; highest
    probability first, ties by row."""
    order = np.argsort(-np.asarray(probability, np.float64), kind="stable")
    return order[~np.isin(order, negatives)][:n].astype(np.int64)


def statistics_scores(features: np.ndarray, names: list[str], query_rows: np.ndarray, min_line_glyphs: int,
                      seed: int, positives: np.ndarray = NO_ROWS, negatives: np.ndarray = NO_ROWS,
                      stand_ins: np.ndarray = NO_ROWS) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(score in [0, 1], flagged, components) for every tile; see the module docstring. Reviewed tiles
    (tilescan.review) join the logistic regression: positives as queries (without queries, only from
    review.MIN_REVIEWED_POSITIVES on), negatives as negatives. stand_ins: rows the regression learns from in
    place of query tiles (the detector's surest tiles, `stand_in_rows`), beside any reviewed positives: a
    regression fitted on the review queue's few, atypical lettering tiles alone ranked worse than chance.
    components: the parts the score mixes, each a per-tile array (reports/flagged.csv's extra columns)."""
    evidence = text_evidence(features, names)
    score, components = evidence, {"evidence": evidence}
    query_rows = np.asarray(query_rows, dtype=np.int64)
    learned_from = learned_positives(query_rows, positives, negatives)  # queries first: the same fit without verdicts
    stand_ins = np.asarray(stand_ins, dtype=np.int64)
    learned_from = np.concatenate([stand_ins[~np.isin(stand_ins, learned_from)], learned_from])
    if len(learned_from):
        similarity = percentile_rank(query_similarity(features, evidence, learned_from, seed, negatives))
        score = (1 - QUERY_WEIGHT) * evidence + QUERY_WEIGHT * similarity
        components["query_similarity"] = similarity
    flagged = features[:, names.index("line_glyphs")] >= min_line_glyphs
    return score, with_queries(flagged, query_rows), components



# --- the detector, alone and combined -----------------------------------------------------------------

def with_queries(flagged: np.ndarray, query_rows: np.ndarray) -> np.ndarray:
    """flagged with the query tiles set: the user says these show annotations."""
    flagged = np.asarray(flagged, dtype=bool).copy()
    flagged[query_rows] = True
    return flagged


def detector_scores(probability: np.ndarray, query_rows: np.ndarray, threshold: float
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(probability, probability >= threshold or query)."""
    return probability.astype(np.float64), with_queries(probability >= threshold, query_rows)


def combined_scores(probability: np.ndarray, statistics: np.ndarray, evidence: np.ndarray, query_rows: np.ndarray,
                    threshold: float, similarity: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(1 - tails, (probability + evidence) / 2 >= threshold or query), with tails = tail(probability) **
    DETECTOR_WEIGHT * tail(statistics) ** (1 - DETECTOR_WEIGHT). Tail fractions need no common scale, and their
    product (Fisher's way of combining p-values) lets either method's very top count: the mean of ranks ranked
    realdev's lettering worse (docs/experiments.md, "Combining the two"). With `similarity` (the statistics'
    query similarity, present once they learned known lettering): tails = min(tail(probability),
    tail(statistics), tail(similarity)) ** TOP_SHARE * tails ** (1 - TOP_SHARE). The flag uses values, which
    transfer across datasets."""
    tail_p, tail_s = tail_fraction(probability), tail_fraction(statistics)
    tails = tail_p ** DETECTOR_WEIGHT * tail_s ** (1 - DETECTOR_WEIGHT)
    if similarity is not None:
        smallest = np.minimum(np.minimum(tail_p, tail_s), tail_fraction(similarity))
        tails = smallest ** TOP_SHARE * tails ** (1 - TOP_SHARE)
    return 1.0 - tails, with_queries((probability + evidence) / 2 >= threshold, query_rows)


# --- the knn_report stage's tables -------------------------------------------------------------------

def score_components(features: np.ndarray, names: list[str], probability: np.ndarray, query_rows: np.ndarray,
                     min_line_glyphs: int, seed: int, positives: np.ndarray = NO_ROWS,
                     negatives: np.ndarray = NO_ROWS, stand_ins: np.ndarray = NO_ROWS
                     ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(components, the statistics' own flag): what the methods are made of, per tile, in flagged.csv's
    column order: statistics (score), evidence, query_similarity (with queries, reviewed lettering or
    stand-ins), detector (probability)."""
    statistics, statistics_flagged, parts = statistics_scores(features, names, query_rows, min_line_glyphs,
                                                              seed, positives, negatives, stand_ins)
    return {"statistics": statistics, **parts, "detector": np.asarray(probability, np.float64)}, statistics_flagged


def method_scores(method: str, components: dict[str, np.ndarray], statistics_flagged: np.ndarray,
                  points: np.ndarray, labels: np.ndarray, query_rows: np.ndarray, neighbour_rows: np.ndarray,
                  thresholds: dict[str, float], min_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """(score, flagged) of every tile by `method`, from the score components (score_components)."""
    if method == "baseline":
        return baseline_scores(points, labels, query_rows, neighbour_rows, min_samples)
    if method == "statistics":
        return components["statistics"], statistics_flagged
    if method == "detector":
        return detector_scores(components["detector"], query_rows, thresholds["detector"])
    return combined_scores(components["detector"], components["statistics"], components["evidence"],
                           query_rows, thresholds["combined"], components.get("query_similarity"))


def knn_report(ids: list[str], black: np.ndarray, points: np.ndarray, labels: np.ndarray, features: np.ndarray,
               names: list[str], probability: np.ndarray, query_rows: np.ndarray, method: str, k: int,
               thresholds: dict[str, float], min_samples: int, seed: int, positives: np.ndarray = NO_ROWS,
               negatives: np.ndarray = NO_ROWS) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(flagged, knn, summary): every tile's score and flag by `method` (id, score, flagged, cluster,
    dropped_black, then the score components; highest score first), each query's k nearest tiles in latent
    space (query, rank, neighbour, distance; the query itself first) and the stage's metrics. `thresholds`
    (flag_thresholds) holds the flag threshold of "statistics" (glyphs in a row), "detector" and "combined", and
    the review queue's centre ("review"). positives / negatives: rows a reviewer marked 1 / 0
    (tilescan.review): always / never flagged, and learned from by the statistics. For `combined`
    without query tiles (or with every one marked 0), the detector's surest tiles stand in for them
    (stand_in_rows; the statistics method stays the detector-free rule)."""
    method = check_method(method)
    distances, neighbours = (nearest_neighbours(points, query_rows, k) if len(query_rows)
                             else (np.zeros((0, 0)), np.zeros((0, 0), dtype=np.int64)))
    # stand-ins whenever no query tile is left as lettering: none given, or a reviewer marked them all 0
    user_queries = np.setdiff1d(query_rows, negatives)
    stand_ins = stand_in_rows(probability, negatives) if method == "combined" and not len(user_queries) else NO_ROWS
    components, statistics_flagged = score_components(features, names, probability, query_rows,
                                                      thresholds["statistics"], seed, positives, negatives,
                                                      stand_ins)
    score, flagged = method_scores(method, components, statistics_flagged, points, labels, query_rows, neighbours,
                                   thresholds, min_samples)
    flagged = apply_verdicts(flagged, positives, negatives)
    flagged_frame = pd.DataFrame({"id": ids, "score": np.round(score, 6), "flagged": flagged.astype(int),
                                  "cluster": labels, "dropped_black": np.asarray(black, dtype=int),
                                  **{name: np.round(values, 6) for name, values in components.items()}})
    flagged_frame = flagged_frame.sort_values(["score", "id"], ascending=[False, True], kind="stable")
    # distances unrounded (the grid's titles round them); the CSV keeps 6 decimals
    knn = pd.DataFrame([(ids[q], rank, ids[n], float(d))
                        for q, row_n, row_d in zip(query_rows, neighbours, distances)
                        for rank, (n, d) in enumerate(zip(row_n, row_d))],
                       columns=["query", "rank", "neighbour", "distance"])
    summary = {"method": method, "k": int(k), "n_queries": int(len(query_rows)), "n_tiles": len(ids),
               "n_flagged": int(flagged.sum()), "n_black": int(np.sum(black)),
               "flag_threshold": None if method == "baseline" else thresholds[method],
               "review_centre": queue_centre(method, thresholds),
               "n_reviewed_lettering": int(len(positives)), "n_reviewed_not_lettering": int(len(negatives)),
               "stand_in_tiles": [ids[row] for row in stand_ins],
               "queries_self_first": bool(all(row[0] == q for q, row in zip(query_rows, neighbours)))}
    return flagged_frame, knn, summary
