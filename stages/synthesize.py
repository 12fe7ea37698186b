"""Stage synthesize: the synthetic DDSM-like tile dataset (PNG tiles, the notebook's CSVs, ground-truth labels).
When neither data.raw_dir nor data.labels_csv is in synthesize.out_dir nothing reads the set: the stage then
writes only a note saying so (seconds instead of half a minute)."""
import tilescan.pinned  # noqa: F401  (first: pins the math before NumPy/TF load; see tilescan/runtime.py)

# isort: split
import sys
from functools import partial

from tqdm import tqdm

from tilescan.atomic import staged_outputs
from tilescan.params import Params
from tilescan.stage import run_stage
from tilescan.synth import check_replaceable, feeds_pipeline, synthesize, write_skip_note


def main(params: Params) -> str:
    settings = params.synthesize
    out_dir = settings.out_dir
    check_replaceable(out_dir)  # before staged_outputs, which would replace it
    if not feeds_pipeline(out_dir, params.data.raw_dir, params.data.labels_csv):
        reason = (f"data.raw_dir ({params.data.raw_dir}) and data.labels_csv ({params.data.labels_csv or 'none'}) "
                  f"are not in {out_dir}")
        with staged_outputs(out_dir) as (temp_dir,):
            write_skip_note(temp_dir, reason)
        return f"synthesize: skipped, {reason}; wrote only {out_dir}/SKIPPED.txt"
    progress = partial(tqdm, desc="synthesize", unit="tile", file=sys.stderr, leave=False)
    with staged_outputs(out_dir) as (temp_dir,):
        counts = synthesize(temp_dir, settings.n_train, settings.n_test, params.common.seed,
                            tile_size=settings.tile_size, annotation_fraction=settings.annotation_fraction,
                            style=settings.style, progress=progress)
    n_annotation = counts["n_annotation_train"] + counts["n_annotation_test"]
    return (f"synthesize: wrote {counts['n_train']} train + {counts['n_test']} test tiles "
            f"({n_annotation} annotation) to {out_dir}")


if __name__ == "__main__":
    run_stage(main)
