"""Self-supervised training of the lettering detector on a dataset's own class-0 tiles, and inference.

Training runs on crops (`crop_size` model pixels; positives cropped around their lettering), which the
fully-convolutional core allows and which is ~3x cheaper than whole tiles. Positives: base tiles with synthetic
lettering composited onto them (`composite.make_example`), plus the user's query tiles and reviewed lettering
tiles (known lettering) under flips, rotations and the scan look. Negatives: base tiles as they are or with a hard
negative drawn on, plus the tiles a reviewer marked "not lettering" (the look-alikes this dataset really has)
under the same flips and scan look. Real lettering tiles among the base tiles are label noise; label smoothing
keeps them from being fitted hard. The work is bounded: a fixed number of examples is drawn (`n_examples`)
whatever the dataset size.

Every example draws from its own generator, seeded by (seed, example number), so the training set is the same
whatever the number of worker processes that composite it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import numpy as np
from scipy import ndimage
from tqdm import tqdm

from tilescan.detect.composite import augment_geometry, crop_around, make_example, scan_degrade
from tilescan.parallel import chunked_map

KNOWN_KINDS = ("query", "reviewed_negative")  # examples drawn from a user's own known tiles, not composited


@dataclass(frozen=True)
class DetectorConfig:
    """Every number of detector training (params.yaml `train_detector`, seed from `common.seed`)."""

    seed: int = 42
    n_examples: int = 12000       # examples drawn in all (half positive), independent of dataset size
    epochs: int = 1               # passes over the examples (drawn once, reshuffled each pass)
    crop_size: int = 96           # training crops, in model pixels
    input_size: int = 160         # a whole tile is shrunk to this many pixels a side at inference
    views: int = 2                # inference averages over the tile and its mirror image (1, 2 or 4 views)
    edge_padding: int = 0         # model pixels the network mirrors each image past its border (0: zero padding)
    tile_padding: int = 8         # model pixels a whole tile is mirrored past its border at inference
    query_share: float = 0.1      # share of the positives that are known lettering tiles (queries, reviewed 1),
                                  # and of the negatives that are reviewed "not lettering" tiles, when there are any
    batch_size: int = 32
    learning_rate: float = 1e-3
    label_smoothing: float = 0.1
    distractor_rate: float = 0.5  # share of examples (positive and negative alike) with a hard negative drawn
    workers: int = 2              # processes compositing examples
    members: int = 1              # cores fitted to the same examples (seeds seed, seed + 1, ...); view k is
                                  # scored by core k mod members, so more members cost training, not inference
    local_contrast_members: int = 0  # the last this many members also see a local-contrast channel


def _busiest_point(tile: np.ndarray, rng: np.random.Generator) -> tuple[int, int]:
    """A random pixel among the 0.5% of highest local contrast: where a known tile's lettering (or look-alike)
    likely is."""
    contrast = np.abs(tile.astype(np.float32) - ndimage.median_filter(tile, 7))
    ys, xs = np.nonzero(contrast >= np.quantile(contrast, 0.995))
    i = int(rng.integers(len(ys)))
    return int(ys[i]), int(xs[i])


def crop_pixels(tile_side: int, config: DetectorConfig) -> int:
    """Side of a training crop in tile pixels (crop_size model pixels at the detector's shrink factor)."""
    return min(tile_side, int(round(config.crop_size * tile_side / config.input_size)))


def _example(job: tuple) -> tuple[np.ndarray, str]:
    """One training crop from (tile, seed, number, kind, side, distractor_rate); kind: positive, negative, query
    (a known lettering tile) or reviewed_negative (a tile marked not lettering), the last two drawn as they are."""
    tile, seed, number, kind, side, distractor_rate = job
    rng = np.random.default_rng([seed, number])
    if kind in KNOWN_KINDS:
        image = scan_degrade(augment_geometry(tile, rng), rng)
        where, drawn = _busiest_point(image, rng), kind
    else:
        image, drawn, where = make_example(tile, rng, kind == "positive", distractor_rate)
    return crop_around(image, side, rng, where), drawn


def example_plan(n_tiles: int, n_queries: int, config: DetectorConfig, n_reviewed_negatives: int = 0
                 ) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(labels, kinds, source rows) of the n_examples: the first half positive (query_share of them query
    tiles when there are any), the rest negative (query_share of them reviewed negatives when there are any);
    base rows drawn with replacement from `config.seed`, so without reviewed negatives the plan is unchanged."""
    n = config.n_examples
    n_positive = n // 2
    labels = np.zeros(n, np.float32)
    labels[:n_positive] = 1.0
    n_query = int(round(config.query_share * n_positive)) if n_queries else 0
    n_reviewed = int(round(config.query_share * (n - n_positive))) if n_reviewed_negatives else 0
    kinds = (["query"] * n_query + ["positive"] * (n_positive - n_query)
             + ["reviewed_negative"] * n_reviewed + ["negative"] * (n - n_positive - n_reviewed))
    rows = np.random.default_rng(config.seed).integers(0, n_tiles, size=n)
    rows[:n_query] = np.arange(n_query) % max(n_queries, 1)
    rows[n_positive:n_positive + n_reviewed] = np.arange(n_reviewed) % max(n_reviewed_negatives, 1)
    return labels, kinds, rows


TrainingSet = tuple[np.ndarray, np.ndarray, list[str]]  # crops N x C x C uint8, labels N, descriptions


def make_training_set(tiles: list[np.ndarray], query_tiles: list[np.ndarray], config: DetectorConfig,
                      reviewed_negatives: Sequence[np.ndarray] = (), reuse: TrainingSet | None = None
                      ) -> TrainingSet:
    """(crops N x C x C uint8, labels N, descriptions such as "dark_tag+dust"), deterministic from config.seed.
    reuse: a set made from the same tiles, config and reviewed negatives with fewer query tiles; only the query
    examples are drawn again (every other example would come out the same: each draws from its own generator)."""
    side = crop_pixels(min(min(t.shape) for t in [*tiles, *query_tiles, *reviewed_negatives]), config)
    labels, kinds, rows = example_plan(len(tiles), len(query_tiles), config, len(reviewed_negatives))
    source = {"query": query_tiles, "reviewed_negative": reviewed_negatives}
    if reuse is None:
        crops, drawn, redraw = np.empty((len(labels), side, side), np.uint8), [""] * len(labels), range(len(labels))
    else:
        crops, drawn = reuse[0].copy(), list(reuse[2])
        redraw = [i for i, kind in enumerate(kinds) if kind == "query" or drawn[i] == "query"]
    jobs = ((source.get(kinds[i], tiles)[rows[i]], config.seed, i, kinds[i], side, config.distractor_rate)
            for i in redraw)
    with tqdm(total=len(redraw), desc="composite", unit="example", mininterval=2.0) as bar:
        for job, (crop, what) in chunked_map(_example, jobs, config.workers):
            crops[job[2]], drawn[job[2]] = crop, what  # job[2]: the example's number
            bar.update()
    return crops, labels, drawn


def train_detector(tiles: list[np.ndarray], query_tiles: list[np.ndarray], config: DetectorConfig,
                   reviewed_negatives: Sequence[np.ndarray] = (), reuse: TrainingSet | None = None):
    """Train a detector on `tiles` (class-0 uint8 tiles), `query_tiles` (known lettering; may be empty) and
    `reviewed_negatives` (tiles marked not lettering; may be empty); reuse: an earlier training set of the same
    tiles (make_training_set). With config.members > 1, that many cores are fitted to the same examples and the
    detector's views are shared among them. Returns (detector, summary, timing, training set). Deterministic for
    a given seed and inputs."""
    # Here, not at the top: the compositing workers import this module and must not load Keras (~600 MB each).
    import tensorflow as tf

    from tilescan.detect.model import build_detector  # pins TensorFlow's threads before the first op

    tf.config.experimental.enable_op_determinism()
    start = time.perf_counter()
    images, labels, drawn = make_training_set(tiles, query_tiles, config, reviewed_negatives, reuse)
    composited = time.perf_counter()
    cores, histories = [], []
    for member in range(config.members):
        core, history = _fit_core(images, labels, config, member)
        cores.append(core)
        histories.append(history)
    end = time.perf_counter()
    losses = [round(float(history["loss"][-1]), 6) for history in histories]
    summary = {"examples": len(images), "query_examples": drawn.count("query"),
               "reviewed_negative_examples": drawn.count("reviewed_negative"),
               "epochs": config.epochs, "members": config.members, "loss": round(float(np.mean(losses)), 6),
               "member_losses": losses,
               "accuracy": round(float(np.mean([history["accuracy"][-1] for history in histories])), 6)}
    timing = {"composite_seconds": round(composited - start, 1), "fit_seconds": round(end - composited, 1)}
    detector = build_detector(cores, config.input_size, config.views, config.tile_padding)
    return detector, summary, timing, (images, labels, drawn)


def _fit_core(images: np.ndarray, labels: np.ndarray, config: DetectorConfig, member: int):
    """(core, its history) of one member: a fresh core fitted to the crops, its weights and the order of the
    examples seeded by config.seed + member (member 0 is the detector that members: 1 trains)."""
    import keras
    import tensorflow as tf

    from tilescan.exact_keras import BinaryCrossentropy

    seed = config.seed + member
    keras.utils.set_random_seed(seed)
    size, side = config.crop_size, images.shape[1]

    def gather(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return images[rows], labels[rows]

    def batch_of(rows):  # the crops stay in NumPy: a tensor copy of them would double their memory
        x, y = tf.numpy_function(gather, [rows], (tf.uint8, tf.float32), stateful=False)
        x = tf.reshape(x, (-1, side, side, 1))
        return tf.image.resize(tf.cast(x, tf.float32), (size, size), method="area"), tf.reshape(y, (-1, 1))

    # Shuffling row numbers gives the order that shuffling the crops themselves gave (same seed, same count);
    # each further epoch reshuffles, deterministically from the seed.
    data = (tf.data.Dataset.range(len(images))
            .shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
            .batch(config.batch_size)
            .map(batch_of)
            .prefetch(2))
    core = member_core(config, member)
    steps = int(np.ceil(len(images) / config.batch_size)) * config.epochs
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, steps)
    core.compile(optimizer=keras.optimizers.Adam(schedule),
                 loss=BinaryCrossentropy(label_smoothing=config.label_smoothing),
                 metrics=["accuracy"])
    label = "fit detector" if config.members == 1 else f"fit detector {member + 1}/{config.members}"
    with tqdm(total=steps, desc=label, unit="batch", mininterval=2.0) as bar:
        progress = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs=None: bar.update())
        history = core.fit(data, epochs=config.epochs, verbose=0, shuffle=False, callbacks=[progress])
    return core, history.history


def member_core(config: DetectorConfig, member: int):
    """A fresh (unfitted) core of the given member: the last config.local_contrast_members see local contrast."""
    from tilescan.detect.model import build_core

    return build_core(edge_padding=config.edge_padding, name=core_name(member),
                      local_contrast=member >= config.members - config.local_contrast_members)


def core_name(member: int) -> str:
    """The Keras name of a member's core: lettering_core, lettering_core_2, ..."""
    return "lettering_core" if member == 0 else f"lettering_core_{member + 1}"


def predict_stream(detector, items: Iterable[tuple[object, np.ndarray]], total: int | None = None,
                   batch_size: int = 16) -> Iterator[tuple[object, float]]:
    """(key, lettering probability) for each (key, uint8 tile) of a stream, in order; batches of same-sized
    tiles, so memory stays bounded whatever the stream's length. Small batches keep the feature maps in cache:
    16 scores 1.1x the tiles/s of 64 on 2 cores; the probabilities agree to a float32 rounding
    (docs/experiments.md, Session 17)."""
    import tensorflow as tf

    infer = tf.function(lambda x: detector(x, training=False), reduce_retracing=True)
    keys: list[object] = []
    batch: list[np.ndarray] = []

    def flush():
        out = infer(tf.cast(np.stack(batch)[..., None], tf.float32)).numpy()[:, 0]
        done = list(zip(keys, out.tolist()))
        keys.clear()
        batch.clear()
        return done

    with tqdm(total=total, desc="detector", unit="tile", mininterval=2.0) as bar:
        for key, tile in items:
            if batch and (len(batch) == batch_size or tile.shape != batch[0].shape):
                yield from flush()
            keys.append(key)
            batch.append(tile)
            bar.update()
        if batch:
            yield from flush()
