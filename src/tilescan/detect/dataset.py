"""The detector on a prepared dataset: its settings from params.yaml, the full-resolution tiles it reads, and
one training + scoring pass (the train_detector stage's work, which `make review-curve` repeats per round).

Tiles are read from data.raw_dir at full resolution and raw tone (tilescan.scoring_input.detector_tiles): the
prepared arrays are shrunk for the autoencoder (64 px), too small for an 8-px digit."""
from __future__ import annotations

import time
from typing import Callable, Iterator

import numpy as np

from tilescan.detect.train import DetectorConfig, predict_stream, train_detector
from tilescan.params import Params
from tilescan.scoring_input import detector_tiles
from tilescan.tiles import sample_rows


def detector_config(params: Params) -> DetectorConfig:
    """DetectorConfig from params.yaml's train_detector section and common.seed."""
    settings = params.train_detector
    return DetectorConfig(seed=params.common.seed, n_examples=settings.n_examples, epochs=settings.epochs,
                          crop_size=settings.crop_size, input_size=settings.input_size, views=settings.views,
                          edge_padding=settings.edge_padding, tile_padding=settings.tile_padding,
                          query_share=settings.query_share, batch_size=settings.batch_size,
                          learning_rate=settings.learning_rate, label_smoothing=settings.label_smoothing,
                          distractor_rate=settings.distractor_rate, workers=settings.workers,
                          members=settings.members, local_contrast_members=settings.local_contrast_members)


def tile_reader(params: Params, ids: list[str]) -> Callable[..., Iterator[tuple[int, np.ndarray]]]:
    """tiles(positions=None): (position in ids, full-resolution raw tile) in index order, only those
    in positions (all when None); reading stops once the last of positions is found."""
    position_of = {tile_id: i for i, tile_id in enumerate(ids)}

    def tiles(positions: np.ndarray | None = None) -> Iterator[tuple[int, np.ndarray]]:
        wanted = None if positions is None else set(positions.tolist())
        for ref, image in detector_tiles(params):
            at = position_of.get(ref.id)
            if at is not None and (wanted is None or at in wanted):
                yield at, image
                if wanted is not None:
                    wanted.discard(at)
                    if not wanted:
                        return
    return tiles


def train_and_score(params: Params, index, lettering_rows: np.ndarray, not_lettering_rows: np.ndarray):
    """Train the detector on a seeded sample of the train tiles (train_detector.max_base_tiles), with the known
    lettering rows as extra positives and the not-lettering rows as extra negatives; with
    train_detector.pseudo_positives, train it again with its surest base tiles as known lettering too
    (`surest_rows`). Then the lettering probability of every tile of the prepared index.
    Returns (detector, probability, summary, timing)."""
    ids = index["id"].tolist()
    train_rows = np.flatnonzero(index["split"].to_numpy() == "train")
    base_rows = sample_rows(train_rows, params.train_detector.max_base_tiles, params.common.seed)
    tiles = tile_reader(params, ids)
    read = dict(tiles(np.union1d(np.union1d(base_rows, lettering_rows), not_lettering_rows)))
    base, known = [read[p] for p in base_rows], [read[p] for p in lettering_rows]
    negatives, config = [read[p] for p in not_lettering_rows], detector_config(params)
    detector, summary, timing, examples = train_detector(base, known, config, negatives)
    pseudo_rows = np.zeros(0, np.int64)
    if params.train_detector.pseudo_positives:
        start = time.perf_counter()
        candidates = np.setdiff1d(base_rows, np.union1d(lettering_rows, not_lettering_rows))
        pseudo_rows = surest_rows(detector, config, read, candidates, params.train_detector.pseudo_positives)
        selected = time.perf_counter() - start
        detector, summary, again, _ = train_detector(base, known + [read[p] for p in pseudo_rows], config, negatives,
                                                     reuse=examples)
        timing = {key: round(timing[key] + again[key], 1) for key in timing} | {"pseudo_seconds": round(selected, 1)}
    del read, examples
    start = time.perf_counter()
    probability = np.full(len(ids), np.nan, np.float32)
    for position, value in predict_stream(detector, tiles(), total=len(ids)):
        probability[position] = value
    if np.isnan(probability).any():
        raise RuntimeError(f"train_detector: {int(np.isnan(probability).sum())} prepared tiles not found in "
                           f"{params.data.raw_dir}")
    timing["score_seconds"] = round(time.perf_counter() - start, 1)
    summary = {**summary, "base_tiles": int(len(base_rows)), "pseudo_positive_tiles": [ids[p] for p in pseudo_rows]}
    return detector, probability, summary, timing


def surest_rows(detector, config: DetectorConfig, read: dict[int, np.ndarray], candidates: np.ndarray,
                count: int) -> np.ndarray:
    """The `count` candidate rows a first detector is surest show lettering (one view per member, highest
    probability first, ties by row): the self-training's pseudo-positives."""
    from tilescan.detect.model import build_detector
    from tilescan.detect.train import core_name

    cores = [detector.get_layer(core_name(member)) for member in range(config.members)]
    one_view = build_detector(cores, config.input_size, views=config.members, tile_padding=config.tile_padding)
    probability = np.array([p for _, p in predict_stream(one_view, ((row, read[row]) for row in candidates),
                                                         total=len(candidates))], np.float64)
    return candidates[np.argsort(-probability, kind="stable")[:count]].astype(np.int64)
