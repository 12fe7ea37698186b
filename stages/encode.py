"""Stage encode: every prepared tile (train, then val) -> latent vector; the reconstruction error of a seeded
sample of at most encode.max_error_tiles tiles (NaN for the others: the decoder costs twice the encoder)."""
import tilescan.pinned  # noqa: F401  (first: pins the math before NumPy/TF load; see tilescan/runtime.py)

# isort: split
import numpy as np

from tilescan import artifacts
from tilescan.atomic import staged_outputs
from tilescan.encode import encode_tiles, open_output
from tilescan.errors import TilescanError
from tilescan.model import build_autoencoder
from tilescan.params import Params
from tilescan.stage import model_shape, run_stage
from tilescan.tiles import sample_rows


def main(params: Params) -> str:
    shape = model_shape(params)
    batch_size = params.encode.batch_size
    encoder, decoder, autoencoder = build_autoencoder(**shape)
    if not artifacts.MODEL_WEIGHTS.is_file():
        raise TilescanError(f"{artifacts.MODEL_WEIGHTS}: weights not found (run train_autoencoder)")
    autoencoder.load_weights(artifacts.MODEL_WEIGHTS)
    splits = {split: artifacts.open_split(split) for split in artifacts.SPLITS}
    total = sum(len(tiles) for tiles in splits.values())
    with staged_outputs(artifacts.ENCODED) as (out_dir,):
        out_dir.mkdir()
        latents = open_output(out_dir / artifacts.ENCODED_LATENTS.name, (total, shape["latent_dim"]))
        errors = open_output(out_dir / artifacts.RECON_ERROR.name, (total,))
        measured = np.zeros(total, bool)
        measured[sample_rows(np.arange(total), params.encode.max_error_tiles, params.common.seed)] = True
        start = 0
        for split, tiles in splits.items():
            stop = start + len(tiles)
            encode_tiles(encoder, decoder, tiles, shape["channels"], batch_size, latents[start:stop],
                         errors[start:stop], measured[start:stop], desc=f"encode {split}")
            start = stop
        latents.flush()
        errors.flush()
        mean_error = float(np.mean(errors[measured]))
        del latents, errors
    return (f"encode: {total} tiles -> {artifacts.ENCODED_LATENTS} ({shape['latent_dim']}-d), "
            f"mean reconstruction error {mean_error:.4f} over {int(measured.sum())} tiles")


if __name__ == "__main__":
    run_stage(main)
