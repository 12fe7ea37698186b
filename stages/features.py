"""Stage features: image statistics of every prepared tile, measured on the raw tile at full resolution, through
the tone curve (tilescan.scoring_input)."""
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
from tilescan.scoring_input import statistics_tiles
from tilescan.stage import run_stage


def main(params: Params) -> str:
    index = artifacts.load_index()
    position = {tile_id: i for i, tile_id in enumerate(index["id"])}
    features = np.zeros((len(index), len(FEATURE_NAMES)), dtype=np.float32)
    done = np.zeros(len(index), dtype=bool)
    with tqdm(total=len(index), desc="features", unit="tile", mininterval=2.0) as bar:
        stream = ((ref, image) for ref, image in statistics_tiles(params) if ref.id in position)
        for (ref, _), vector in chunked_map(features_of_item, stream, params.prepare.workers):
            features[position[ref.id]], done[position[ref.id]] = vector, True
            bar.update()
    if not done.all():
        raise RuntimeError(f"features: {int((~done).sum())} prepared tiles were not found in {params.data.raw_dir}")
    with staged_outputs(artifacts.FEATURES) as (out_dir,):
        out_dir.mkdir()
        np.save(out_dir / artifacts.FEATURES_ARRAY.name, features, allow_pickle=False)
        (out_dir / artifacts.FEATURE_NAMES_FILE.name).write_text(json.dumps(FEATURE_NAMES) + "\n")
    return f"features: {len(FEATURE_NAMES)} image statistics for {len(index)} tiles -> {artifacts.FEATURES}"


if __name__ == "__main__":
    run_stage(main)
