"""Stage scale: StandardScaler on the latents; parameters saved as JSON, scaled latents as .npy."""
import tilescan.pinned  # noqa: F401  (first: pins the math before NumPy/TF load; see tilescan/runtime.py)

# isort: split
import numpy as np

from tilescan import artifacts
from tilescan.atomic import staged_outputs
from tilescan.cluster import fit_scaler, save_scaler
from tilescan.params import Params
from tilescan.stage import run_stage


def main(params: Params) -> str:
    latents = artifacts.load_array(artifacts.ENCODED_LATENTS, "encode", mmap=True)
    scaler = fit_scaler(latents)
    with staged_outputs(artifacts.SCALED) as (out_dir,):
        out_dir.mkdir()
        save_scaler(scaler, out_dir / artifacts.SCALER.name)
        np.save(out_dir / artifacts.SCALED_LATENTS.name, scaler.transform(latents).astype(np.float32),
                allow_pickle=False)
    return f"scale: standardised {latents.shape[0]} x {latents.shape[1]} latents -> {artifacts.SCALED}"


if __name__ == "__main__":
    run_stage(main)
