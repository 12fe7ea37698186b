"""The Kaggle "DDSM Mammography" release: `training10_*.tfrecords` (split "train"), npy pairs beside them ("val").

Each record is a tf.train.Example with `label` (int64, 0 normal, 1..4 abnormal), `label_normal` (int64,
unused), `image` (raw uint8 bytes of a square tile) and, in some versions, `filename` (bytes). Records are
streamed with tf.data one file at a time; TensorFlow is imported only when records are read (it takes
seconds to import).
"""
from __future__ import annotations

import functools
import math
import re
from pathlib import Path
from typing import Iterator

import numpy as np

from tilescan.errors import TilescanError, require
from tilescan.readers import npy
from tilescan.readers._types import DDSM_CLASSES, Entry, TileRef

_RECORD_FRAMING_BYTES = 16  # per record: uint64 length, its masked CRC32, then the data's masked CRC32


def tfrecord_files(raw_dir: Path) -> list[Path]:
    return sorted(path for path in raw_dir.glob("*.tfrecords") if path.is_file())


# The layout interface (readers._types.Layout): splits, entries, count.

def splits(raw_dir: Path) -> list[str]:
    return (["train"] if tfrecord_files(raw_dir) else []) + (["val"] if npy.present_prefixes(raw_dir) else [])


def entries(raw_dir: Path, split: str) -> Iterator[Entry]:
    if split == "val":
        return npy.pairs_entries(raw_dir, npy.present_prefixes(raw_dir), split)
    return _record_entries(tfrecord_files(raw_dir), split)


def count(raw_dir: Path, split: str, keep_class: int | None) -> int | None:
    if split == "val":
        return npy.pairs_count(raw_dir, npy.present_prefixes(raw_dir), keep_class)
    return None  # only known after reading every record


def _record_entries(paths: list[Path], split: str) -> Iterator[Entry]:
    """Yield one entry per record; the id is the `filename` feature, else `<file stem>-<record position>`."""
    import tensorflow as tf

    features = {
        "label": tf.io.FixedLenFeature([], tf.int64),
        "label_normal": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
        "image": tf.io.FixedLenFeature([], tf.string),
        "filename": tf.io.FixedLenFeature([], tf.string, default_value=b""),
    }

    def parse(serialized):
        example = tf.io.parse_single_example(serialized, features)
        decoded = (example["label"], tf.io.decode_raw(example["image"], tf.uint8), example["filename"])
        return decoded + (tf.strings.length(serialized, unit="BYTE"),)

    first_seen: dict[str, str] = {}
    for path in paths:
        # A sequential map keeps record order, so the records yielded so far give a failing record's position.
        records = iter(tf.data.TFRecordDataset(str(path)).map(parse).prefetch(tf.data.AUTOTUNE))
        position = read_bytes = 0
        while True:
            try:
                label, pixels, name, size = next(records)
            except StopIteration:
                break
            except tf.errors.OpError as exc:
                raise TilescanError(f"{path}: record {position}: {_describe(exc)}") from None
            filename = f"{path.name}#{position}"
            require(int(label) in DDSM_CLASSES,
                    f"{path}: record {position}: label {int(label)} is outside the DDSM classes 0-4")
            tile_id = name.numpy().decode("utf-8", "replace") or f"{path.stem}-{position}"
            require(tile_id not in first_seen,
                    f"{path}: record {position}: duplicate tile id {tile_id!r} (first at {first_seen.get(tile_id)})")
            first_seen[tile_id] = filename
            ref = TileRef(id=tile_id, filename=filename, split=split, label=int(label))
            yield ref, functools.partial(_square_tile, pixels)
            position += 1
            read_bytes += int(size) + _RECORD_FRAMING_BYTES
        # TFRecordDataset stops without an error when a file ends inside a record's length header.
        trailing = path.stat().st_size - read_bytes
        require(trailing == 0, f"{path}: record {position}: truncated or corrupt tfrecord file "
                               f"({trailing} bytes after the last complete record)")


def _square_tile(pixels) -> np.ndarray:
    """Reshape a record's raw uint8 bytes into its side x side tile."""
    values = pixels.numpy()
    side = math.isqrt(values.size)
    require(values.size > 0 and side * side == values.size,
            f"image holds {values.size} bytes, not a square 8-bit tile (side x side)")
    return values.reshape(side, side)


def _describe(exc) -> str:
    import tensorflow as tf

    detail = (exc.message or type(exc).__name__).strip().splitlines()[0]
    # Drop TF's plumbing around the cause: "{{function_node ...}}", "... Iterator::Root::Map: ", "[Op:...]".
    detail = re.sub(r"\{\{.*?\}\}\s*", "", detail)
    detail = re.sub(r"^.*Iterator::[\w:]+:\s*", "", detail)
    detail = re.sub(r"'? failed with (.*?)\s*\[Op:\w+\].*$", r" (\1)", detail)
    detail = re.sub(r"\s*\[Op:\w+\].*$", "", detail)
    if isinstance(exc, tf.errors.DataLossError):
        return f"truncated or corrupt tfrecord file ({detail})"
    if isinstance(exc, tf.errors.InvalidArgumentError):
        return f"not a DDSM tf.train.Example (needs int64 'label' and bytes 'image'): {detail}"
    return f"unreadable ({type(exc).__name__}: {detail})"
