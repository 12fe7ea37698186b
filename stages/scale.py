"""Stage scale: StandardScaler on the latents; parameters saved as JSON, scaled latents as .npy."""
import numpy as np

from tilescan import paths
from tilescan.atomic import staged_outputs
from tilescan.cli import run_stage
from tilescan.cluster import fit_scaler, save_scaler
from tilescan.tiles import load_array


def main(params: dict) -> str:
    latents = load_array(paths.ENCODED / "latents.npy", "encode", mmap=True)
    scaler = fit_scaler(latents)
    with staged_outputs(paths.SCALED) as (out_dir,):
        out_dir.mkdir()
        save_scaler(scaler, out_dir / "scaler.json")
        np.save(out_dir / "latents.npy", scaler.transform(latents).astype(np.float32), allow_pickle=False)
    return f"scale: standardised {latents.shape[0]} x {latents.shape[1]} latents -> {paths.SCALED}"


if __name__ == "__main__":
    run_stage(main)
