"""`make repro-check`: run the pipeline in a fresh clone of HEAD, as a new user would, and compare the result
with what HEAD commits.

By default every output's hash in the clone's dvc.lock must equal the committed one (the contract on any
x86-64 machine with AVX2 and at least common.threads cores); each difference is printed with the stage that
made it. With --tolerant (`make repro-check TOLERANT=1`, for a GPU, an ARM machine or fewer cores) the
results are compared instead: average precision within AP_TOLERANCE, the flagged set's Jaccard index at least
MIN_JACCARD, the final training loss within LOSS_TOLERANCE (relative). Exit 0: reproduced; 1: it differs;
2: the clone or its `make run` failed.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

AP_TOLERANCE = 0.005
MIN_JACCARD = 0.98
LOSS_TOLERANCE = 0.01
QUALITY, TRAIN, FLAGGED = "metrics/quality.json", "metrics/train.json", "reports/flagged.csv"


# ---- comparison (pure: the unit tests call these) ----------------------------------------------------

def output_hashes(lock: dict) -> dict[str, tuple[str, str | None]]:
    """path -> (stage, md5) of every output of every stage of a parsed dvc.lock."""
    return {out["path"]: (stage, out.get("md5")) for stage, entry in (lock.get("stages") or {}).items()
            for out in entry.get("outs", [])}


def hash_differences(committed: dict, reproduced: dict) -> list[str]:
    """One line per output whose hash differs (or that only one of the two dvc.locks has), in stage order."""
    old, new = output_hashes(committed), output_hashes(reproduced)
    stages = [*(committed.get("stages") or {}), *(reproduced.get("stages") or {})]
    order = {stage: stages.index(stage) for stage in stages}  # pipeline order: first appearance
    lines = []
    for path in sorted(old.keys() | new.keys(), key=lambda p: (order[(old.get(p) or new[p])[0]], p)):
        stage, before = old.get(path, (None, None))
        stage_now, after = new.get(path, (None, None))
        if before != after:
            lines.append(f"{stage or stage_now}: {path}: committed {before or 'absent'}, "
                         f"reproduced {after or 'absent'}")
    return lines


def flagged_ids(flagged_csv: str) -> set[str]:
    """The ids with flagged == 1 in the text of a reports/flagged.csv."""
    import pandas as pd

    table = pd.read_csv(io.StringIO(flagged_csv), dtype={"id": str})
    return set(table.loc[table["flagged"] == 1, "id"])


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def metric_differences(committed: dict, reproduced: dict) -> list[str]:
    """Tolerant comparison of two results {"quality": dict, "train": dict, "flagged": set}: one line per check
    that fails."""
    lines = []
    ap_old, ap_new = committed["quality"].get("average_precision"), reproduced["quality"].get("average_precision")
    if (ap_old is None) != (ap_new is None) or (ap_old is not None and abs(ap_new - ap_old) > AP_TOLERANCE):
        lines.append(f"{QUALITY}: average_precision {ap_new}, committed {ap_old} (tolerance ±{AP_TOLERANCE})")
    similarity = jaccard(committed["flagged"], reproduced["flagged"])
    if similarity < MIN_JACCARD:
        lines.append(f"{FLAGGED}: flagged sets' Jaccard index {similarity:.4f} < {MIN_JACCARD} "
                     f"({len(committed['flagged'] ^ reproduced['flagged'])} tiles differ)")
    loss_old, loss_new = committed["train"]["loss"], reproduced["train"]["loss"]
    if abs(loss_new - loss_old) > LOSS_TOLERANCE * abs(loss_old):
        lines.append(f"{TRAIN}: loss {loss_new}, committed {loss_old} (tolerance {LOSS_TOLERANCE:.0%})")
    return lines


# ---- running --------------------------------------------------------------------------------------------

def machine() -> str:
    """The CPU this check runs on (model, the flags the contract is about, visible cores)."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{model}; avx2 {'yes' if 'avx2' in flags else 'no'}, avx512f {'yes' if 'avx512f' in flags else 'no'}; "
            f"{cores} visible cores")


def git_show(repo: Path, path: str) -> str:
    """A file's text as HEAD commits it."""
    return subprocess.run(["git", "-C", str(repo), "show", f"HEAD:{path}"], capture_output=True, text=True,
                          check=True).stdout


def reproduced_results(clone: Path) -> dict:
    return {"quality": json.loads((clone / QUALITY).read_text()), "train": json.loads((clone / TRAIN).read_text()),
            "flagged": flagged_ids((clone / FLAGGED).read_text())}


def committed_results(repo: Path) -> dict:
    """HEAD's metrics (tracked in git) and HEAD's flagged list (a DVC output: from this repository's cache, or
    its remote)."""
    import dvc.api

    try:
        with dvc.api.open(FLAGGED, repo=str(repo), rev="HEAD") as handle:
            flagged_csv = handle.read()
    except Exception as exc:  # DVC raises several kinds for a missing cache entry
        raise SystemExit(f"error: HEAD's {FLAGGED} is not in this repository's DVC cache ({exc.__class__.__name__}):"
                         " run `make run` here (or `dvc pull`) first") from None
    return {"quality": json.loads(git_show(repo, QUALITY)), "train": json.loads(git_show(repo, TRAIN)),
            "flagged": flagged_ids(flagged_csv)}


def run_clone(repo: Path, clone: Path) -> None:
    """git clone HEAD into clone and run `make run` there, which creates its own virtual environment."""
    subprocess.run(["git", "clone", "--quiet", str(repo), str(clone)], check=True)
    env = {key: value for key, value in os.environ.items()
           if key not in ("VIRTUAL_ENV", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    print(f"repro-check: make run in {clone} (fresh .venv, every stage from scratch)", flush=True)
    subprocess.run(["make", "run"], cwd=clone, env=env, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tolerant", action="store_true", help="compare metrics within tolerances, not hashes")
    parser.add_argument("--keep", action="store_true", help="keep the clone (its path is printed)")
    args = parser.parse_args(argv)
    repo = Path(subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                               check=True).stdout.strip())
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    if subprocess.run(["git", "-C", str(repo), "diff", "--quiet", "HEAD"]).returncode:
        print("repro-check: uncommitted changes are not checked: the clone is of HEAD", flush=True)
    print(f"repro-check: HEAD {head} on {machine()}", flush=True)
    clone = Path(tempfile.mkdtemp(prefix="tilescan-repro-"))
    try:
        clone.rmdir()
        try:
            committed_lock = yaml.safe_load(git_show(repo, "dvc.lock"))
            run_clone(repo, clone)
        except subprocess.CalledProcessError as exc:
            print(f"error: {' '.join(map(str, exc.cmd))} failed with status {exc.returncode}", file=sys.stderr)
            return 2
        differences = hash_differences(committed_lock, yaml.safe_load((clone / "dvc.lock").read_text()))
        if args.tolerant:
            for line in differences:
                print(f"  hash differs (allowed with TOLERANT=1): {line}")
            differences = metric_differences(committed_results(repo), reproduced_results(clone))
        for line in differences:
            print(f"  {line}")
        kind = "metrics within tolerances" if args.tolerant else "dvc.lock outputs byte for byte"
        print(f"repro-check: {'FAILED' if differences else 'passed'}: {kind} "
              f"({len(differences)} difference(s)) against HEAD {head}")
        return 1 if differences else 0
    finally:
        if args.keep:
            print(f"repro-check: the clone is kept in {clone}")
        else:
            shutil.rmtree(clone, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
