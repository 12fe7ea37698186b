"""Cheap synthetic inputs for the benchmarks: uint8 tile arrays, an npy-layout dataset, structured latents.

Speed does not depend on what the pixels show, so tiles are noise; the latents are given cluster structure
because DBSCAN's and the kNN queries' cost does depend on how many neighbours each point has.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def noise_tiles(path: Path, n: int, side: int, seed: int) -> np.ndarray:
    """n uint8 side x side tiles written to path as .npy and memory-mapped back, as the prepare stage leaves them."""
    rng = np.random.default_rng(seed)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n, side, side))
    for start in range(0, n, 4096):
        stop = min(n, start + 4096)
        out[start:stop] = rng.integers(30, 226, (stop - start, side, side), dtype=np.uint8)
    out.flush()
    del out
    return np.load(path, mmap_mode="r")


def npy_dataset(raw_dir: Path, n: int, side: int, seed: int, chunk: int = 1000) -> Path:
    """The Kaggle release's npy layout (cv10_data.npy N x side x side x 1 uint8 + cv10_labels.npy), written
    chunk by chunk with plain writes (pages written through a memory map would count in this process's
    resident memory). Every tile is class 0 and not black, so prepare keeps all n and encode sees all n."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    header = {"descr": "|u1", "fortran_order": False, "shape": (n, side, side, 1)}
    with open(raw_dir / "cv10_data.npy", "wb") as out:
        np.lib.format.write_array_header_1_0(out, header)
        for start in range(0, n, chunk):
            out.write(rng.integers(30, 226, (min(chunk, n - start), side, side, 1), dtype=np.uint8).tobytes())
    np.save(raw_dir / "cv10_labels.npy", np.zeros(n, dtype=np.int64), allow_pickle=False)
    return raw_dir


def structured_latents(n: int, dim: int, seed: int, n_clusters: int = 25, manifold_dim: int = 6,
                       outlier_fraction: float = 0.03) -> np.ndarray:
    """float32 (n, dim) non-negative latents (the encoder's latent layer is a ReLU): clusters of uneven size
    and spread, each a low-dimensional sheet in latent space as an autoencoder's codes are, plus outliers."""
    rng = np.random.default_rng(seed)
    sizes = rng.dirichlet(np.full(n_clusters, 2.0)) * n * (1 - outlier_fraction)
    sizes = np.maximum(sizes.astype(int), 1)
    centres = rng.gamma(2.0, 1.0, (n_clusters, dim))
    parts = []
    for centre, size in zip(centres, sizes):
        basis = rng.standard_normal((manifold_dim, dim)) * rng.uniform(0.03, 0.12)
        sheet = rng.standard_normal((size, manifold_dim)) @ basis
        parts.append(centre + sheet + rng.standard_normal((size, dim)) * 0.02)
    n_outliers = n - int(sizes.sum())
    parts.append(rng.gamma(2.0, 1.0, (n_outliers, dim)))
    latents = np.maximum(np.concatenate(parts), 0.0).astype(np.float32)
    return latents[rng.permutation(n)]


def image_features(n: int, n_features: int, seed: int) -> np.ndarray:
    """float32 (n, n_features) non-negative, heavy-tailed image statistics, as the features stage writes (the
    tilescan scoring's cost depends on their count, not their meaning); about a third are exactly 0, as
    stroke counts of tiles without lettering are."""
    rng = np.random.default_rng(seed)
    values = rng.lognormal(0.0, 1.0, (n, n_features))
    values[rng.random((n, n_features)) < 0.3] = 0.0
    return values.astype(np.float32)
