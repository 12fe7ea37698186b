"""Stage features: image statistics of every prepared tile, measured on the raw tile at full resolution."""
import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tilescan import paths
from tilescan.atomic import staged_outputs
from tilescan.cli import run_stage, section
from tilescan.features import FEATURE_NAMES, features_of_item
from tilescan.io import detect_format, iter_tiles
from tilescan.parallel import chunked_map
from tilescan.tiles import SPLITS, load_index


def main(params: dict) -> str:
    data, prep = section(params, "data"), section(params, "prepare")
    raw_dir = Path(data["raw_dir"])
    fmt = detect_format(raw_dir) if data.get("format", "auto") == "auto" else data["format"]
    index = load_index()
    position = {tile_id: i for i, tile_id in enumerate(index["id"])}
    features = np.zeros((len(index), len(FEATURE_NAMES)), dtype=np.float32)
    done = np.zeros(len(index), dtype=bool)
    with tqdm(total=len(index), desc="features", unit="tile", mininterval=2.0) as bar:
        for split in SPLITS:
            stream = ((ref, image) for ref, image in iter_tiles(raw_dir, fmt, split, int(prep["keep_class"]),
                                                                prep["on_unreadable"], [])
                      if ref.id in position)
            for (ref, _), vector in chunked_map(features_of_item, stream, int(prep["workers"])):
                features[position[ref.id]], done[position[ref.id]] = vector, True
                bar.update()
    if not done.all():
        raise RuntimeError(f"features: {int((~done).sum())} prepared tiles were not found in {raw_dir}")
    with staged_outputs(paths.FEATURES) as (out_dir,):
        out_dir.mkdir()
        np.save(out_dir / "features.npy", features, allow_pickle=False)
        (out_dir / "names.json").write_text(json.dumps(FEATURE_NAMES) + "\n")
    return f"features: {len(FEATURE_NAMES)} image statistics for {len(index)} tiles -> {paths.FEATURES}"


if __name__ == "__main__":
    run_stage(main)
