"""Stage: write the synthetic DDSM-like tile dataset (PNG tiles, the notebook's CSVs, ground-truth labels)."""
from __future__ import annotations

import sys
from functools import partial
from typing import Any

from tqdm import tqdm

from tilescan.atomic import staged_outputs
from tilescan.cli import run_stage, section
from tilescan.synth import synthesize


def main(params: dict[str, Any]) -> str:
    settings = section(params, "synthesize")
    seed = section(params, "common").get("seed")
    missing = [key for key in ("out_dir", "n_train", "n_test", "tile_size", "annotation_fraction", "style")
               if key not in settings]
    if missing:
        from tilescan.errors import TilescanError
        raise TilescanError(f"params.yaml: missing synthesize.{', synthesize.'.join(missing)}")
    progress = partial(tqdm, desc="synthesize", unit="tile", file=sys.stderr, leave=False)
    with staged_outputs(settings["out_dir"]) as (temp_dir,):
        counts = synthesize(temp_dir, settings["n_train"], settings["n_test"], seed,
                            tile_size=settings["tile_size"], annotation_fraction=settings["annotation_fraction"],
                            style=settings["style"], progress=progress)
    n_annotation = counts["n_annotation_train"] + counts["n_annotation_test"]
    return (f"synthesize: wrote {counts['n_train']} train + {counts['n_test']} test tiles "
            f"({n_annotation} annotation) to {settings['out_dir']}")


if __name__ == "__main__":
    run_stage(main)
