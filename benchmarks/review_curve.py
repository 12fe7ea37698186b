"""`make review-curve`: how fast verdicts improve the ranking -> metrics/review_curve.json.

Needs a finished `dvc repro` (data/prepared, data/features, data/scaled, data/clusters) and ground truth
(data.labels_csv). A simulated reviewer answers from the ground truth for the tiles of the "Review next" queue
(tilescan.review.review_queue), in rounds: 20 tiles, re-score, a new queue, up to 50, re-score, up to 100.
Re-scoring is the knn_report stage's own call (tilescan.score.knn_report with the verdicts as positives and
negatives), in-process. After each round: the average precision over the class-0 train tiles evaluate
scores (metrics/quality.json's definition), and over those not yet reviewed (a reviewed tile's label is
known and the score has learned from it, so the first figure flatters). Controls: the same rounds with tiles
drawn at random (mean of three draws), and the queue without the five query tiles.

With --retrain-detector (`make review-curve RETRAIN=1`, ~15 minutes on 2 cores) the queue's rounds also retrain
the detector on the verdicts, as the train_detector stage does on the next `dvc repro` (tilescan.detect.dataset),
and the file is metrics/review_curve_retrained.json; the random-order control keeps the pipeline's detector.
"""
from __future__ import annotations

import tilescan.pinned  # noqa: F401  (first: the stages' math pins, before NumPy/TF load; see tilescan/runtime.py)

# isort: split
import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tilescan import artifacts
from tilescan.cluster import query_positions
from tilescan.evaluate import evaluation_frame, load_ground_truth, quality
from tilescan.params import load_params
from tilescan.review import learned_positives, queue_centre, review_queue, verdict_rows
from tilescan.score import check_method, flag_thresholds, knn_report

ROUNDS = (20, 50, 100)
RANDOM_DRAWS = 3


class Scorer:
    """The knn_report stage's scoring on this workspace's artifacts, for any set of verdicts."""

    def __init__(self, params, retrain_detector: bool = False):
        self.params = params
        index = self.index = artifacts.load_index()
        self.ids = index["id"].tolist()
        self.points = artifacts.load_aligned(artifacts.SCALED_LATENTS, "scale", len(self.ids))
        self.labels = artifacts.load_aligned(artifacts.CLUSTER_LABELS, "dbscan", len(self.ids))
        self.features = artifacts.load_aligned(artifacts.FEATURES_ARRAY, "features", len(self.ids))
        self.names = artifacts.load_feature_names()
        self.black = index["black"].to_numpy()
        self.pipeline_probability = artifacts.load_aligned(artifacts.DETECTOR_PROBABILITY, "train_detector",
                                                           len(self.ids))
        self.keep_pipeline_detector(retrain_detector)
        scanned = pd.concat([index, artifacts.load_dropped()])
        self.train_ids = scanned.loc[scanned["split"] == "train", "id"].tolist()
        self.truth = load_ground_truth(Path(params.data.labels_csv))
        self.answer = dict(zip(self.truth["id"], self.truth["annotation"].astype(int)))

    def score(self, queries: list[str], reviewed: dict[str, int]) -> pd.DataFrame:
        verdicts = pd.DataFrame({"id": list(reviewed), "annotation": list(reviewed.values())})
        positives, negatives = verdict_rows(verdicts, self.ids)
        query_rows = query_positions(self.ids, queries)
        if self.retrain_detector:
            self.train_detector(learned_positives(query_rows, positives, negatives), negatives)
        knn = self.params.knn_report
        flagged, _, _ = knn_report(self.ids, self.black, self.points, self.labels, self.features, self.names,
                                   self.probability, query_rows, knn.method, knn.k, flag_thresholds(knn),
                                   self.params.dbscan.min_samples, self.params.common.seed, positives, negatives)
        return flagged

    def keep_pipeline_detector(self, retrain: bool = False) -> None:
        """Score with the pipeline's own detector (trained on the queries, no verdicts); with retrain, retrain it
        whenever the verdicts change what it would learn from."""
        self.retrain_detector = retrain
        self.probability = self.pipeline_probability
        self.trained_on = (tuple(query_positions(self.ids, list(self.params.knn_report.queries))), ())

    def train_detector(self, lettering_rows: np.ndarray, not_lettering_rows: np.ndarray) -> None:
        """Retrain the detector as the train_detector stage would on these known rows (unless it already was)."""
        from tilescan.detect.dataset import train_and_score

        wanted = (tuple(lettering_rows.tolist()), tuple(not_lettering_rows.tolist()))
        if wanted != self.trained_on:
            _, self.probability, _, _ = train_and_score(self.params, self.index, lettering_rows, not_lettering_rows)
            self.trained_on = wanted

    def measure(self, flagged: pd.DataFrame, reviewed: dict[str, int]) -> dict:
        frame = evaluation_frame(flagged, self.train_ids, self.truth)
        truth, score = frame["annotation"].to_numpy(), frame["score"].to_numpy()
        full = quality(truth, score, frame["flagged"].to_numpy())
        fresh = ~frame["id"].isin(set(reviewed)).to_numpy()
        unreviewed = quality(truth[fresh], score[fresh], frame["flagged"].to_numpy()[fresh])
        return {"reviewed": len(reviewed), "average_precision": full["average_precision"],
                "average_precision_unreviewed": unreviewed["average_precision"],
                "recall_at_precision_0.9": full["recall_at_precision_0.9"], "precision": full["precision"],
                "recall": full["recall"], "n_flagged": full["n_flagged"], "n_tiles": full["n_tiles"],
                "n_annotation": full["n_annotation"],
                "lettering_found": int(sum(reviewed.values()))}


