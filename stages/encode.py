"""Stage encode: every prepared tile (train, then val) -> latent vector and reconstruction error."""
import numpy as np

from tilescan import paths
from tilescan.atomic import staged_outputs
from tilescan.cli import param, run_stage
from tilescan.encode import encode_tiles, open_output
from tilescan.errors import TilescanError
from tilescan.model import build_autoencoder
from tilescan.stage_params import model_shape
from tilescan.tiles import SPLITS, open_split


def main(params: dict) -> str:
    shape = model_shape(params)
    batch_size = param(params, "encode.batch_size", int)
    if batch_size < 1:
        raise TilescanError(f"encode.batch_size must be >= 1, got {batch_size}")
    encoder, decoder, autoencoder = build_autoencoder(**shape)
    if not paths.MODEL_WEIGHTS.is_file():
        raise TilescanError(f"{paths.MODEL_WEIGHTS}: weights not found (run train_autoencoder)")
    autoencoder.load_weights(paths.MODEL_WEIGHTS)
    splits = {split: open_split(split) for split in SPLITS}
    total = sum(len(tiles) for tiles in splits.values())
    with staged_outputs(paths.ENCODED) as (out_dir,):
        out_dir.mkdir()
        latents = open_output(out_dir / "latents.npy", (total, shape["latent_dim"]))
        errors = open_output(out_dir / "recon_error.npy", (total,))
        start = 0
        for split, tiles in splits.items():
            stop = start + len(tiles)
            encode_tiles(encoder, decoder, tiles, shape["channels"], batch_size, latents[start:stop],
                         errors[start:stop], desc=f"encode {split}")
            start = stop
        latents.flush()
        errors.flush()
        mean_error = float(np.mean(errors))
        del latents, errors
    return (f"encode: {total} tiles -> {paths.ENCODED}/latents.npy ({shape['latent_dim']}-d), "
            f"mean reconstruction error {mean_error:.4f}")


if __name__ == "__main__":
    run_stage(main)
