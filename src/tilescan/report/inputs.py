"""What the HTML report (reports/index.html) shows: every input it reads, and the deterministic choices of
tiles and projections made from them. report.html lays the page out.

load_inputs reads exactly the files the report stage lists as deps. Every choice here is a pure function of
its inputs (stable sorts, no randomness), so a re-run gives equal bytes."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from tilescan import artifacts
from tilescan.cluster import NOISE, query_positions
from tilescan.evaluate import load_ground_truth
from tilescan.params import Params, Report
from tilescan.review import load_verdicts, review_queue
from tilescan.stage import model_shape


@dataclass
class ReportInputs:
    """Everything the page shows. Positions are rows of the prepared index (train rows, then val rows)."""
    ids: list[str]
    splits: np.ndarray                 # split of each position
    read_tile: Callable[[int], np.ndarray]
    labels: np.ndarray                 # DBSCAN label per position, -1 = noise
    latents: np.ndarray                # scaled latents per position
    flagged: pd.DataFrame              # reports/flagged.csv: id, score, flagged, cluster (score descending)
    knn: pd.DataFrame                  # reports/knn.csv: query, rank, neighbour, distance
    queries: list[str]
    reconstructions: np.ndarray        # uint8 (n_queries, S, S), in query order
    query_errors: np.ndarray           # reconstruction error of each query tile, in query order
    recon_error: np.ndarray            # per position, NaN outside encode's sample (data/encoded/recon_error.npy)
    metrics: dict[str, dict]           # "metrics/<name>.json" -> its content
    train_loss: pd.DataFrame           # step, loss
    val_loss: pd.DataFrame
    truth: pd.DataFrame | None         # id, annotation; None without ground truth
    pr_curve: pd.DataFrame             # recall, precision
    dropped: pd.DataFrame              # data/prepared/dropped.csv: id, filename, split, reason
    settings: Report                   # params.yaml `report`: gallery sizes, tile size
    verdicts: pd.DataFrame | None = None  # review.verdicts: id, annotation (0/1); None when not set

    # Per-tile facts the galleries print, indexed by position.
    @cached_property
    def position(self) -> dict[str, int]:
        return {tile_id: i for i, tile_id in enumerate(self.ids)}

    @cached_property
    def is_flagged(self) -> np.ndarray:
        return self.flagged.set_index("id")["flagged"].reindex(self.ids).fillna(0).astype(bool).to_numpy()

    @cached_property
    def score(self) -> np.ndarray:
        return self.flagged.set_index("id")["score"].reindex(self.ids).to_numpy()

    @cached_property
    def rank(self) -> np.ndarray:
        """1-based place in the flagged list (highest score = 1)."""
        return pd.Series(np.arange(1, len(self.flagged) + 1), index=self.flagged["id"]).reindex(self.ids).to_numpy()

    @cached_property
    def is_annotation(self) -> np.ndarray:
        """Ground truth per position (all False without ground truth)."""
        annotated = set() if self.truth is None else set(self.truth.loc[self.truth["annotation"] == 1, "id"])
        return np.array([tile_id in annotated for tile_id in self.ids], dtype=bool)

    def metric(self, name: str) -> dict:
        """The content of metrics/<name>.json."""
        return self.metrics.get(str(artifacts.METRICS_FILES[name]), {})


# --- reading -----------------------------------------------------------------------------------------

def reconstruct(shape: dict, weights: Path, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The autoencoder's uint8 reconstruction of uint8 tiles (N, S, S), as one batch (the queries), and each
    tile's reconstruction error (mean binary cross-entropy, as encode measures it)."""
    if not len(images):
        return np.zeros((0, shape["img_size"], shape["img_size"]), np.uint8), np.zeros(0, np.float32)
    from tilescan.encode import reconstruction_error
    from tilescan.model import build_autoencoder

    _, _, autoencoder = build_autoencoder(**shape)
    autoencoder.load_weights(artifacts.require_file(weights, "train_autoencoder"))
    batch = np.repeat(images.astype(np.float32)[..., None] / 255.0, shape["channels"], axis=-1)
    output = autoencoder(batch, training=False)
    errors = np.asarray(reconstruction_error(batch, output))
    image = np.asarray(output, dtype=np.float32).mean(axis=-1)
    return np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8), errors


