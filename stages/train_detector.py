"""Stage train_detector: train the lettering detector on the class-0 train tiles (self-supervised: synthetic
lettering composited onto a seeded sample of them; query tiles and reviewed lettering as extra positives, tiles
reviewed as not lettering as extra negatives; with train_detector.pseudo_positives, a second training adds the
first detector's surest tiles to the positives), then the lettering probability of every prepared tile
(tilescan.detect.dataset)."""
import tilescan.pinned  # noqa: F401  (first: pins the math before NumPy/TF load; see tilescan/runtime.py)

# isort: split
import numpy as np

from tilescan import artifacts
from tilescan.atomic import staged_outputs
from tilescan.cluster import query_positions
from tilescan.detect.dataset import train_and_score
from tilescan.params import Params
from tilescan.review import learned_positives, reviewed_rows
from tilescan.stage import query_source, run_stage


def main(params: Params) -> str:
    index = artifacts.load_index()
    ids = index["id"].tolist()
    query_rows = query_positions(ids, list(params.knn_report.queries), query_source(params))
    lettering_rows, not_lettering_rows = reviewed_rows(params.review.verdicts, ids)
    known_rows = learned_positives(query_rows, lettering_rows, not_lettering_rows)  # the statistics' rule
    detector, probability, summary, timing = train_and_score(params, index, known_rows, not_lettering_rows)
    with staged_outputs(artifacts.DETECTOR_WEIGHTS, artifacts.DETECTOR, artifacts.METRICS_FILES["detector"]) as (
            weights, out_dir, metrics_file):
        out_dir.mkdir()
        detector.save_weights(weights)
        np.save(out_dir / artifacts.DETECTOR_PROBABILITY.name, probability, allow_pickle=False)
        artifacts.write_metrics(metrics_file, {**summary, "query_tiles": int(len(query_rows)),
                                               "reviewed_lettering_tiles": len(np.setdiff1d(known_rows, query_rows)),
                                               "reviewed_not_lettering_tiles": int(len(not_lettering_rows)),
                                               "tiles_scored": len(ids)})
    return (f"train_detector: {summary['examples']} examples on {summary['base_tiles']} tiles "
            f"({len(query_rows)} queries, {len(lettering_rows)} + {len(not_lettering_rows)} reviewed"
            f"{self_trained(summary)}), "
            f"loss {summary['loss']:.4f} in {timing['composite_seconds']:.0f} s compositing + "
            f"{timing['fit_seconds']:.0f} s fitting; {len(ids)} tiles scored at "
            f"{len(ids) / max(timing['score_seconds'], 0.1):.0f} tiles/s, {int((probability >= 0.5).sum())} with "
            f"p >= 0.5 -> {artifacts.DETECTOR_PROBABILITY}")


def self_trained(summary: dict) -> str:
    pseudo = summary["pseudo_positive_tiles"]
    return f"; trained twice, the second time with its {len(pseudo)} surest tiles as lettering" if pseudo else ""


if __name__ == "__main__":
    run_stage(main)
