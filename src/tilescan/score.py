"""Turning latents (and image statistics) into a per-tile annotation score and a flag."""
from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

from tilescan.cluster import NOISE
from tilescan.errors import TilescanError

METHODS = ("baseline", "tilescan")


def min_distance_to(points: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Each point's Euclidean distance to its nearest target."""
    distances, _ = NearestNeighbors(n_neighbors=1).fit(targets).kneighbors(points)
    return distances[:, 0]


def baseline_scores(points: np.ndarray, labels: np.ndarray, query_rows: np.ndarray, neighbour_rows: np.ndarray,
                    min_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """The notebook's method made explicit. With queries: score falls with the distance to the nearest
    query; flagged = the queries' k nearest neighbours plus members of any (non-noise) query cluster.
    Without queries: score rises with the DBSCAN core distance; flagged = DBSCAN noise."""
    if len(query_rows):
        score = 1.0 / (1.0 + min_distance_to(points, points[query_rows]))
        query_clusters = set(labels[query_rows].tolist()) - {NOISE}
        flagged = np.isin(labels, list(query_clusters))
        flagged[neighbour_rows.ravel()] = True
        return score, flagged
    k = min(max(min_samples, 2), len(points))
    core_distance = NearestNeighbors(n_neighbors=k).fit(points).kneighbors(points)[0][:, -1]
    return core_distance / (1.0 + core_distance), labels == NOISE


def check_method(method: str) -> None:
    if method not in METHODS:
        raise TilescanError(f"knn_report.method must be one of {', '.join(METHODS)}, got {method!r}")
