"""Stage knn_report: each query's k nearest tiles (correctly indexed), the neighbour grid, the ranked
flagged list."""
import json

import numpy as np
import pandas as pd

from tilescan import paths
from tilescan.atomic import staged_outputs
from tilescan.cli import run_stage, section
from tilescan.cluster import nearest_neighbours, query_positions
from tilescan.figures import save_png, tile_grid
from tilescan.score import baseline_scores, check_method
from tilescan.tiles import load_index, tile_reader


def main(params: dict) -> str:
    settings, min_samples = section(params, "knn_report"), int(section(params, "dbscan")["min_samples"])
    check_method(settings["method"])
    index = load_index()
    ids = index["id"].tolist()
    query_rows = query_positions(ids, list(settings["queries"]))
    points = np.load(paths.SCALED / "latents.npy", allow_pickle=False)
    labels = np.load(paths.CLUSTERS / "labels.npy", allow_pickle=False)
    k = settings["k"]
    distances, neighbours = (nearest_neighbours(points, query_rows, k) if len(query_rows)
                             else (np.zeros((0, 0)), np.zeros((0, 0), dtype=np.int64)))
    score, flagged = baseline_scores(points, labels, query_rows, neighbours, min_samples)
    flagged_frame = pd.DataFrame({"id": ids, "score": score.round(6), "flagged": flagged.astype(int),
                                  "cluster": labels}).sort_values("score", ascending=False, kind="stable")
    knn = pd.DataFrame([(ids[q], rank, ids[n], round(float(d), 6))
                        for q, row_n, row_d in zip(query_rows, neighbours, distances)
                        for rank, (n, d) in enumerate(zip(row_n, row_d))],
                       columns=["query", "rank", "neighbour", "distance"])
    read_tile = tile_reader(index)
    grid = tile_grid([[read_tile(n) for n in row] for row in neighbours],
                     [[f"{ids[n]}\nd={d:.2f}" for n, d in zip(rn, rd)] for rn, rd in zip(neighbours, distances)],
                     row_labels=[ids[q] for q in query_rows])
    summary = {"method": settings["method"], "k": int(k), "n_queries": int(len(query_rows)),
               "n_tiles": len(ids), "n_flagged": int(flagged.sum()),
               "queries_self_first": bool(all(row[0] == q for q, row in zip(query_rows, neighbours)))}
    outputs = (paths.FLAGGED, paths.REPORTS / "knn.csv", paths.REPORTS / "knn_grid.png",
               paths.METRICS / "knn_report.json")
    with staged_outputs(*outputs) as (flagged_csv, knn_csv, grid_png, metrics_file):
        flagged_frame.to_csv(flagged_csv, index=False, float_format="%.6f")
        knn.to_csv(knn_csv, index=False, float_format="%.6f")
        save_png(grid, grid_png)
        metrics_file.write_text(json.dumps(summary, indent=2) + "\n")
    return (f"knn_report: {summary['method']} flagged {summary['n_flagged']} of {len(ids)} tiles -> "
            f"{paths.FLAGGED}; {len(query_rows)} queries x {k} neighbours -> {paths.REPORTS}/knn_grid.png")


if __name__ == "__main__":
    run_stage(main)
