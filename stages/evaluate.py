"""Stage evaluate: quality of the flagged list against ground truth (data.labels_csv), over class-0 train
tiles, with the precision-recall curve."""
import tilescan.pinned  # noqa: F401  (first: pins the math before NumPy/TF load; see tilescan/runtime.py)

# isort: split
from pathlib import Path

import pandas as pd

from tilescan import artifacts
from tilescan.atomic import staged_outputs
from tilescan.evaluate import (
    evaluation_frame,
    load_ground_truth,
    pr_curve_points,
    quality,
)
from tilescan.stage import run_stage, section


def main(params: dict) -> str:
    labels_csv = section(params, "data").get("labels_csv") or ""
    outputs = (artifacts.METRICS_FILES["quality"], artifacts.PR_CURVE)
    if not labels_csv:
        with staged_outputs(*outputs) as (metrics_file, curve_csv):
            artifacts.write_metrics(metrics_file, {"labels_csv": None})
            pd.DataFrame(columns=["recall", "precision"]).to_csv(curve_csv, index=False)
        return "evaluate: no ground truth (data.labels_csv is empty); quality not measured"
    truth = load_ground_truth(Path(labels_csv))
    flagged = artifacts.load_flagged()
    scanned = pd.concat([artifacts.load_index(), artifacts.load_dropped()])
    frame = evaluation_frame(flagged, scanned.loc[scanned["split"] == "train", "id"].tolist(), truth)
    metrics = {"labels_csv": labels_csv, "split": "train",
               **quality(frame["annotation"].to_numpy(), frame["score"].to_numpy(), frame["flagged"].to_numpy())}
    with staged_outputs(*outputs) as (metrics_file, curve_csv):
        artifacts.write_metrics(metrics_file, metrics)
        pr_curve_points(frame["annotation"].to_numpy(), frame["score"].to_numpy()).to_csv(curve_csv, index=False)
    return (f"evaluate: AP {metrics['average_precision']:.3f}, precision {metrics['precision']:.3f}, "
            f"recall {metrics['recall']:.3f}, recall@P>=0.9 {metrics['recall_at_precision_0.9']:.3f} "
            f"over {metrics['n_tiles']} train tiles ({metrics['n_annotation']} annotation)")


if __name__ == "__main__":
    run_stage(main)
