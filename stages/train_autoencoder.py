"""Stage train_autoencoder: fit the notebook's autoencoder on the prepared train tiles that are not mostly black
(val = test class 0, likewise), a seeded sample of at most max_train_tiles (max_val_tiles) of them."""
import tilescan.pinned  # noqa: F401  (first: pins the math before NumPy/TF load; see tilescan/runtime.py)

# isort: split
import hashlib

from tilescan import artifacts
from tilescan.atomic import staged_outputs
from tilescan.errors import TilescanError
from tilescan.params import Params
from tilescan.runtime import pins_in_force
from tilescan.stage import model_shape, run_stage
from tilescan.tiles import RowSubset, sample_rows
from tilescan.train import TrainConfig, train_autoencoder


def sample_record(index, available: dict, rows: dict) -> dict:
    """What trained the autoencoder: per split, the tiles available and used, and a digest of the used ids."""
    record = {}
    for split, used in rows.items():
        ids = index.loc[index["split"] == split].set_index("row").loc[used, "id"]
        record[split] = {"available": int(len(available[split])), "used": int(len(used)),
                         "ids_sha256": hashlib.sha256("\n".join(ids).encode()).hexdigest()}
    return record


def main(params: Params) -> str:
    shape, settings = model_shape(params), params.train_autoencoder
    config = TrainConfig(
        channels=shape["channels"], filters=shape["filters"], dense_units=shape["dense_units"],
        latent_dim=shape["latent_dim"], batch_size=settings.batch_size, epochs=settings.epochs,
        patience=settings.patience, learning_rate=settings.learning_rate, seed=params.common.seed,
        strategy=settings.strategy, mixed_precision=settings.mixed_precision)
    index = artifacts.load_index()
    limits = {"train": settings.max_train_tiles, "val": settings.max_val_tiles}
    available = {split: artifacts.autoencoder_rows(index, split) for split in limits}
    rows = {split: sample_rows(available[split], limits[split], params.common.seed) for split in limits}
    train_tiles, val_tiles = (RowSubset(artifacts.open_split(split), rows[split]) for split in limits)
    if train_tiles.shape[1] != shape["img_size"]:
        raise TilescanError(f"common.img_size is {shape['img_size']} but {artifacts.split_file('train')} holds "
                            f"{train_tiles.shape[1]}-pixel tiles: re-run prepare")
    outputs = (artifacts.MODEL_WEIGHTS, artifacts.METRICS_FILES["train"], artifacts.METRICS_FILES["runtime"],
               artifacts.TRAIN_LIVE)
    with staged_outputs(*outputs) as (weights, metrics_file, runtime_file, live_dir):
        _, _, autoencoder, summary = train_autoencoder(train_tiles, val_tiles, config, live_dir)
        autoencoder.save_weights(weights)
        artifacts.write_metrics(metrics_file, {**summary, "sample": sample_record(index, available, rows)})
        artifacts.write_metrics(runtime_file, pins_in_force())
    return (f"train_autoencoder: {summary['epochs_run']} epochs on {summary['train_tiles']} of "
            f"{len(available['train'])} tiles, "
            f"loss {summary['loss']:.4f}, val_loss {summary['val_loss']:.4f} -> {artifacts.MODEL_WEIGHTS}")


if __name__ == "__main__":
    run_stage(main)
