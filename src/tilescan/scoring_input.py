"""The tiles as scoring sees them: the raw class-0 tiles at full resolution, read at prepare's bit depth; the
image statistics (stage features) see them through the tone curve, the lettering detector (stage
train_detector) as they are.

The prepared arrays (the autoencoder's input, the report's pictures) and prepare's black rule keep the raw tone
too.

The tone curve `255 * (v / 255) ** data.tone_gamma` with a gamma below 1 lifts the dark levels: faint digits
and letters on the black film margin rise above it, while bright strokes on tissue barely change. It lifts the
statistics (fixed grey levels) on real film and on the cross-check style; the detector, trained on curved tiles,
gained little and lost without queries on the cross-check style (docs/experiments.md, "The tone curve").
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from tilescan import artifacts
from tilescan.params import Params
from tilescan.readers import TileRef, iter_tiles, list_splits, resolve_input


def tone_table(gamma: float) -> np.ndarray | None:
    """The uint8 look-up table of the tone curve, or None for gamma 1 (tiles unchanged)."""
    if gamma == 1:
        return None
    levels = np.arange(256, dtype=np.float64) / 255
    return np.rint(255 * levels ** gamma).astype(np.uint8)


def detector_tiles(params: Params) -> Iterator[tuple[TileRef, np.ndarray]]:
    """(ref, uint8 tile) for every tile of params.prepare.keep_class in the raw splits (train first, in file
    order; a held-out val share lies in raw train), read at the bit depth prepare used
    (data/prepared/pixels.json)."""
    raw_dir, fmt = resolve_input(params.data.raw_dir, params.data.format)
    bit_depth = artifacts.load_bit_depth()
    for split in list_splits(raw_dir, fmt):
        yield from iter_tiles(raw_dir, fmt, split, params.prepare.keep_class, params.prepare.on_unreadable,
                              bit_depth=bit_depth)


def statistics_tiles(params: Params) -> Iterator[tuple[TileRef, np.ndarray]]:
    """detector_tiles through the tone curve of data.tone_gamma."""
    table = tone_table(params.data.tone_gamma)
    for ref, image in detector_tiles(params):
        yield ref, image if table is None else table[image]
