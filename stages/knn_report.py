"""Stage knn_report: each query's k nearest tiles in latent space (correctly indexed), the neighbour grid,
and the ranked flagged list (scored by knn_report.method)."""
import tilescan.pinned  # noqa: F401  (first: pins the math before NumPy/TF load; see tilescan/runtime.py)

# isort: split
from tilescan import artifacts
from tilescan.atomic import staged_outputs
from tilescan.cluster import query_positions
from tilescan.figures import neighbour_grid, save_png
from tilescan.params import Params
from tilescan.review import load_verdicts, verdict_rows
from tilescan.score import knn_report
from tilescan.stage import run_stage


def main(params: Params) -> str:
    method, threshold = params.knn_report.method, params.knn_report.flag_threshold
    index = artifacts.load_index()
    ids = index["id"].tolist()
    query_rows = query_positions(ids, list(params.knn_report.queries))
    points = artifacts.load_aligned(artifacts.SCALED_LATENTS, "scale", len(ids))
    labels = artifacts.load_aligned(artifacts.CLUSTER_LABELS, "dbscan", len(ids))
    features = artifacts.load_aligned(artifacts.FEATURES_ARRAY, "features", len(ids))
    k = params.knn_report.k
    verdicts = (load_verdicts(params.review.verdicts, ids + artifacts.load_dropped()["id"].tolist())
                if params.review.verdicts else None)
    positives, negatives = verdict_rows(verdicts, ids)
    flagged, knn, summary = knn_report(
        ids, points, labels, features, artifacts.load_feature_names(), query_rows, method, k, threshold,
        min_samples=params.dbscan.min_samples, seed=params.common.seed, positives=positives, negatives=negatives)
    grid = neighbour_grid(knn, artifacts.tile_reader(index), ids)
    outputs = (artifacts.FLAGGED, artifacts.KNN, artifacts.KNN_GRID, artifacts.METRICS_FILES["knn_report"])
    with staged_outputs(*outputs) as (flagged_csv, knn_csv, grid_png, metrics_file):
        flagged.to_csv(flagged_csv, index=False, float_format="%.6f")
        knn.to_csv(knn_csv, index=False, float_format="%.6f")
        save_png(grid, grid_png)
        artifacts.write_metrics(metrics_file, summary)
    reviewed = f"; {len(positives)} + {len(negatives)} reviewed (lettering + not)" if verdicts is not None else ""
    return (f"knn_report: {method} flagged {summary['n_flagged']} of {len(ids)} tiles -> {artifacts.FLAGGED}; "
            f"{len(query_rows)} queries x {k} neighbours -> {artifacts.KNN_GRID}{reviewed}")


if __name__ == "__main__":
    run_stage(main)
