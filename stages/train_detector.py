"""Stage train_detector: train the lettering detector on the class-0 train tiles (self-supervised: synthetic
lettering composited onto a seeded sample of them; query tiles as extra positives), then the lettering
probability of every prepared tile. Tiles are read from data.raw_dir at full resolution: the prepared arrays
are shrunk for the autoencoder (64 px), too small for an 8-px digit."""
import tilescan.pinned  # noqa: F401  (first: pins the math before NumPy/TF load; see tilescan/runtime.py)

# isort: split
import time

import numpy as np

from tilescan import artifacts
from tilescan.atomic import staged_outputs
from tilescan.cluster import query_positions
from tilescan.detect import DetectorConfig, predict_stream, train_detector
from tilescan.params import Params
from tilescan.readers import iter_tiles, resolve_input
from tilescan.stage import query_source, run_stage
from tilescan.tiles import sample_rows


def main(params: Params) -> str:
    raw_dir, fmt = resolve_input(params.data.raw_dir, params.data.format)
    settings = params.train_detector
    config = DetectorConfig(seed=params.common.seed, n_examples=settings.n_examples, epochs=settings.epochs,
                            crop_size=settings.crop_size, input_size=settings.input_size, views=settings.views,
                            query_share=settings.query_share,
                            batch_size=settings.batch_size, learning_rate=settings.learning_rate,
                            label_smoothing=settings.label_smoothing, distractor_rate=settings.distractor_rate,
                            workers=settings.workers)
    index = artifacts.load_index()
    ids = index["id"].tolist()
    query_rows = query_positions(ids, list(params.knn_report.queries), query_source(params))
    train_rows = np.flatnonzero(index["split"].to_numpy() == "train")
    base_rows = sample_rows(train_rows, settings.max_base_tiles, params.common.seed)  # bounded backgrounds

    position_of = {tile_id: i for i, tile_id in enumerate(ids)}

    def tiles(positions=None):
        """(position, full-resolution tile) in index order, only those in positions (all when None); reading
        stops once the last of positions is found."""
        wanted = None if positions is None else set(positions.tolist())
        for split in artifacts.SPLITS:
            for ref, image in iter_tiles(raw_dir, fmt, split, params.prepare.keep_class, params.prepare.on_unreadable):
                at = position_of.get(ref.id)
                if at is not None and (wanted is None or at in wanted):
                    yield at, image
                    if wanted is not None:
                        wanted.discard(at)
                        if not wanted:
                            return

    read = dict(tiles(np.union1d(base_rows, query_rows)))
    detector, summary, timing = train_detector([read[p] for p in base_rows], [read[p] for p in query_rows], config)
    del read
    start = time.perf_counter()
    probability = np.full(len(ids), np.nan, np.float32)
    for position, value in predict_stream(detector, tiles(), total=len(ids)):
        probability[position] = value
    if np.isnan(probability).any():
        raise RuntimeError(f"train_detector: {int(np.isnan(probability).sum())} prepared tiles not found in {raw_dir}")
    seconds = time.perf_counter() - start
    with staged_outputs(artifacts.DETECTOR_WEIGHTS, artifacts.DETECTOR, artifacts.METRICS_FILES["detector"]) as (
            weights, out_dir, metrics_file):
        out_dir.mkdir()
        detector.save_weights(weights)
        np.save(out_dir / artifacts.DETECTOR_PROBABILITY.name, probability, allow_pickle=False)
        artifacts.write_metrics(metrics_file, {**summary, "base_tiles": int(len(base_rows)),
                                               "query_tiles": int(len(query_rows)), "tiles_scored": len(ids)})
    return (f"train_detector: {summary['examples']} examples on {len(base_rows)} tiles "
            f"({len(query_rows)} queries), loss {summary['loss']:.4f} in {timing['composite_seconds']:.0f} s "
            f"compositing + {timing['fit_seconds']:.0f} s fitting; {len(ids)} tiles scored at "
            f"{len(ids) / seconds:.0f} tiles/s, {int((probability >= 0.5).sum())} with p >= 0.5 -> "
            f"{artifacts.DETECTOR_PROBABILITY}")


if __name__ == "__main__":
    run_stage(main)
