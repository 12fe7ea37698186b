"""Standardising latents, DBSCAN and the k-distance curve, and correct k-nearest-neighbour look-ups."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
from sklearn.cluster import DBSCAN
from sklearn.neighbors import KDTree, NearestNeighbors
from sklearn.preprocessing import StandardScaler

from tilescan import artifacts
from tilescan.errors import TilescanError

NOISE = -1


# --- scaling ---------------------------------------------------------------------------------------

def fit_scaler(latents: np.ndarray) -> StandardScaler:
    """A StandardScaler fitted on the latents; NaN or infinite latents are refused."""
    if not np.isfinite(latents).all():
        raise TilescanError(f"{artifacts.ENCODED_LATENTS}: contains NaN or infinite values")
    return StandardScaler().fit(latents)


def save_scaler(scaler: StandardScaler, path: Path) -> None:
    """Fitted parameters as JSON (no pickle)."""
    state = {"mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist(), "var": scaler.var_.tolist(),
             "n_samples_seen": int(scaler.n_samples_seen_)}
    path.write_text(json.dumps(state) + "\n")


def load_scaler(path: Path) -> StandardScaler:
    state = json.loads(Path(path).read_text())
    scaler = StandardScaler()
    scaler.mean_, scaler.scale_, scaler.var_ = (np.asarray(state[k]) for k in ("mean", "scale", "var"))
    scaler.n_samples_seen_ = state["n_samples_seen"]
    scaler.n_features_in_ = len(scaler.mean_)
    return scaler


# --- DBSCAN ----------------------------------------------------------------------------------------

def k_distance_curve(points: np.ndarray, k: int) -> np.ndarray:
    """Each point's distance to its k-th nearest other point, sorted ascending (the eps-choosing curve)."""
    k = min(k, len(points) - 1)
    distances, _ = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(points)
    return np.sort(distances[:, -1])


def knee(curve: np.ndarray) -> float:
    """The value at the point of the ascending curve farthest below the chord joining its ends."""
    x = np.linspace(0.0, 1.0, len(curve))
    span = curve[-1] - curve[0]
    y = (curve - curve[0]) / span if span > 0 else np.zeros_like(curve)
    return float(curve[int(np.argmax(x - y))])


def resolve_eps(eps, curve: np.ndarray) -> float:
    """`dbscan.eps` (validated by tilescan.params): a positive number, or "auto" for the knee of the k-distance
    curve."""
    return knee(curve) if eps == "auto" else float(eps)


def run_dbscan(points: np.ndarray, eps: float, min_samples: int, metric: str) -> np.ndarray:
    """DBSCAN cluster label per point (-1 = noise)."""
    try:
        return DBSCAN(eps=eps, min_samples=min_samples, metric=metric).fit_predict(points).astype(np.int32)
    except ValueError as exc:
        raise TilescanError(f"dbscan.metric: {exc}") from None


def cluster_summary(labels: np.ndarray, ids: list[str], queries: list[str], top: int = 10) -> dict:
    """What the notebook printed: cluster count, noise share, largest clusters, each query's cluster."""
    sizes = Counter(int(label) for label in labels if label != NOISE)
    position = {tile_id: i for i, tile_id in enumerate(ids)}
    return {
        "n_tiles": int(len(labels)),
        "n_clusters": len(sizes),
        "noise_fraction": round(float(np.mean(labels == NOISE)), 6) if len(labels) else 0.0,
        "largest_clusters": [size for _, size in sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))[:top]],
        "query_clusters": {q: int(labels[position[q]]) for q in queries},
    }


# --- nearest neighbours ----------------------------------------------------------------------------

def query_positions(ids: list[str], queries: list[str], source: str = "the prepared tiles") -> np.ndarray:
    """Row position of each query id; an unknown id is a TilescanError naming it and where it was looked for
    (`source`, e.g. "data.raw_dir's (data/synthetic) readable class-0 tiles")."""
    position = {tile_id: i for i, tile_id in enumerate(ids)}
    unknown = [q for q in queries if q not in position]
    if unknown:
        raise TilescanError(f"knn_report.queries: unknown tile id(s) {', '.join(map(str, unknown))}: "
                            f"not in {source}")
    return np.array([position[q] for q in queries], dtype=np.int64)


def nearest_neighbours(points: np.ndarray, query_rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(distances, positions) of the k nearest tiles to each query row, itself first at distance 0.

    KDTree returns POSITIONS into `points`; map them through the id list, never through a label index
    (the notebook's bug).
    """
    if k > len(points):
        raise TilescanError(f"knn_report.k = {k} is larger than the number of tiles ({len(points)})")
    distances, positions = KDTree(points, metric="euclidean").query(points[query_rows], k=k)
    return distances, positions
