"""`make bench-scale`: the whole pipeline (`dvc repro`) on a Kaggle-size DDSM input -> metrics/bench_scale.json.

For each size (records in the five tfrecord files) it writes the dataset once (scale_dataset.py; reused when
present), copies the project into a fresh git + DVC repository, points `data.raw_dir` at the dataset
(`data.format: tfrecord`, the dataset's annotations.csv as ground truth, no queries) and runs `dvc repro`,
polling the process tree: wall seconds, peak resident memory (the stage's process and its workers; and the
whole tree, DVC included) and tiles/s of every stage. Then the exponent b of seconds = a * tiles^b, fitted
over the sizes, in total and per stage. `--sizes 60 --set common.img_size=16 ...` runs the same code on a
tiny input (the test does).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import yaml

import scale_dataset  # benchmarks/, beside this script

ROOT = Path(__file__).resolve().parents[1]
SIZES = (5000, 20000, 55890)
POLL_SECONDS = 0.2
TARGETS = {"total_seconds": 1200, "peak_rss_mb": 3072}  # issue 13, at 55,890 records on 2 cores


def log(message: str) -> None:
    print(f"[bench-scale {time.strftime('%H:%M:%S')}] {message}", flush=True)


def project_copy(dest: Path) -> Path:
    """The project's tracked (and untracked, not ignored) files, tests and benchmarks left out, as a fresh git
    repository with one commit (DVC's own config is among the tracked files)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\n")
    for name in filter(None, listed):
        source = ROOT / name
        if name.startswith(("tests/", "benchmarks/")) or not source.is_file():
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest / name)
    for cmd in (["git", "init", "-q"], ["git", "config", "user.email", "bench@example.com"],
                ["git", "config", "user.name", "bench"], ["git", "add", "-A"], ["git", "commit", "-qm", "project"]):
        subprocess.run(cmd, cwd=dest, check=True, capture_output=True)
    return dest


def set_params(repo: Path, updates: dict) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for dotted, value in updates.items():
        section, key = dotted.split(".", 1)
        params.setdefault(section, {})[key] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def stage_of(process: psutil.Process) -> str | None:
    """The stage a process runs (`python stages/<stage>.py`), or None."""
    try:
        for arg in process.cmdline():
            if arg.startswith("stages/") and arg.endswith(".py"):
                return arg[len("stages/"):-3]
    except psutil.Error:
        pass
    return None


def rss(process: psutil.Process) -> int:
    try:
        return process.memory_info().rss
    except psutil.Error:  # exited between listing and reading
        return 0


