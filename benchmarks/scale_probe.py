"""Child process of the scale benchmark: prepare_split over an npy dataset, then encode every kept tile.

Run as `python benchmarks/scale_probe.py RAW_DIR WORK_DIR PARAMS_JSON`; prints one JSON line of timings and
this process's peak resident memory. The peak is read from /proc/self/status (VmHWM), not from getrusage:
Linux carries ru_maxrss across exec, so a child started by the benchmark process would report the
benchmark's own peak (several GB after the training benchmarks) instead of its own.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np


def peak_rss_mb() -> float:
    """This process's resident-set high-water mark since exec, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (the scale benchmark needs Linux)")


def main(raw_dir: Path, work_dir: Path, params: dict) -> dict:
    from tilescan.encode import encode_tiles, open_output
    from tilescan.model import build_autoencoder
    from tilescan.prepare import PrepareConfig, prepare_split

    config = PrepareConfig(**params["prepare"])
    start = time.perf_counter()
    result = prepare_split(raw_dir, "npy", "train", config, work_dir / "train.npy")
    prepare_seconds = time.perf_counter() - start
    rss_after_prepare = peak_rss_mb()

    shape = params["model"]
    encoder, decoder, _ = build_autoencoder(**shape)
    tiles = np.load(work_dir / "train.npy", mmap_mode="r")
    latents = open_output(work_dir / "latents.npy", (len(tiles), shape["latent_dim"]))
    errors = open_output(work_dir / "recon_error.npy", (len(tiles),))
    start = time.perf_counter()
    encode_tiles(encoder, decoder, tiles, shape["channels"], params["encode_batch_size"], latents, errors)
    latents.flush()
    encode_seconds = time.perf_counter() - start
    return {"n_read": len(result.kept) + len(result.skipped), "n_kept": len(result.kept),
            "n_encoded": int(len(tiles)), "prepare_seconds": prepare_seconds, "encode_seconds": encode_seconds,
            "main_process_peak_rss_mb_after_prepare": rss_after_prepare,
            "main_process_peak_rss_mb": peak_rss_mb()}


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3]))), flush=True)
