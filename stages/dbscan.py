"""Stage dbscan: cluster the scaled latents; k-distance curve; cluster of each query tile."""
import json

import numpy as np
import pandas as pd

from tilescan import paths
from tilescan.atomic import staged_outputs
from tilescan.cli import param, run_stage
from tilescan.cluster import (
    check_aligned,
    check_min_samples,
    cluster_summary,
    k_distance_curve,
    query_positions,
    resolve_eps,
    run_dbscan,
)
from tilescan.tiles import load_array, load_index


def main(params: dict) -> str:
    min_samples = check_min_samples(param(params, "dbscan.min_samples"))
    queries = [str(q) for q in param(params, "knn_report.queries", list)]
    ids = load_index()["id"].tolist()
    query_positions(ids, queries)  # fail early on an unknown query id
    points = load_array(paths.SCALED / "latents.npy", "scale")
    check_aligned(len(points), len(ids), str(paths.SCALED / "latents.npy"))
    curve = k_distance_curve(points, min_samples)
    eps = resolve_eps(param(params, "dbscan.eps"), curve)
    labels = run_dbscan(points, eps, min_samples, param(params, "dbscan.metric", str))
    summary = {"eps": round(eps, 6), **cluster_summary(labels, ids, queries)}
    with staged_outputs(paths.CLUSTERS, paths.METRICS / "dbscan.json") as (out_dir, metrics_file):
        out_dir.mkdir()
        np.save(out_dir / "labels.npy", labels, allow_pickle=False)
        pd.DataFrame({"rank": np.arange(len(curve)), "k_distance": curve.round(6)}).to_csv(
            out_dir / "k_distance.csv", index=False)
        metrics_file.write_text(json.dumps(summary, indent=2) + "\n")
    noise_queries = sum(label == -1 for label in summary["query_clusters"].values())
    return (f"dbscan: eps {eps:.3f} -> {summary['n_clusters']} clusters, noise {summary['noise_fraction']:.1%} "
            f"of {len(labels)} tiles; {noise_queries} of {len(queries)} queries are noise")


if __name__ == "__main__":
    run_stage(main)
