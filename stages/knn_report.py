"""Stage knn_report: each query's k nearest tiles in latent space (correctly indexed), the neighbour grid,
and the ranked flagged list (scored by knn_report.method)."""
import json

import numpy as np
import pandas as pd

from tilescan import paths
from tilescan.atomic import staged_outputs
from tilescan.cli import param, run_stage
from tilescan.cluster import check_aligned, nearest_neighbours, query_positions
from tilescan.figures import save_png, tile_grid
from tilescan.score import (
    baseline_scores,
    check_method,
    check_threshold,
    tilescan_scores,
)
from tilescan.tiles import load_array, load_index, tile_reader


def main(params: dict) -> str:
    method = param(params, "knn_report.method", str)
    check_method(method)
    threshold = check_threshold(param(params, "knn_report.flag_threshold"))
    index = load_index()
    ids = index["id"].tolist()
    query_rows = query_positions(ids, [str(q) for q in param(params, "knn_report.queries", list)])
    points = load_array(paths.SCALED / "latents.npy", "scale")
    labels = load_array(paths.CLUSTERS / "labels.npy", "dbscan")
    features = load_array(paths.FEATURES / "features.npy", "features")
    for array, path in ((points, paths.SCALED / "latents.npy"), (labels, paths.CLUSTERS / "labels.npy"),
                        (features, paths.FEATURES / "features.npy")):
        check_aligned(len(array), len(ids), str(path))
    k = param(params, "knn_report.k")
    distances, neighbours = (nearest_neighbours(points, query_rows, k) if len(query_rows)
                             else (np.zeros((0, 0)), np.zeros((0, 0), dtype=np.int64)))
    if method == "baseline":
        score, flagged = baseline_scores(points, labels, query_rows, neighbours, param(params, "dbscan.min_samples"))
    else:
        names = json.loads((paths.FEATURES / "names.json").read_text())
        score, flagged = tilescan_scores(features, names, query_rows, threshold, param(params, "common.seed", int))
    flagged_frame = pd.DataFrame({"id": ids, "score": score.round(6), "flagged": flagged.astype(int),
                                  "cluster": labels}).sort_values(["score", "id"], ascending=[False, True],
                                                                  kind="stable")
    knn = pd.DataFrame([(ids[q], rank, ids[n], round(float(d), 6))
                        for q, row_n, row_d in zip(query_rows, neighbours, distances)
                        for rank, (n, d) in enumerate(zip(row_n, row_d))],
                       columns=["query", "rank", "neighbour", "distance"])
    read_tile = tile_reader(index)
    grid = tile_grid([[read_tile(n) for n in row] for row in neighbours],
                     [[f"{ids[n]}\nd={d:.2f}" for n, d in zip(rn, rd)] for rn, rd in zip(neighbours, distances)],
                     row_labels=[ids[q] for q in query_rows])
    summary = {"method": method, "k": int(k), "n_queries": int(len(query_rows)), "n_tiles": len(ids),
               "n_flagged": int(flagged.sum()), "flag_threshold": threshold,
               "queries_self_first": bool(all(row[0] == q for q, row in zip(query_rows, neighbours)))}
    outputs = (paths.FLAGGED, paths.REPORTS / "knn.csv", paths.REPORTS / "knn_grid.png",
               paths.METRICS / "knn_report.json")
    with staged_outputs(*outputs) as (flagged_csv, knn_csv, grid_png, metrics_file):
        flagged_frame.to_csv(flagged_csv, index=False, float_format="%.6f")
        knn.to_csv(knn_csv, index=False, float_format="%.6f")
        save_png(grid, grid_png)
        metrics_file.write_text(json.dumps(summary, indent=2) + "\n")
    return (f"knn_report: {method} flagged {summary['n_flagged']} of {len(ids)} tiles -> {paths.FLAGGED}; "
            f"{len(query_rows)} queries x {k} neighbours -> {paths.REPORTS}/knn_grid.png")


if __name__ == "__main__":
    run_stage(main)
