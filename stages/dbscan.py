"""Stage dbscan: cluster the scaled latents; k-distance curve; cluster of each query tile."""
import tilescan.pinned  # noqa: F401  (first: pins the math before NumPy/TF load; see tilescan/runtime.py)

# isort: split
import numpy as np
import pandas as pd

from tilescan import artifacts
from tilescan.atomic import staged_outputs
from tilescan.cluster import (
    cluster_summary,
    k_distance_curve,
    query_positions,
    resolve_eps,
    run_dbscan,
)
from tilescan.params import Params
from tilescan.stage import query_source, run_stage


def main(params: Params) -> str:
    min_samples = params.dbscan.min_samples
    queries = list(params.knn_report.queries)
    ids = artifacts.load_index()["id"].tolist()
    query_positions(ids, queries, query_source(params))  # fail early on an unknown query id
    points = artifacts.load_aligned(artifacts.SCALED_LATENTS, "scale", len(ids))
    curve = k_distance_curve(points, min_samples)
    eps = resolve_eps(params.dbscan.eps, curve)
    labels = run_dbscan(points, eps, min_samples, params.dbscan.metric)
    summary = {"eps": round(eps, 6), **cluster_summary(labels, ids, queries)}
    with staged_outputs(artifacts.CLUSTERS, artifacts.METRICS_FILES["dbscan"]) as (out_dir, metrics_file):
        out_dir.mkdir()
        np.save(out_dir / artifacts.CLUSTER_LABELS.name, labels, allow_pickle=False)
        pd.DataFrame({"rank": np.arange(len(curve)), "k_distance": curve.round(6)}).to_csv(
            out_dir / artifacts.K_DISTANCE.name, index=False)
        artifacts.write_metrics(metrics_file, summary)
    noise_queries = sum(label == -1 for label in summary["query_clusters"].values())
    return (f"dbscan: eps {eps:.3f} -> {summary['n_clusters']} clusters, noise {summary['noise_fraction']:.1%} "
            f"of {len(labels)} tiles; {noise_queries} of {len(queries)} queries are noise")


if __name__ == "__main__":
    run_stage(main)
