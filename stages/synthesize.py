"""Stage synthesize: the synthetic DDSM-like tile dataset (PNG tiles, the notebook's CSVs, ground-truth labels)."""
import tilescan.pinned  # noqa: F401  (first: pins the math before NumPy/TF load; see tilescan/runtime.py)

# isort: split
import sys
from functools import partial

from tqdm import tqdm

from tilescan.atomic import staged_outputs
from tilescan.stage import param, run_stage
from tilescan.synth import synthesize


def main(params: dict) -> str:
    out_dir = param(params, "synthesize.out_dir", str)
    progress = partial(tqdm, desc="synthesize", unit="tile", file=sys.stderr, leave=False)
    with staged_outputs(out_dir) as (temp_dir,):
        counts = synthesize(temp_dir, param(params, "synthesize.n_train", int),
                            param(params, "synthesize.n_test", int), param(params, "common.seed", int),
                            tile_size=param(params, "synthesize.tile_size", int),
                            annotation_fraction=param(params, "synthesize.annotation_fraction", float),
                            style=param(params, "synthesize.style", str), progress=progress)
    n_annotation = counts["n_annotation_train"] + counts["n_annotation_test"]
    return (f"synthesize: wrote {counts['n_train']} train + {counts['n_test']} test tiles "
            f"({n_annotation} annotation) to {out_dir}")


if __name__ == "__main__":
    run_stage(main)
