"""Stage prepare: raw dataset -> resized uint8 arrays (train, val) + index, mostly-black tiles dropped."""
import json

import pandas as pd

from tilescan import paths
from tilescan.atomic import staged_outputs
from tilescan.cli import param, run_stage
from tilescan.errors import TilescanError
from tilescan.io import list_splits, resolve_input
from tilescan.prepare import PrepareConfig, prepare_split


def main(params: dict) -> str:
    raw_dir, fmt = resolve_input(param(params, "data.raw_dir", str), param(params, "data.format", str))
    config = PrepareConfig(img_size=param(params, "common.img_size", int),
                           keep_class=param(params, "prepare.keep_class", int),
                           black_level=param(params, "prepare.black_level", int),
                           max_black_fraction=param(params, "prepare.max_black_fraction", float),
                           on_unreadable=param(params, "prepare.on_unreadable", str),
                           workers=param(params, "prepare.workers", int))
    config.validate()
    splits = list_splits(raw_dir, fmt)
    index_rows, dropped_rows, counts = [], [], {}
    with staged_outputs(paths.PREPARED, paths.METRICS / "prepare.json") as (out_dir, metrics_file):
        out_dir.mkdir()
        for split in ("train", "val"):
            if split not in splits:
                raise TilescanError(f"data.raw_dir: {raw_dir} has no {split} split (format {fmt})")
            result = prepare_split(raw_dir, fmt, split, config, out_dir / f"{split}.npy")
            if not result.kept:
                raise TilescanError(f"data.raw_dir: no {split} tiles of class {config.keep_class} left after "
                                    f"dropping {len(result.black)} mostly-black and {len(result.skipped)} "
                                    "unreadable tiles (check prepare.keep_class / prepare.max_black_fraction)")
            index_rows += [(ref.id, ref.filename, split, row) for row, ref in enumerate(result.kept)]
            dropped_rows += [(ref.id, ref.filename, split, "black") for ref in result.black]
            dropped_rows += [(ref.id, ref.filename, split, "unreadable") for ref in result.skipped]
            counts[split] = {"read": len(result.kept) + len(result.black) + len(result.skipped),
                             "kept": len(result.kept), "dropped_black": len(result.black),
                             "skipped_unreadable": len(result.skipped)}
        pd.DataFrame(index_rows, columns=["id", "filename", "split", "row"]).to_csv(out_dir / "index.csv", index=False)
        pd.DataFrame(dropped_rows, columns=["id", "filename", "split", "reason"]).to_csv(
            out_dir / "dropped.csv", index=False)
        skipped = [row[0] for row in dropped_rows if row[3] == "unreadable"]
        metrics = {"format": fmt, "img_size": config.img_size, "splits": counts, "skipped_ids": skipped}
        metrics_file.write_text(json.dumps(metrics, indent=2) + "\n")
    kept = sum(c["kept"] for c in counts.values())
    black = sum(c["dropped_black"] for c in counts.values())
    return (f"prepare: {fmt} -> {kept} tiles of {config.img_size}x{config.img_size} in {paths.PREPARED} "
            f"({counts['train']['kept']} train, {counts['val']['kept']} val); dropped {black} mostly black, "
            f"skipped {len(skipped)} unreadable")


if __name__ == "__main__":
    run_stage(main)
