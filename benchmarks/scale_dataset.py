"""A Kaggle-size DDSM dataset in the release's real schema, for the end-to-end scale benchmark (issue 13).

Five `training10_<k>.tfrecords` files (tf.train.Example: int64 `label` 0-4, int64 `label_normal`, `image` the
raw 299 x 299 uint8 bytes; no `filename`, so ids are `<file stem>-<record position>`), about 87% class 0 as in
the release, plus `cv10` / `test10` npy pairs (each VAL_SHARE of the record count) and `annotations.csv`
(id, annotation) for the class-0 training records. Pixels come from the project's synthetic generator
(`tilescan.synth`, lettering included): a pool of rendered tiles, each record one of them under its own flip,
rotation, gain and grain, so that no two records are equal. Record i depends only on (seed, i): a smaller
dataset's records are the first ones of a larger one. Written streaming, one record at a time; only the pool
is held in memory. A finished dataset carries `dataset.json` and is reused when the spec matches.
"""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np

RECORD_FILES = 5
NORMAL_SHARE = 0.87     # class 0 in the release's training records
VAL_SHARE = 0.025       # each npy pair (cv10, test10) holds this share of the record count
POOL_SIZE = 1200        # distinct rendered tiles (fewer for a dataset of fewer records)
SIDE = 299
SPEC_VERSION = 1
SPLIT_STREAMS = {"training10": 0, "cv10": 1, "test10": 2}


def render_pool(seed: int, pool_size: int, side: int, workers: int) -> tuple[list[np.ndarray], list[int], list[int]]:
    """(tiles, annotation flag per tile, class per tile) of the synthetic generator's first pool_size train plans."""
    from tilescan.parallel import chunked_map
    from tilescan.synth import plan_tile

    plans = [plan_tile(seed, "train", i, 0.04) for i in pool_indices(pool_size)]
    jobs = [(plan, seed, side) for plan in plans]
    tiles = [tile for _, tile in chunked_map(_render, jobs, workers)]
    return tiles, [plan.annotation for plan in plans], [plan.tile_class for plan in plans]


def pool_indices(pool_size: int) -> list[int]:
    """The generator's first pool_size train tiles; a smaller pool ends with the notebook's query tiles (always
    lettering), so that even a tiny dataset has lettering to evaluate."""
    from tilescan.synth import NOTEBOOK_QUERY_KINDS

    lettered = sorted(number - 1 for number in NOTEBOOK_QUERY_KINDS)
    if pool_size > lettered[-1]:
        return list(range(pool_size))
    return list(range(pool_size - len(lettered))) + lettered[: pool_size]


def _render(job) -> np.ndarray:
    from tilescan.synth import lettering_style, render_tile

    plan, seed, side = job
    return render_tile(plan, seed, side, lettering_style("default"))


def _record(pool: list[np.ndarray], by_class: dict[bool, np.ndarray], seed: int, stream: int, i: int
            ) -> tuple[int, int, np.ndarray]:
    """(label, pool index, pixels) of record i of a stream: a pool tile of the drawn class, varied."""
    rng = np.random.default_rng([seed, stream, i])
    label = 0 if rng.random() < NORMAL_SHARE else int(rng.integers(1, 5))
    choices = by_class[label == 0]
    source = int(choices[rng.integers(len(choices))])
    tile = np.rot90(pool[source], int(rng.integers(4)))
    if rng.random() < 0.5:
        tile = tile[:, ::-1]
    gain = rng.uniform(0.9, 1.1)
    grain = rng.integers(-3, 4, tile.shape, dtype=np.int16)
    pixels = np.clip(np.rint(tile * gain) + grain, 0, 255).astype(np.uint8)
    return label, source, pixels


def _example(label: int, pixels: np.ndarray) -> bytes:
    import tensorflow as tf

    def int64(value: int):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    features = {"label": int64(label), "label_normal": int64(int(label != 0)),
                "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[pixels.tobytes()]))}
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def _write_npy_pair(out_dir: Path, prefix: str, n: int, pool, by_class, seed: int) -> None:
    header = {"descr": "|u1", "fortran_order": False, "shape": (n, SIDE, SIDE, 1)}
    labels = np.zeros(n, np.int64)
    with open(out_dir / f"{prefix}_data.npy", "wb") as data:
        np.lib.format.write_array_header_1_0(data, header)
        for i in range(n):
            labels[i], _, pixels = _record(pool, by_class, seed, SPLIT_STREAMS[prefix], i)
            data.write(pixels.tobytes())
    np.save(out_dir / f"{prefix}_labels.npy", labels, allow_pickle=False)


def spec(n_records: int, seed: int) -> dict:
    return {"version": SPEC_VERSION, "records": n_records, "seed": seed, "record_files": RECORD_FILES,
            "val_records_each": max(1, round(n_records * VAL_SHARE)), "pool_size": min(POOL_SIZE, n_records),
            "side": SIDE}


def ensure_dataset(out_dir: Path, n_records: int, seed: int, workers: int = 2, log=print) -> Path:
    """out_dir holding the dataset of n_records records (written now unless a finished one with the same spec is
    there). Written into out_dir.partial, then renamed: an interrupted run leaves no half dataset behind."""
    wanted = spec(n_records, seed)
    marker = out_dir / "dataset.json"
    if marker.is_file() and json.loads(marker.read_text()) == wanted:
        log(f"dataset of {n_records} records already in {out_dir}")
        return out_dir
    import tensorflow as tf

    partial = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.rmtree(out_dir, ignore_errors=True)
    partial.mkdir(parents=True)
    pool, annotation, classes = render_pool(seed, wanted["pool_size"], SIDE, workers)
    normal = np.array(classes) == 0
    by_class = {flag: np.flatnonzero(normal == flag) if (normal == flag).any() else np.arange(len(pool))
                for flag in (True, False)}  # a tiny pool may lack one kind
    bounds = np.linspace(0, n_records, RECORD_FILES + 1).round().astype(int)
    with open(partial / "annotations.csv", "w", newline="") as labels_file:
        labels = csv.writer(labels_file)
        labels.writerow(["id", "annotation"])
        for k in range(RECORD_FILES):
            stem = f"training10_{k}"
            with tf.io.TFRecordWriter(str(partial / f"{stem}.tfrecords")) as writer:
                for position, i in enumerate(range(bounds[k], bounds[k + 1])):
                    label, source, pixels = _record(pool, by_class, seed, SPLIT_STREAMS["training10"], i)
                    writer.write(_example(label, pixels))
                    if label == 0:
                        labels.writerow([f"{stem}-{position}", annotation[source]])
            log(f"wrote {stem}.tfrecords ({bounds[k + 1] - bounds[k]} records)")
    for prefix in ("cv10", "test10"):
        _write_npy_pair(partial, prefix, wanted["val_records_each"], pool, by_class, seed)
    (partial / "dataset.json").write_text(json.dumps(wanted, indent=1) + "\n")
    partial.rename(out_dir)
    return out_dir