def load_inputs(params: Params) -> ReportInputs:
    index = artifacts.load_index()
    ids = index["id"].tolist()
    queries = list(params.knn_report.queries)
    read_tile = artifacts.tile_reader(index)
    query_images = np.stack([read_tile(p) for p in query_positions(ids, queries)]) if queries else np.zeros((0,))
    metrics = {str(path): artifacts.load_metrics(name) for name, path in artifacts.METRICS_FILES.items()}
    quality = metrics[str(artifacts.METRICS_FILES["quality"])]
    truth = load_ground_truth(Path(params.data.labels_csv)) if quality.get("labels_csv") else None
    reconstructions, query_errors = reconstruct(model_shape(params), artifacts.MODEL_WEIGHTS, query_images)
    return ReportInputs(
        ids=ids, splits=index["split"].to_numpy(), read_tile=read_tile,
        labels=artifacts.load_array(artifacts.CLUSTER_LABELS, "dbscan"),
        latents=artifacts.load_array(artifacts.SCALED_LATENTS, "scale"),
        flagged=artifacts.load_flagged(), knn=artifacts.load_knn(),
        queries=queries, reconstructions=reconstructions, query_errors=query_errors,
        recon_error=artifacts.load_array(artifacts.RECON_ERROR, "encode"),
        metrics=metrics, train_loss=artifacts.load_loss("train"), val_loss=artifacts.load_loss("eval"),
        truth=truth, pr_curve=artifacts.load_pr_curve(), dropped=artifacts.load_dropped(),
        settings=params.report,
        verdicts=(load_verdicts(params.review.verdicts, ids + artifacts.load_dropped()["id"].tolist())
                  if params.review.verdicts else None))


# --- deterministic choices ---------------------------------------------------------------------------

def spread(ordered: np.ndarray, n: int) -> np.ndarray:
    """n items evenly spaced along an ordering, first and last included (all of them if there are fewer)."""
    if len(ordered) <= n:
        return np.asarray(ordered)
    return np.asarray(ordered)[np.unique(np.linspace(0, len(ordered) - 1, n).round().astype(int))]


def cluster_sizes(labels: np.ndarray) -> pd.DataFrame:
    """label, size of every cluster (noise excluded), largest first, ties by label."""
    found, counts = np.unique(labels[labels != NOISE], return_counts=True)
    frame = pd.DataFrame({"label": found.astype(int), "size": counts.astype(int)})
    return frame.sort_values(["size", "label"], ascending=[False, True], kind="stable").reset_index(drop=True)


def cluster_sample(latents: np.ndarray, labels: np.ndarray, label: int, n: int) -> np.ndarray:
    """Positions of n members of a cluster, from the most typical (nearest its centroid) to the least."""
    members = np.flatnonzero(labels == label)
    distance = np.linalg.norm(latents[members] - latents[members].mean(axis=0), axis=1)
    return spread(members[np.argsort(distance, kind="stable")], n)


def flatten(value, prefix: str = "") -> list[tuple[str, object]]:
    """Nested metrics as (dotted key, value) rows; lists of scalars stay one value."""
    if isinstance(value, dict):
        return [row for key, item in value.items() for row in flatten(item, f"{prefix}.{key}" if prefix else key)]
    return [(prefix, value)]


def truth_frame(inputs: ReportInputs, split: str | None) -> pd.DataFrame:
    """The flagged list joined to ground truth (position, id, score, flagged, annotation, rank), restricted to
    the split evaluate scored, in score order."""
    frame = inputs.flagged.assign(rank=np.arange(1, len(inputs.flagged) + 1))
    frame = frame.merge(inputs.truth, on="id", how="inner", sort=False)
    frame["position"] = frame["id"].map(inputs.position)
    if split:
        frame = frame[inputs.splits[frame["position"].to_numpy()] == split]
    return frame.sort_values("rank", kind="stable")


def latent_map(latents: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """The first two principal components of the latents and their shares of the variance."""
    from sklearn.decomposition import PCA

    xy, variance = np.zeros((len(latents), 2)), [0.0, 0.0]
    n = min(2, *latents.shape)
    if n >= 1 and len(latents) > 1:
        pca = PCA(n_components=n, svd_solver="full").fit(latents)
        xy[:, :n] = pca.transform(latents)
        variance[:n] = pca.explained_variance_ratio_.tolist()
    return xy, (float(variance[0]), float(variance[1]))



def review_next(inputs: ReportInputs) -> tuple[pd.DataFrame, float]:
    """(queue, centre): the "Review next" tiles (tilescan.review.review_queue) around knn_report's review
    centre (tilescan.review.queue_centre, as make review-curve simulates), leaving out the query tiles and the
    tiles that already have a verdict."""
    centre = float(inputs.metric("knn_report")["review_centre"])
    reviewed = [*inputs.queries, *([] if inputs.verdicts is None else inputs.verdicts["id"])]
    return review_queue(inputs.flagged, centre, inputs.settings.review_tiles, reviewed), centre
