"""Batched encoding of every prepared tile into latent space, with the reconstruction error of a bounded sample."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from tilescan.errors import TilescanError
from tilescan.tiles import tile_dataset


def encode_tiles(encoder, decoder, tiles: np.ndarray, channels: int, batch_size: int, latents_out: np.ndarray,
                 errors_out: np.ndarray, measured: np.ndarray | None = None, desc: str = "encode") -> None:
    """Fill latents_out (N, latent) and errors_out (N,) batch by batch; memory stays a few batches.

    The reconstruction error is the per-tile mean binary cross-entropy, the training loss. The decoder costs
    about twice the encoder, so it runs only on the rows where `measured` (N bools; None = all) is True;
    errors_out is NaN elsewhere.
    """
    import tensorflow as tf

    measured = np.ones(len(tiles), bool) if measured is None else measured

    @tf.function(reduce_retracing=True)
    def latent_of(batch):
        return encoder(batch, training=False)

    @tf.function(reduce_retracing=True)
    def error_of(batch, latent):
        return reconstruction_error(batch, decoder(latent, training=False))

    start = 0
    with tqdm(total=len(tiles), desc=desc, unit="tile", mininterval=2.0) as bar:
        for batch in tile_dataset(tiles, batch_size, channels):
            latent = latent_of(batch)
            stop = start + len(latent)
            latents_out[start:stop] = latent.numpy()
            errors_out[start:stop] = np.nan
            rows = np.flatnonzero(measured[start:stop])
            if len(rows) == len(latent):
                errors_out[start:stop] = error_of(batch, latent).numpy()
            elif len(rows):
                errors_out[start + rows] = error_of(tf.gather(batch, rows), tf.gather(latent, rows)).numpy()
            start = stop
            bar.update(len(latent))
    if not (np.isfinite(latents_out).all() and np.isfinite(errors_out[measured]).all()):
        raise TilescanError(f"{desc}: the encoder produced NaN or infinite latents; retrain "
                            "(train_autoencoder.learning_rate may be too high)")


def reconstruction_error(batch, recon):
    """Per-tile mean binary cross-entropy of a reconstruction (the training loss), the output clipped away from
    0 and 1; float32 batches (B, S, S, C) in [0, 1], arrays or tensors."""
    import tensorflow as tf

    recon = tf.clip_by_value(tf.cast(recon, tf.float32), 1e-7, 1 - 1e-7)
    bce = -(batch * tf.math.log(recon) + (1 - batch) * tf.math.log(1 - recon))
    return tf.reduce_mean(bce, axis=[1, 2, 3])


def open_output(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """A float32 .npy memmap to write into incrementally."""
    return np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)