def simulate(scorer: Scorer, queries: list[str], pick) -> list[dict]:
    """Rounds of review: pick(flagged, reviewed, n) names the next n tiles; the reviewer answers from the truth
    (a tile without ground truth counts as not lettering, as evaluate would)."""
    reviewed: dict[str, int] = {}
    flagged = scorer.score(queries, reviewed)
    points = [scorer.measure(flagged, reviewed)]
    for target in ROUNDS:
        for tile_id in pick(flagged, reviewed, target - len(reviewed)):
            reviewed[tile_id] = scorer.answer.get(tile_id, 0)
        flagged = scorer.score(queries, reviewed)
        points.append(scorer.measure(flagged, reviewed))
    return points


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=None, help="default: metrics/review_curve.json, "
                        "or metrics/review_curve_retrained.json with --retrain-detector")
    parser.add_argument("--retrain-detector", action="store_true",
                        help="retrain the detector on the verdicts after each round of the queue (slow)")
    args = parser.parse_args()
    out = args.out or f"metrics/review_curve{'_retrained' if args.retrain_detector else ''}.json"
    start = time.perf_counter()
    params = load_params()
    scorer = Scorer(params, args.retrain_detector)
    centre = queue_centre(check_method(params.knn_report.method), flag_thresholds(params.knn_report))
    queries = list(params.knn_report.queries)

    def from_queue(flagged, reviewed, n):
        return review_queue(flagged, centre, n, [*reviewed, *queries])["id"].tolist()

    def at_random(seed):
        rng = np.random.default_rng(seed)

        def pick(flagged, reviewed, n):
            pool = [tile_id for tile_id in flagged["id"] if tile_id not in reviewed and tile_id not in queries]
            return [pool[i] for i in rng.choice(len(pool), size=min(n, len(pool)), replace=False)]
        return pick

    queue = simulate(scorer, queries, from_queue)
    unsupervised = simulate(scorer, [], from_queue)
    scorer.keep_pipeline_detector()  # the random control keeps the pipeline's detector
    draws = [simulate(scorer, queries, at_random(params.common.seed + draw)) for draw in range(RANDOM_DRAWS)]
    random_mean = [{"reviewed": points[0]["reviewed"],
                    **{key: round(float(np.mean([p[key] for p in points])), 6)
                       for key in ("average_precision", "average_precision_unreviewed", "precision", "recall",
                                 "lettering_found")}}
                   for points in zip(*draws)]

    def by_reviewed(points):  # keyed, not listed: `dvc plots` draws every list of the file
        return {str(point["reviewed"]): point for point in points}

    result = {
        "curve": queue,  # the file's one list: what `dvc plots` draws (x reviewed, y average_precision)
        "baseline_queries": {"n_queries": len(queries), **queue[0]},
        "random_order_mean_of_3": by_reviewed(random_mean),
        "queue_without_queries": by_reviewed(unsupervised),
        "rounds": ",".join(map(str, ROUNDS)), "review_centre": centre, "method": params.knn_report.method,
        "labels_csv": params.data.labels_csv, "detector_retrained": args.retrain_detector,
        "note": ("AP over the class-0 train tiles (as metrics/quality.json) after each round of simulated review "
                 "from the Review-next queue; average_precision_unreviewed leaves out the reviewed tiles, whose "
                 "labels the score has learned from."),
        "seconds": round(time.perf_counter() - start, 1),
    }
    Path(out).write_text(json.dumps(result, indent=2) + "\n")
    for name, points in (("queue, 5 queries", queue), ("random, 5 queries", random_mean),
                         ("queue, no queries", unsupervised)):
        print(f"{name:>18}: " + "  ".join(f"{p['reviewed']:>3} -> AP {p['average_precision']:.3f} "
                                          f"(unreviewed {p['average_precision_unreviewed']:.3f})" for p in points))
    print(f"-> {out} ({result['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
