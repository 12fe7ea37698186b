"""Stage export_clean: training_data.csv / test_data.csv without the flagged (and, with drop_black, the
mostly-black) tiles."""
import tilescan.pinned  # noqa: F401  (first: pins the math before NumPy/TF load; see tilescan/runtime.py)

# isort: split
from tilescan import artifacts
from tilescan.atomic import staged_outputs
from tilescan.export import read_table, remove_ids, write_table
from tilescan.params import Params
from tilescan.readers import png_csv, resolve_input
from tilescan.stage import run_stage


def main(params: Params) -> str:
    raw_dir, fmt = resolve_input(params.data.raw_dir, params.data.format)
    flagged = artifacts.load_flagged()
    drop = set(flagged.loc[flagged["flagged"] == 1, "id"])
    if params.export_clean.drop_black:
        index = artifacts.load_index()
        drop |= set(index.loc[index["black"] == 1, "id"])
    counts = {}
    clean = artifacts.CLEAN_CSVS
    with staged_outputs(*clean.values(), artifacts.METRICS_FILES["export_clean"]) as (*temps, metrics_file):
        for split, temp in zip(clean, temps):
            if fmt == "png_csv":
                source = raw_dir / png_csv.SPLITS[split][0]
                table = read_table(source)
            else:  # tfrecord / npy carry no CSV: list the scanned tiles that stay
                table = artifacts.load_index().query("split == @split")[["id", "filename"]]
                source = artifacts.PREPARED_INDEX
            kept = remove_ids(table, drop, source)
            write_table(kept, temp)
            counts[split] = {"rows_in": len(table), "rows_out": len(kept)}
        artifacts.write_metrics(metrics_file, {"format": fmt, **counts})
    removed = sum(c["rows_in"] - c["rows_out"] for c in counts.values())
    return (f"export_clean: removed {removed} tiles -> {clean['train']} ({counts['train']['rows_out']} rows), "
            f"{clean['val']} ({counts['val']['rows_out']} rows)")


if __name__ == "__main__":
    run_stage(main)
