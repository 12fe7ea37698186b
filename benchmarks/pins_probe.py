"""Child of `benchmarks/run.py --only pins`: one timed workload in a process whose environment the parent set,
with or without the math pins. Prints one JSON line."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import yaml

import run  # benchmarks/, beside this script


def features(tiles_file: str) -> dict:
    from tilescan.features import tile_features

    tiles = np.load(tiles_file)
    tile_features(tiles[0])  # warm-up: imports and first-call caches
    start = time.perf_counter()
    for tile in tiles:
        tile_features(tile)
    return {"tiles_per_s": round(len(tiles) / (time.perf_counter() - start), 1)}


def train(params: dict, n_tiles: int, epochs: int, work: Path) -> dict:
    shape, batch_size = run.model_shape(params), int(params["train_autoencoder"]["batch_size"])
    timer, _ = run.fit(params, shape, batch_size, n_tiles, batch_size, epochs, work, "pins_train")
    return {"tiles_per_s": round(n_tiles * (epochs - 1) / sum(timer.epochs[1:]), 1)}  # epoch 1 traces


def main() -> None:
    workload, params_file, work, *rest = sys.argv[1:]
    params = yaml.safe_load(Path(params_file).read_text())
    figures = features(rest[0]) if workload == "features" else train(params, int(rest[0]), int(rest[1]), Path(work))
    from numpy._core import _multiarray_umath as umath

    figures["numpy_dispatch"] = [t for t in umath.__cpu_dispatch__ if umath.__cpu_features__.get(t)]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
