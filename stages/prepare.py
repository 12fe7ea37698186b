"""Stage prepare: raw dataset -> resized uint8 arrays (train, val) + index (mostly-black tiles marked)."""
import tilescan.pinned  # noqa: F401  (first: pins the math before NumPy/TF load; see tilescan/runtime.py)

# isort: split
from tilescan import artifacts
from tilescan.atomic import staged_outputs
from tilescan.params import Params
from tilescan.prepare import PrepareConfig, prepare_dataset
from tilescan.readers import resolve_input
from tilescan.stage import run_stage


def main(params: Params) -> str:
    raw_dir, fmt = resolve_input(params.data.raw_dir, params.data.format)
    config = PrepareConfig(img_size=params.common.img_size, keep_class=params.prepare.keep_class,
                           black_level=params.prepare.black_level,
                           max_black_fraction=params.prepare.max_black_fraction,
                           on_unreadable=params.prepare.on_unreadable, workers=params.prepare.workers,
                           val_fraction=params.data.val_fraction, seed=params.common.seed,
                           bit_depth=params.data.bit_depth)
    with staged_outputs(artifacts.PREPARED, artifacts.METRICS_FILES["prepare"]) as (out_dir, metrics_file):
        out_dir.mkdir()
        index, dropped, metrics = prepare_dataset(raw_dir, fmt, config, out_dir)
        index.to_csv(out_dir / artifacts.PREPARED_INDEX.name, index=False)
        dropped.to_csv(out_dir / artifacts.PREPARED_DROPPED.name, index=False)
        artifacts.write_metrics(metrics_file, metrics)
        artifacts.write_metrics(out_dir / artifacts.PREPARED_PIXELS.name, {"bit_depth": metrics["bit_depth"]["used"]})
    counts = metrics["splits"]
    black = sum(c["dropped_black"] for c in counts.values())
    return (f"prepare: {fmt} -> {len(index)} tiles of {config.img_size}x{config.img_size} in {artifacts.PREPARED} "
            f"({counts['train']['kept']} train, {counts['val']['kept']} val); {black} mostly black (scored, "
            f"not used to train the autoencoder), "
            f"skipped {len(metrics['skipped_ids'])} unreadable")


if __name__ == "__main__":
    run_stage(main)
