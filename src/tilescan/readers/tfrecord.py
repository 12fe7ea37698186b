"""The Kaggle "DDSM Mammography" release: `training10_*.tfrecords` (split "train"), npy pairs beside them ("val").

Each record is a tf.train.Example with `label` (int64, 0 normal, 1..4 abnormal), `label_normal` (int64,
unused), `image` (raw uint8 bytes of a square tile) and, in some versions, `filename` (bytes). Records are
streamed with tf.data one file at a time; TensorFlow is imported only when records are read (it takes
seconds to import).
"""
from __future__ import annotations

import functools
import itertools
import math
import re
from pathlib import Path
from typing import Iterator

import numpy as np

from tilescan.errors import TilescanError, require
from tilescan.readers import npy
from tilescan.readers._types import DDSM_CLASSES, Entry, TileRef
from tilescan.runtime import configure_tensorflow

_RECORD_FRAMING_BYTES = 16  # per record: uint64 length, its masked CRC32, then the data's masked CRC32
BATCH = 256  # records parsed per tf.data round trip


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
    """Yield one entry per record; the id is the `filename` feature, else `<file stem>-<record position>`.

    Records are parsed by tf.data in batches of BATCH (one Python round trip per record costs more than the
    parsing at 55,890 records); the pixels stay raw bytes until an entry is loaded. When a batch fails, the file
    is read again one record at a time from there, so the error names the failing record's position."""
    first_seen: dict[str, str] = {}
    for path in paths:
        position = read_bytes = 0
        for label, raw, name, size in _parsed_records(path):
            filename = f"{path.name}#{position}"
            require(int(label) in DDSM_CLASSES,
                    f"{path}: record {position}: label {int(label)} is outside the DDSM classes 0-4")
            tile_id = name.decode("utf-8", "replace") or f"{path.stem}-{position}"
            require(tile_id not in first_seen,
                    f"{path}: record {position}: duplicate tile id {tile_id!r} (first at {first_seen.get(tile_id)})")
            first_seen[tile_id] = filename
            ref = TileRef(id=tile_id, filename=filename, split=split, label=int(label))
            yield ref, functools.partial(_square_tile, raw)
            position += 1
            read_bytes += int(size) + _RECORD_FRAMING_BYTES
        # TFRecordDataset stops without an error when a file ends inside a record's length header.
        trailing = path.stat().st_size - read_bytes
        require(trailing == 0, f"{path}: record {position}: truncated or corrupt tfrecord file "
                               f"({trailing} bytes after the last complete record)")


def _parsed_records(path: Path) -> Iterator[tuple[int, bytes, bytes, int]]:
    """(label, image bytes, filename bytes, serialized size) of every record of one file, in order."""
    import tensorflow as tf

    configure_tensorflow()  # the first TF op of a stage may be here: pin the thread pools before it

    features = {
        "label": tf.io.FixedLenFeature([], tf.int64),
        "label_normal": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
        "image": tf.io.FixedLenFeature([], tf.string),
        "filename": tf.io.FixedLenFeature([], tf.string, default_value=b""),
    }

    def parse(serialized):
        example = tf.io.parse_example(serialized, features)
        return example["label"], example["image"], example["filename"], tf.strings.length(serialized, unit="BYTE")

    records = tf.data.TFRecordDataset(str(path))
    done = 0
    try:
        for labels, images, names, sizes in records.batch(BATCH).map(parse).prefetch(2):
            batch = zip(labels.numpy().tolist(), images.numpy().tolist(), names.numpy().tolist(),
                        sizes.numpy().tolist())
            for record in batch:
                yield record
                done += 1
    except tf.errors.OpError:
        # A sequential, unbatched read keeps record order, so the records read so far give the position.
        serialized_records = iter(records)
        for position in itertools.count():
            try:
                serialized = next(serialized_records)
                if position < done:  # yielded by the batched read
                    continue
                label, image, name, size = parse(serialized[None])
            except StopIteration:
                return
            except tf.errors.OpError as exc:
                raise TilescanError(f"{path}: record {position}: {_describe(exc)}") from None
            yield int(label[0]), image[0].numpy(), name[0].numpy(), int(size[0])


def _square_tile(pixels: bytes) -> np.ndarray:
    """Reshape a record's raw uint8 bytes into its side x side tile."""
    values = np.frombuffer(pixels, dtype=np.uint8)
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
