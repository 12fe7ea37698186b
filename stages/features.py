"""Stage features: image statistics of every prepared tile, measured on the raw tile at full resolution."""
import tilescan.pinned  # noqa: F401  (first: pins the math before NumPy/TF load; see tilescan/runtime.py)

# isort: split
import json

import numpy as np
from tqdm import tqdm

from tilescan import artifacts
from tilescan.atomic import staged_outputs
from tilescan.features import FEATURE_NAMES, features_of_item
from tilescan.parallel import chunked_map
from tilescan.params import Params
from tilescan.readers import iter_tiles, list_splits, resolve_input
from tilescan.stage import run_stage


def main(params: Params) -> str:
    raw_dir, fmt = resolve_input(params.data.raw_dir, params.data.format)
    keep_class, on_unreadable = params.prepare.keep_class, params.prepare.on_unreadable
    workers = params.prepare.workers
    index = artifacts.load_index()
    bit_depth = artifacts.load_bit_depth()
    position = {tile_id: i for i, tile_id in enumerate(index["id"])}
    features = np.zeros((len(index), len(FEATURE_NAMES)), dtype=np.float32)
    done = np.zeros(len(index), dtype=bool)
    with tqdm(total=len(index), desc="features", unit="tile", mininterval=2.0) as bar:
        for split in list_splits(raw_dir, fmt):  # raw splits: a held-out val share lies in raw train
            tiles = iter_tiles(raw_dir, fmt, split, keep_class, on_unreadable, [], bit_depth)
            stream = ((ref, image) for ref, image in tiles
                      if ref.id in position)
            for (ref, _), vector in chunked_map(features_of_item, stream, workers):
                features[position[ref.id]], done[position[ref.id]] = vector, True
                bar.update()
    if not done.all():
        raise RuntimeError(f"features: {int((~done).sum())} prepared tiles were not found in {raw_dir}")
    with staged_outputs(artifacts.FEATURES) as (out_dir,):
        out_dir.mkdir()
        np.save(out_dir / artifacts.FEATURES_ARRAY.name, features, allow_pickle=False)
        (out_dir / artifacts.FEATURE_NAMES_FILE.name).write_text(json.dumps(FEATURE_NAMES) + "\n")
    return f"features: {len(FEATURE_NAMES)} image statistics for {len(index)} tiles -> {artifacts.FEATURES}"


if __name__ == "__main__":
    run_stage(main)
