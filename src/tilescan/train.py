"""Training the autoencoder: determinism, distribution strategy, mixed precision, early stopping, dvclive."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tilescan.errors import TilescanError
from tilescan.exact_keras import BinaryCrossentropy
from tilescan.model import build_autoencoder
from tilescan.tiles import tile_dataset


@dataclass(frozen=True)
class TrainConfig:
    """Training settings from the validated params (tilescan.params): not checked again here."""

    channels: int
    filters: list[int]
    dense_units: int
    latent_dim: int
    batch_size: int
    epochs: int
    patience: int
    learning_rate: float
    seed: int
    strategy: str = "auto"
    mixed_precision: bool = False


def make_deterministic(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and refuse ops without a deterministic kernel."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def make_strategy(name: str):
    """The tf.distribute strategy for `train_autoencoder.strategy`; `multi_worker` is refused with the reason."""
    import tensorflow as tf

    if name == "multi_worker":
        import keras

        if "TF_CONFIG" not in os.environ:
            raise TilescanError("train_autoencoder.strategy multi_worker needs the TF_CONFIG environment "
                                "variable (see README, 'Scaling out')")
        # Tried with two workers on one host: fit fails in Keras's own cross-worker reductions of the batch
        # and of the logged loss, whatever the model.
        raise TilescanError(f"train_autoencoder.strategy multi_worker: Model.fit in Keras {keras.__version__} "
                            "cannot train under MultiWorkerMirroredStrategy "
                            "(it fails in Keras's cross-worker reductions); "
                            "use mirrored (all GPUs of one machine)")
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    return tf.distribute.MirroredStrategy()  # every GPU; without one, every logical CPU device


def train_autoencoder(train_tiles: np.ndarray, val_tiles: np.ndarray, config: TrainConfig, live_dir: Path,
                      callbacks: list | None = None):
    """Fit the autoencoder on uint8 tiles; return (encoder, decoder, autoencoder, summary dict).

    `config.batch_size` is the global batch: a distribution strategy splits each batch across its replicas.
    `callbacks` are extra Keras callbacks (the benchmarks time epochs with one).
    """
    import keras
    from dvclive import Live
    from dvclive.keras import DVCLiveCallback

    if len(train_tiles) == 0 or len(val_tiles) == 0:
        raise TilescanError("data/prepared: training needs at least one train and one val tile")
    strategy = make_strategy(config.strategy)
    make_deterministic(config.seed)
    img_size = train_tiles.shape[1]
    previous_policy = keras.config.dtype_policy()
    with strategy.scope():
        # Layers take the policy when they are built; restoring it afterwards keeps it out of later models.
        keras.config.set_dtype_policy("mixed_float16" if config.mixed_precision else "float32")
        try:
            encoder, decoder, autoencoder = build_autoencoder(
                img_size, config.channels, config.filters, config.dense_units, config.latent_dim)
        finally:
            keras.config.set_dtype_policy(previous_policy)
        # under mixed_float16 compile wraps Adam in a LossScaleOptimizer
        autoencoder.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss=BinaryCrossentropy())

    def pairs(tiles, seed):
        return tile_dataset(tiles, config.batch_size, config.channels, shuffle_seed=seed).map(lambda x: (x, x))

    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience)
    with Live(str(live_dir), dvcyaml=None, save_dvc_exp=False) as live:
        history = autoencoder.fit(
            pairs(train_tiles, config.seed), validation_data=pairs(val_tiles, None), epochs=config.epochs,
            callbacks=[stop, DVCLiveCallback(live=live), *(callbacks or [])], verbose=2)
    losses = history.history
    summary = {
        "loss": round(float(losses["loss"][-1]), 6),
        "val_loss": round(float(losses["val_loss"][-1]), 6),
        "best_val_loss": round(float(min(losses["val_loss"])), 6),
        "epochs_run": len(losses["loss"]),
        "train_tiles": int(len(train_tiles)),
        "val_tiles": int(len(val_tiles)),
        "replicas": int(strategy.num_replicas_in_sync),
    }
    return encoder, decoder, autoencoder, summary
