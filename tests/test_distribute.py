"""Training scales out: MirroredStrategy on two logical CPUs; multi_worker refused with its reason; mixed precision."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tilescan.errors import TilescanError
from tilescan.train import TrainConfig, train_autoencoder

TINY = {"channels": 1, "filters": [4, 4, 4], "dense_units": 8, "latent_dim": 4, "batch_size": 16, "epochs": 1,
        "patience": 1, "learning_rate": 1e-3, "seed": 0}

# Logical devices can only be configured before TensorFlow initialises its runtime, which other tests in this
# pytest process do: so the mirrored run gets its own interpreter.
MIRRORED_SCRIPT = """
import json, sys
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from tilescan.tiles import tile_dataset
from tilescan.train import TrainConfig, make_strategy, train_autoencoder

tiles = np.random.default_rng(0).integers(0, 256, (48, 16, 16), dtype=np.uint8)
strategy = make_strategy("mirrored")
per_replica = [[int(part.shape[0]) for part in strategy.experimental_local_results(batch)]
               for batch in strategy.experimental_distribute_dataset(tile_dataset(tiles, 16, 1))]
config = TrainConfig(**json.loads(sys.argv[1]), strategy="mirrored")
_, _, _, summary = train_autoencoder(tiles[:32], tiles[32:], config, sys.argv[2])
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "per_replica": per_replica, **summary}))
"""


def test_mirrored_trains_on_two_replicas_and_splits_batches(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT, json.dumps(TINY), str(tmp_path / "live")],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    run = json.loads(result.stdout.strip().splitlines()[-1])
    assert run["replicas"] == 2  # strategy.num_replicas_in_sync, and what train_autoencoder reports
    assert run["per_replica"] == [[8, 8]] * 3  # each global batch of 16 is split in two halves
    assert run["epochs_run"] == 1
    assert np.isfinite(run["loss"]) and np.isfinite(run["val_loss"])


def test_multi_worker_without_tf_config_names_the_parameter(tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    tiles = np.zeros((4, 16, 16), dtype=np.uint8)
    config = TrainConfig(**TINY, strategy="multi_worker")
    with pytest.raises(TilescanError, match=r"train_autoencoder\.strategy.*TF_CONFIG"):
        train_autoencoder(tiles, tiles, config, tmp_path / "live")


def test_multi_worker_with_tf_config_says_why_it_is_refused(tmp_path, monkeypatch):
    cluster = {"cluster": {"worker": ["localhost:12345", "localhost:12346"]}, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(cluster))
    tiles = np.zeros((4, 16, 16), dtype=np.uint8)
    with pytest.raises(TilescanError, match=r"train_autoencoder\.strategy multi_worker.*cross-worker reductions"):
        train_autoencoder(tiles, tiles, TrainConfig(**TINY, strategy="multi_worker"), tmp_path / "live")


def test_mixed_precision_computes_in_float16_outputs_float32_and_leaves_the_policy(tmp_path):
    import keras

    tiles = np.random.default_rng(1).integers(0, 256, (32, 16, 16), dtype=np.uint8)
    config = TrainConfig(**TINY, mixed_precision=True)
    encoder, decoder, autoencoder, summary = train_autoencoder(tiles, tiles[:16], config, tmp_path / "live")
    convs = [layer for layer in encoder.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and all(layer.compute_dtype == "float16" and layer.variable_dtype == "float32" for layer in convs)
    assert autoencoder.output.dtype == "float32" and decoder.output.dtype == "float32"
    assert autoencoder(tiles[:2, :, :, None] / 255.0).dtype == "float32"
    assert isinstance(autoencoder.optimizer, keras.optimizers.LossScaleOptimizer)
    assert np.isfinite(summary["loss"]) and summary["replicas"] == 1
    assert keras.config.dtype_policy().name == "float32"  # later models are not built in float16