def watch_repro(repo: Path, log_file: Path) -> tuple[dict, float, float, int]:
    """Run `dvc repro` in repo and poll it: ({stage: {seconds, peak_rss_mb}}, total seconds, peak RSS of the
    whole tree in MiB, exit status)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONHASHSEED": "0"}
    stages: dict[str, dict] = {}
    tree_peak = 0
    start = time.perf_counter()
    with open(log_file, "w") as out:
        dvc = psutil.Popen([sys.executable, "-m", "dvc", "repro"], cwd=repo, env=env, stdout=out,
                           stderr=subprocess.STDOUT)
        while dvc.poll() is None:
            now = time.perf_counter() - start
            try:
                children = dvc.children(recursive=True)
            except psutil.Error:
                children = []
            tree_peak = max(tree_peak, rss(dvc) + sum(rss(child) for child in children))
            for child in children:
                name = stage_of(child)
                if name is None:
                    continue
                entry = stages.setdefault(name, {"first": now, "last": now, "peak": 0})
                try:
                    workers = child.children(recursive=True)
                except psutil.Error:
                    workers = []
                entry["last"] = now
                entry["peak"] = max(entry["peak"], rss(child) + sum(rss(worker) for worker in workers))
            time.sleep(POLL_SECONDS)
    total = time.perf_counter() - start
    figures = {name: {"seconds": round(entry["last"] - entry["first"] + POLL_SECONDS, 1),
                      "peak_rss_mb": round(entry["peak"] / 2**20, 1)} for name, entry in stages.items()}
    return figures, total, tree_peak / 2**20, dvc.returncode


def run_size(records: int, data_root: Path, work: Path, overrides: dict, seed: int, workers: int,
             keep: bool = False) -> dict:
    data = scale_dataset.ensure_dataset(data_root / f"ddsm-{records}", records, seed, workers, log=log)
    repo = project_copy(work / f"repo-{records}")
    set_params(repo, {"data.raw_dir": str(data), "data.format": "tfrecord",
                      "data.labels_csv": str(data / "annotations.csv"), "knn_report.queries": [], **overrides})
    load_before = os.getloadavg()
    log(f"{records} records: dvc repro in {repo} (load average {load_before[0]:.2f})")
    stages, total, tree_peak, status = watch_repro(repo, work / f"repro-{records}.log")
    if status != 0:
        tail = (work / f"repro-{records}.log").read_text()[-3000:]
        raise RuntimeError(f"dvc repro failed at {records} records (exit {status}):\n{tail}")
    index_rows = sum(1 for _ in open(repo / "data/prepared/index.csv")) - 1
    for name, entry in stages.items():
        entry["tiles_per_s"] = round(index_rows / entry["seconds"], 1) if entry["seconds"] else None
        log(f"  {name}: {entry['seconds']} s, {entry['tiles_per_s']} tiles/s, peak {entry['peak_rss_mb']} MB")
    quality = json.loads((repo / "metrics/quality.json").read_text())
    train = json.loads((repo / "metrics/train.json").read_text())
    if not keep:
        shutil.rmtree(repo, ignore_errors=True)  # its DVC cache holds copies of every output
    result = {"records": records, "tiles": index_rows, "total_seconds": round(total, 1),
              "stage_seconds_sum": round(sum(entry["seconds"] for entry in stages.values()), 1),
              "peak_rss_mb": round(tree_peak, 1),
              "peak_stage_rss_mb": max(entry["peak_rss_mb"] for entry in stages.values()),
              "stages": stages, "load_average_before": [round(v, 2) for v in load_before],
              "load_average_after": [round(v, 2) for v in os.getloadavg()],
              "train": train,
              "average_precision": quality.get("average_precision")}
    log(f"{records} records ({index_rows} tiles): {result['total_seconds']} s, peak {result['peak_rss_mb']} MB "
        f"(load average now {result['load_average_after'][0]})")
    return result


def exponent(tiles: list[int], seconds: list[float]) -> float | None:
    """b in seconds = a * tiles^b (least squares in log-log), None with fewer than two sizes."""
    if len(set(tiles)) < 2 or min(seconds) <= 0:
        return None
    return round(float(np.polyfit(np.log(tiles), np.log(seconds), 1)[0]), 3)


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu_model": cpu, "logical_cores": os.cpu_count(),
            "ram_gb": round(psutil.virtual_memory().total / 2**30, 1), "platform": platform.platform()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="record counts, comma-separated")
    parser.add_argument("--out", type=Path, default=ROOT / "metrics" / "bench_scale.json")
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "tilescan-bench-scale",
                        help="where the datasets are written once and reused")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a params.yaml override for the runs (dotted key), e.g. common.img_size=16")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the repository copies (paths are printed)")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    if not sizes or min(sizes) < 10:
        parser.error("--sizes: record counts of at least 10")
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            parser.error(f"--set: expected section.key=value, got {item!r}")
        overrides[key] = yaml.safe_load(value)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    workers = int(overrides.get("prepare.workers", params["prepare"]["workers"]))
    log(f"{machine()['cpu_model']}, {os.cpu_count()} cores; sizes {sizes}; data in {args.data_dir}")
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="tilescan-bench-scale-"))
    runs = []
    try:
        for records in sizes:  # the report is rewritten after every size: an interrupted run keeps what it measured
            runs.append(run_size(records, args.data_dir, work, overrides, args.seed, workers, args.keep))
            write_report(args.out, runs, overrides, args.seed, time.perf_counter() - started)
    finally:
        if args.keep:
            log(f"repository copies kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def write_report(out: Path, runs: list[dict], overrides: dict, seed: int, seconds: float) -> dict:
    tiles = [run["tiles"] for run in runs]
    fitted = exponent(tiles, [run["total_seconds"] for run in runs])
    report = {"machine": machine(), "sizes_records": [run["records"] for run in runs], "overrides": overrides,
              "dataset": {key: value for key, value in scale_dataset.spec(runs[-1]["records"], seed).items()
                          if key not in ("records", "seed")} | {"normal_share": scale_dataset.NORMAL_SHARE},
              "runs": runs, "exponent_total": fitted,
              "exponent_by_stage": {name: exponent(tiles, [run["stages"].get(name, {}).get("seconds", 0)
                                                           for run in runs]) for name in runs[-1]["stages"]},
              "targets": {key: f"<= {value} at {SIZES[-1]} records" for key, value in TARGETS.items()},
              "bench_seconds": round(seconds, 1)}
    largest = runs[-1]
    if largest["records"] == SIZES[-1]:
        report["targets_met"] = {key: largest[key] <= value for key, value in TARGETS.items()}
    elif fitted is not None:  # the power law through the largest run, carried to the size
        report[f"extrapolated_total_seconds_at_{SIZES[-1]}_records"] = round(
            largest["total_seconds"] * (SIZES[-1] / largest["records"]) ** fitted, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    log(f"wrote {out}: total seconds {[run['total_seconds'] for run in runs]} for tiles {tiles}, exponent {fitted}")
    return report


if __name__ == "__main__":
    sys.exit(main())
