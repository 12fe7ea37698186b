"""Stage knn_report: each query's k nearest tiles in latent space (correctly indexed), the neighbour grid,
and the ranked flagged list of every prepared tile (scored by knn_report.method, with the score components)."""
import tilescan.pinned  # noqa: F401  (first: pins the math before NumPy/TF load; see tilescan/runtime.py)

# isort: split
from tilescan import artifacts
from tilescan.atomic import staged_outputs
from tilescan.cluster import query_positions
from tilescan.figures import neighbour_grid, save_png
from tilescan.params import Params
from tilescan.review import reviewed_rows
from tilescan.score import flag_thresholds, knn_report
from tilescan.stage import query_source, run_stage


def main(params: Params) -> str:
    settings = params.knn_report
    index = artifacts.load_index()
    ids = index["id"].tolist()
    query_rows = query_positions(ids, list(settings.queries), query_source(params))
    points = artifacts.load_aligned(artifacts.SCALED_LATENTS, "scale", len(ids))
    labels = artifacts.load_aligned(artifacts.CLUSTER_LABELS, "dbscan", len(ids))
    features = artifacts.load_aligned(artifacts.FEATURES_ARRAY, "features", len(ids))
    probability = artifacts.load_aligned(artifacts.DETECTOR_PROBABILITY, "train_detector", len(ids))
    positives, negatives = reviewed_rows(params.review.verdicts, ids)
    flagged, knn, summary = knn_report(
        ids, index["black"].to_numpy(), points, labels, features, artifacts.load_feature_names(), probability,
        query_rows, settings.method, settings.k, flag_thresholds(settings), min_samples=params.dbscan.min_samples,
        seed=params.common.seed, positives=positives, negatives=negatives)
    grid = neighbour_grid(knn, artifacts.tile_reader(index), ids)
    outputs = (artifacts.FLAGGED, artifacts.KNN, artifacts.KNN_GRID, artifacts.METRICS_FILES["knn_report"])
    with staged_outputs(*outputs) as (flagged_csv, knn_csv, grid_png, metrics_file):
        flagged.to_csv(flagged_csv, index=False, float_format="%.6f")
        knn.to_csv(knn_csv, index=False, float_format="%.6f")
        save_png(grid, grid_png)
        artifacts.write_metrics(metrics_file, summary)
    verdicts = f"; {len(positives)} + {len(negatives)} reviewed (lettering + not)" if params.review.verdicts else ""
    return (f"knn_report: {summary['method']} flagged {summary['n_flagged']} of {len(ids)} tiles "
            f"({summary['n_black']} mostly black) -> {artifacts.FLAGGED}; "
            f"{len(query_rows)} queries x {settings.k} neighbours -> {artifacts.KNN_GRID}{verdicts}")


if __name__ == "__main__":
    run_stage(main)
