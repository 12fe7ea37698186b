"""Stage evaluate: quality of the flagged list against ground truth (data.labels_csv), over class-0 train
tiles, with the precision-recall curve."""
import tilescan.pinned  # noqa: F401  (first: pins the math before NumPy/TF load; see tilescan/runtime.py)

# isort: split
from pathlib import Path

import pandas as pd

from tilescan import artifacts
from tilescan.atomic import staged_outputs
from tilescan.evaluate import (
    check_both_classes,
    evaluation_frame,
    label_usage,
    load_ground_truth,
    pr_curve_points,
    quality,
    reviewed_quality,
)
from tilescan.params import Params
from tilescan.review import load_verdicts
from tilescan.stage import run_stage


def main(params: Params) -> str:
    labels_csv = params.data.labels_csv
    outputs = (artifacts.METRICS_FILES["quality"], artifacts.PR_CURVE)
    scanned = pd.concat([artifacts.load_index(), artifacts.load_dropped()])  # every tile + the unreadable
    reviewed = {}
    if params.review.verdicts:
        verdicts = load_verdicts(params.review.verdicts, scanned["id"].tolist())
        frame = evaluation_frame(artifacts.load_flagged(), scanned["id"].tolist(), verdicts)
        reviewed = {"reviewed": {"verdicts": params.review.verdicts, **reviewed_quality(frame)}}
    if not labels_csv:
        with staged_outputs(*outputs) as (metrics_file, curve_csv):
            artifacts.write_metrics(metrics_file, {"labels_csv": None, **reviewed})
            pd.DataFrame(columns=["recall", "precision"]).to_csv(curve_csv, index=False)
        if reviewed:
            ap = reviewed["reviewed"]["average_precision"]
            return (f"evaluate: no ground truth (data.labels_csv is empty); over {reviewed['reviewed']['n_reviewed']}"
                    f" reviewed tiles (not an unbiased sample) AP {'-' if ap is None else f'{ap:.3f}'}")
        return "evaluate: no ground truth (data.labels_csv is empty); quality not measured"
    truth = load_ground_truth(Path(labels_csv))
    flagged = artifacts.load_flagged()
    frame = evaluation_frame(flagged, scanned.loc[scanned["split"] == "train", "id"].tolist(), truth)
    check_both_classes(frame, labels_csv)
    metrics = {"labels_csv": labels_csv, "split": "train", "label_rows": label_usage(truth, scanned, "train"),
               **quality(frame["annotation"].to_numpy(), frame["score"].to_numpy(), frame["flagged"].to_numpy()),
               **reviewed}
    with staged_outputs(*outputs) as (metrics_file, curve_csv):
        artifacts.write_metrics(metrics_file, metrics)
        pr_curve_points(frame["annotation"].to_numpy(), frame["score"].to_numpy()).to_csv(curve_csv, index=False)
    return (f"evaluate: AP {metrics['average_precision']:.3f}, precision {metrics['precision']:.3f}, "
            f"recall {metrics['recall']:.3f}, recall@P>=0.9 {metrics['recall_at_precision_0.9']:.3f} "
            f"over {metrics['n_tiles']} train tiles ({metrics['n_annotation']} annotation); "
            f"{sum(metrics['label_rows']['ignored'].values())} label rows not evaluated "
            f"(see {artifacts.METRICS_FILES['quality']})")


if __name__ == "__main__":
    run_stage(main)
