"""Stage export_clean: training_data.csv / test_data.csv without the flagged (and mostly-black) tiles."""
import json

import pandas as pd

from tilescan import paths
from tilescan.atomic import staged_outputs
from tilescan.cli import param, run_stage
from tilescan.export import read_table, remove_ids, write_table
from tilescan.io import resolve_input
from tilescan.tiles import load_dropped, load_index

CLEAN = {"train": ("training_data.csv", paths.REPORTS / "training_data.clean.csv"),
         "val": ("test_data.csv", paths.REPORTS / "test_data.clean.csv")}


def main(params: dict) -> str:
    raw_dir, fmt = resolve_input(param(params, "data.raw_dir", str), param(params, "data.format", str))
    flagged = pd.read_csv(paths.FLAGGED, dtype={"id": str})
    drop = set(flagged.loc[flagged["flagged"] == 1, "id"])
    if param(params, "export_clean.drop_black", bool):
        dropped = load_dropped()
        drop |= set(dropped.loc[dropped["reason"] == "black", "id"])
    counts = {}
    outputs = [target for _, target in CLEAN.values()] + [paths.METRICS / "export_clean.json"]
    with staged_outputs(*outputs) as (*temps, metrics_file):
        for (split, (source_name, _)), temp in zip(CLEAN.items(), temps):
            if fmt == "png_csv":
                source = raw_dir / source_name
                table = read_table(source)
            else:  # tfrecord / npy carry no CSV: list the scanned tiles that stay
                table = load_index().query("split == @split")[["id", "filename"]]
                source = paths.PREPARED_INDEX
            kept = remove_ids(table, drop, source)
            write_table(kept, temp)
            counts[split] = {"rows_in": len(table), "rows_out": len(kept)}
        metrics_file.write_text(json.dumps({"format": fmt, **counts}, indent=2) + "\n")
    removed = sum(c["rows_in"] - c["rows_out"] for c in counts.values())
    return (f"export_clean: removed {removed} tiles -> {CLEAN['train'][1]} ({counts['train']['rows_out']} rows), "
            f"{CLEAN['val'][1]} ({counts['val']['rows_out']} rows)")


if __name__ == "__main__":
    run_stage(main)
