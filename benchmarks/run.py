"""`make bench`: the pipeline's throughput and memory on this machine, measured in one run -> metrics/bench.json.

Every figure uses the library calls the stages make, on synthetic inputs (speed does not depend on what a
tile shows) and with the sizes in params.yaml unless a benchmark names others. Ratios come from this run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import psutil
import yaml

import synthetic  # benchmarks/, beside this script

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

REPEATS = 3  # runs of each encode measurement; the fastest is reported
FULL = {"encode_tiles": 10000, "seed_loop_tiles": 300, "train_tiles": 2048, "train_epochs": 3,
        "seed_arch_steps": 3, "prepare_png_tiles": 1000, "scale_tiles": 50000, "cluster_points": 50000,
        "pins_feature_tiles": 100, "pins_train_tiles": 1024, "pins_train_epochs": 2, "scoring_tiles": 512}
QUICK = {"encode_tiles": 1024, "seed_loop_tiles": 20, "train_tiles": 256, "train_epochs": 2,
         "seed_arch_steps": 2, "prepare_png_tiles": 40, "scale_tiles": 500, "cluster_points": 2000,
         "pins_feature_tiles": 6, "pins_train_tiles": 128, "pins_train_epochs": 2, "scoring_tiles": 64}
# The per-tile cost of scoring, for comparison: reading a tile's lettering with an OCR engine instead.
OCR_REFERENCE = "Tesseract-class OCR: 3-4 tiles/s on 2 cores"
OCR_TILES_PER_S = 3.5
SEED_ARCH = {"img_size": 128, "channels": 3, "filters": [128, 64, 32], "dense_units": 256, "latent_dim": 150,
             "batch_size": 128}
TARGETS = {"encode_speedup_vs_seed_loop": (">=", 30), "scale_peak_rss_mb": ("<=", 2048),
           "cluster_knn_seconds_50k": ("<=", 60), "total_seconds": ("<=", 1800)}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def model_shape(params: dict) -> dict:
    common, train = params["common"], params["train_autoencoder"]
    return {"img_size": int(common["img_size"]), "channels": int(common["channels"]),
            "filters": [int(f) for f in train["filters"]], "dense_units": int(train["dense_units"]),
            "latent_dim": int(train["latent_dim"])}


def prepare_config(params: dict) -> dict:
    prep = params["prepare"]
    return {"img_size": int(params["common"]["img_size"]), "keep_class": int(prep["keep_class"]),
            "black_level": int(prep["black_level"]), "max_black_fraction": float(prep["max_black_fraction"]),
            "on_unreadable": prep["on_unreadable"], "workers": int(prep["workers"])}


# ---- encode --------------------------------------------------------------------------------------------

def bench_encode(params: dict, sizes: dict, work: Path) -> dict:
    """Batched encode_tiles against the notebook's one-predict-per-tile loop, best of REPEATS runs each (the
    fastest run is the one least disturbed by other work on the machine)."""
    from tilescan.encode import encode_tiles
    from tilescan.model import build_autoencoder

    shape, batch_size = model_shape(params), int(params["encode"]["batch_size"])
    encoder, decoder, _ = build_autoencoder(**shape)  # untrained weights: the arithmetic is the same
    tiles = synthetic.noise_tiles(work / "encode_tiles.npy", sizes["encode_tiles"], shape["img_size"], 1)
    latents = np.zeros((len(tiles), shape["latent_dim"]), np.float32)
    errors = np.zeros(len(tiles), np.float32)
    encode_tiles(encoder, decoder, tiles[:batch_size], shape["channels"], batch_size, latents[:batch_size],
                 errors[:batch_size], desc="encode warm-up")
    batched = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        encode_tiles(encoder, decoder, tiles, shape["channels"], batch_size, latents, errors, desc="encode")
        batched.append(len(tiles) / (time.perf_counter() - start))
    log(f"encode batched: {max(batched):.0f} tiles/s; now the notebook's loop, {REPEATS} x "
        f"{sizes['seed_loop_tiles']} tiles")

    images = tiles[:sizes["seed_loop_tiles"] + 5].astype(np.float32)[..., None] / 255.0
    images = np.repeat(images, shape["channels"], axis=-1)
    for image in images[:5]:  # the first call builds predict's function
        encoder.predict(image[None], verbose=0)
    loop = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for image in images[5:]:
            encoder.predict(image[None], verbose=0)
        loop.append((len(images) - 5) / (time.perf_counter() - start))
    return {"encode_batched_tiles_per_s": round(max(batched), 1), "encode_seed_loop_tiles_per_s": round(max(loop), 2),
            "encode_speedup_vs_seed_loop": round(max(batched) / max(loop), 1),
            "encode_batched_runs_tiles_per_s": [round(r, 1) for r in batched],
            "encode_seed_loop_runs_tiles_per_s": [round(r, 2) for r in loop], "encode_n_tiles": len(tiles),
            "encode_seed_loop_n_tiles": len(images) - 5, "encode_batch_size": batch_size}


# ---- training ------------------------------------------------------------------------------------------

def step_timer():
    import keras

    class StepTimer(keras.callbacks.Callback):
        """Wall time of every training step and of each epoch's training part (validation left out)."""

        def __init__(self):
            super().__init__()
            self.steps: list[list[float]] = []
            self.epochs: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self.steps.append([])
            self._epoch_start, self._epoch_done = time.perf_counter(), False

        def on_train_batch_begin(self, batch, logs=None):
            self._step_start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.steps[-1].append(time.perf_counter() - self._step_start)

        def on_test_begin(self, logs=None):
            if not self._epoch_done:
                self.epochs.append(time.perf_counter() - self._epoch_start)
                self._epoch_done = True

    return StepTimer()


def fit(params: dict, shape: dict, batch_size: int, n_train: int, n_val: int, epochs: int, work: Path, name: str):
    from tilescan.train import TrainConfig, train_autoencoder

    train = params["train_autoencoder"]
    tiles = synthetic.noise_tiles(work / f"{name}.npy", n_train + n_val, shape["img_size"], 2)
    config = TrainConfig(channels=shape["channels"], filters=shape["filters"], dense_units=shape["dense_units"],
                         latent_dim=shape["latent_dim"], batch_size=batch_size, epochs=epochs,
                         patience=epochs, learning_rate=float(train["learning_rate"]),
                         seed=int(params["common"]["seed"]), strategy=train["strategy"],
                         mixed_precision=bool(train["mixed_precision"]))
    timer = step_timer()
    *_, summary = train_autoencoder(tiles[:n_train], tiles[n_train:], config, work / f"{name}_live", [timer])
    return timer, summary


def bench_train(params: dict, sizes: dict, work: Path) -> dict:
    shape, batch_size = model_shape(params), int(params["train_autoencoder"]["batch_size"])
    n, epochs = sizes["train_tiles"], sizes["train_epochs"]
    timer, summary = fit(params, shape, batch_size, n, batch_size, epochs, work, "train_default")
    rate = n * (epochs - 1) / sum(timer.epochs[1:])
    return {"train_tiles_per_s": round(rate, 1), "train_n_tiles": n, "train_epochs_timed": epochs - 1,
            "train_epoch_seconds": [round(s, 2) for s in timer.epochs], "train_replicas": summary["replicas"]}


def bench_train_seed_arch(params: dict, sizes: dict, work: Path) -> dict:
    shape = {k: v for k, v in SEED_ARCH.items() if k != "batch_size"}
    batch_size, steps = SEED_ARCH["batch_size"], sizes["seed_arch_steps"]
    timer, _ = fit(params, shape, batch_size, batch_size * steps, 8, 1, work, "train_seed_arch")
    step_seconds = timer.steps[0]
    rate = batch_size * (len(step_seconds) - 1) / sum(step_seconds[1:])  # the first step traces the graph
    return {"train_seed_arch_tiles_per_s": round(rate, 2), "train_seed_arch_steps_timed": len(step_seconds) - 1,
            "train_seed_arch_step_seconds": [round(s, 2) for s in step_seconds]}


# ---- prepare -------------------------------------------------------------------------------------------

def bench_prepare(params: dict, sizes: dict, work: Path) -> dict:
    from tilescan.prepare import PrepareConfig, prepare_split
    from tilescan.synth import synthesize

    config = PrepareConfig(**prepare_config(params))
    raw = work / "png"
    start = time.perf_counter()
    synthesize(raw, sizes["prepare_png_tiles"], 10, int(params["common"]["seed"]), workers=config.workers)
    synth_rate = (sizes["prepare_png_tiles"] + 10) / (time.perf_counter() - start)
    log(f"synthesized {sizes['prepare_png_tiles']} PNG tiles ({synth_rate:.0f} tiles/s); timing prepare_split")
    start = time.perf_counter()
    result = prepare_split(raw, "png_csv", "train", config, work / "prepared_png.npy")
    seconds = time.perf_counter() - start
    n_read = len(result.kept) + len(result.skipped)
    return {"prepare_tiles_per_s": round(n_read / seconds, 1), "prepare_n_tiles": n_read,
            "prepare_workers": config.workers, "synthesize_tiles_per_s": round(synth_rate, 1)}


# ---- scale: prepare + encode over 50,000 tiles in a child process ------------------------------------------

def bench_scale(params: dict, sizes: dict, work: Path) -> dict:
    n = sizes["scale_tiles"]
    start = time.perf_counter()
    raw = synthetic.npy_dataset(work / "npy", n, 299, 3)
    log(f"wrote a {n} x 299 x 299 npy dataset in {time.perf_counter() - start:.0f} s; prepare + encode in a child")
    probe_params = {"prepare": prepare_config(params), "model": model_shape(params),
                    "encode_batch_size": int(params["encode"]["batch_size"])}
    out = work / "scale_out"
    out.mkdir()
    child = psutil.Popen([sys.executable, str(HERE / "scale_probe.py"), str(raw), str(out), json.dumps(probe_params)],
                         stdout=subprocess.PIPE, text=True)
    peak_tree, peak_by_pid = 0, {}
    while child.poll() is None:
        total = 0
        for proc in [child, *child.children(recursive=True)]:
            try:
                rss = proc.memory_info().rss
            except psutil.Error:  # a worker that just exited
                continue
            total += rss
            peak_by_pid[proc.pid] = max(rss, peak_by_pid.get(proc.pid, 0))
        peak_tree = max(peak_tree, total)
        time.sleep(0.1)
    stdout = child.stdout.read()
    if child.returncode != 0:
        raise RuntimeError(f"scale probe failed ({child.returncode}): {stdout[-2000:]}")
    probe = json.loads(stdout.strip().splitlines()[-1])
    return {"scale_n_tiles": probe["n_read"], "scale_n_encoded": probe["n_encoded"],
            "scale_peak_rss_mb": round(max(peak_tree / 2**20, probe["main_process_peak_rss_mb"]), 1),
            "scale_main_process_peak_rss_mb": round(probe["main_process_peak_rss_mb"], 1),
            "scale_main_process_peak_rss_mb_after_prepare": round(probe["main_process_peak_rss_mb_after_prepare"], 1),
            "scale_worker_peak_rss_mb": round(max([rss for pid, rss in peak_by_pid.items() if pid != child.pid],
                                                  default=0) / 2**20, 1),
            "scale_prepare_tiles_per_s": round(probe["n_read"] / probe["prepare_seconds"], 1),
            "scale_encode_tiles_per_s": round(probe["n_encoded"] / probe["encode_seconds"], 1)}


# ---- scale + dbscan + knn_report on 50,000 latents ---------------------------------------------------------

def bench_cluster(params: dict, sizes: dict, work: Path) -> dict:
    """The library calls of stages scale, dbscan and knn_report, in their order, on one set of latents."""
    from tilescan.cluster import (
        cluster_summary,
        fit_scaler,
        k_distance_curve,
        nearest_neighbours,
        resolve_eps,
        run_dbscan,
    )
    from tilescan.features import FEATURE_NAMES
    from tilescan.score import baseline_scores, check_method, combined_scores, statistics_scores

    settings, report = params["dbscan"], params["knn_report"]
    min_samples, k, method = int(settings["min_samples"]), int(report["k"]), report["method"]
    n = sizes["cluster_points"]
    latents = synthetic.structured_latents(n, int(params["train_autoencoder"]["latent_dim"]), 4)
    features = synthetic.image_features(n, len(FEATURE_NAMES), 6)
    ids = [f"t{i}" for i in range(n)]
    query_rows = np.random.default_rng(5).choice(n, max(1, len(report["queries"])), replace=False)
    wall, cpu = {}, {}

    def timed(name, func, *args):
        start, cpu_start = time.perf_counter(), sum(os.times()[:2])
        value = func(*args)
        wall[name] = round(time.perf_counter() - start, 2)
        cpu[name] = round(sum(os.times()[:2]) - cpu_start, 2)
        return value

    scaler = timed("fit_scaler", fit_scaler, latents)
    points = timed("transform", lambda: scaler.transform(latents).astype(np.float32))  # as stages/scale.py
    curve = timed("k_distance_curve", k_distance_curve, points, min_samples)
    eps = resolve_eps(settings["eps"], curve)
    labels = timed("run_dbscan", run_dbscan, points, eps, min_samples, settings["metric"])
    timed("cluster_summary", cluster_summary, labels, ids, [ids[q] for q in query_rows])
    distances, neighbours = timed("nearest_neighbours", nearest_neighbours, points, query_rows, k)
    timed("baseline_scores", baseline_scores, points, labels, query_rows, neighbours, min_samples)
    statistics, _, parts = timed("statistics_scores", statistics_scores, features, FEATURE_NAMES, query_rows,
                                 int(report["min_line_glyphs"]), int(params["common"]["seed"]))
    probability = np.random.default_rng(7).uniform(size=n)
    timed("combined_scores", combined_scores, probability, statistics, statistics, query_rows,
          float(report["combined_threshold"]), parts.get("query_similarity"))
    timed("baseline_scores_without_queries", baseline_scores, points, labels, np.zeros(0, np.int64),
          np.zeros((0, 0), np.int64), min_samples)
    method = check_method(method)
    scoring = {"baseline": ["baseline_scores"], "statistics": ["statistics_scores"],
               "detector": ["statistics_scores"],  # the components are written whatever the method
               "combined": ["statistics_scores", "combined_scores"]}[method]
    path = ["fit_scaler", "transform", "k_distance_curve", "run_dbscan", "cluster_summary", "nearest_neighbours",
            *scoring]
    return {"cluster_knn_seconds_50k": round(sum(wall[name] for name in path), 2),
            "cluster_knn_cpu_seconds_50k": round(sum(cpu[name] for name in path), 2),
            "cluster_n_points": n, "cluster_scoring_method": method, "cluster_seconds_by_call": wall,
            "cluster_cpu_seconds_by_call": cpu, "cluster_eps": round(eps, 4),
            "cluster_n_clusters": int(len(set(labels.tolist()) - {-1})),
            "cluster_noise_fraction": round(float(np.mean(labels == -1)), 4)}


# ---- scoring: image statistics + detector inference per tile -------------------------------------------

def bench_scoring(params: dict, sizes: dict, work: Path) -> dict:
    """Tiles/s of the per-tile scoring work at full resolution: the features stage's statistics (with
    prepare.workers processes, as the stage runs them) and the detector's inference (train_detector's
    predict_stream; an untrained network costs the same). The second pass is timed (graph traced)."""
    from tilescan.detect import build_detector, predict_stream
    from tilescan.detect.train import DetectorConfig, member_core
    from tilescan.features import features_of_item
    from tilescan.parallel import chunked_map
    from tilescan.readers import iter_tiles
    from tilescan.synth import synthesize

    n, workers = sizes["scoring_tiles"], int(params["prepare"]["workers"])
    raw = work / "png"
    synthesize(raw, n, 10, int(params["common"]["seed"]), workers=workers)
    tiles = [image for _, image in iter_tiles(raw, "png_csv", "train", None)][:n]
    start = time.perf_counter()
    for _ in chunked_map(features_of_item, ((i, t) for i, t in enumerate(tiles)), workers):
        pass
    features_rate = len(tiles) / (time.perf_counter() - start)
    settings = params["train_detector"]
    config = DetectorConfig(edge_padding=int(settings["edge_padding"]), members=int(settings.get("members", 1)),
                            local_contrast_members=int(settings.get("local_contrast_members", 0)))
    cores = [member_core(config, member) for member in range(config.members)]  # members share the views
    detector = build_detector(cores, int(settings["input_size"]), int(settings["views"]),
                              int(settings["tile_padding"]))
    rates = []
    for _ in range(2):
        start = time.perf_counter()
        for _ in predict_stream(detector, enumerate(tiles), total=len(tiles)):
            pass
        rates.append(len(tiles) / (time.perf_counter() - start))
    both = 1 / (1 / features_rate + 1 / rates[-1])
    return {"scoring_tiles_per_s": round(both, 1), "scoring_features_tiles_per_s": round(features_rate, 1),
            "scoring_detector_tiles_per_s": round(rates[-1], 1), "scoring_n_tiles": len(tiles),
            "scoring_tile_side": int(tiles[0].shape[0]), "scoring_workers": workers,
            "scoring_detector_settings": {**{name: int(settings[name])
                                             for name in ("input_size", "views", "tile_padding", "edge_padding")},
                                          "members": len(cores),
                                          "local_contrast_members": config.local_contrast_members},
            "scoring_reference": OCR_REFERENCE, "scoring_speedup_vs_ocr": round(both / OCR_TILES_PER_S, 1)}


# ---- the speed cost of the math pins ---------------------------------------------------------------------

def bench_pins(params: dict, sizes: dict, work: Path) -> dict:
    """Features of real synthetic tiles and a short autoencoder fit, each in a child process with and without
    the math pins (tilescan.runtime.math_env), alternating twice; the fastest run of each is reported."""
    from tilescan.runtime import math_env
    from tilescan.synth import lettering_style, plan_tile, render_tile

    seed, threads = int(params["common"]["seed"]), int(params["common"].get("threads", 2))
    tiles_file = work / "pins_tiles.npy"
    np.save(tiles_file, np.stack([render_tile(plan_tile(seed, "train", i, 0.04), seed, 299, lettering_style("default"))
                                  for i in range(sizes["pins_feature_tiles"])]))
    unpinned = {k: v for k, v in os.environ.items()
                if k not in math_env(threads) and k not in ("NPY_DISABLE_CPU_FEATURES", "DNNL_MAX_CPU_ISA")}
    envs = {"unpinned": unpinned, "pinned": {**unpinned, **math_env(threads)}}
    workloads = {"features": [str(tiles_file)],
                 "train": [str(sizes["pins_train_tiles"]), str(sizes["pins_train_epochs"])]}
    runs = {(w, e): [] for w in workloads for e in envs}
    for _ in range(2):
        for workload, extra in workloads.items():
            for name, env in envs.items():
                out = subprocess.run([sys.executable, str(HERE / "pins_probe.py"), workload, str(ROOT / "params.yaml"),
                                      str(work), *extra], env=env, capture_output=True, text=True, check=True)
                result = json.loads(out.stdout.strip().splitlines()[-1])
                runs[workload, name].append(result)
                log(f"pins: {workload} {name}: {result['tiles_per_s']} tiles/s (NumPy {result['numpy_dispatch']})")
    figures = {"pins_threads": threads, "pins_feature_tiles": sizes["pins_feature_tiles"],
               "pins_train_tiles": sizes["pins_train_tiles"], "pins_train_epochs_timed": sizes["pins_train_epochs"] - 1}
    for workload in workloads:
        for name in envs:
            figures[f"pins_{workload}_{name}_tiles_per_s"] = max(r["tiles_per_s"] for r in runs[workload, name])
            figures[f"pins_{workload}_{name}_runs_tiles_per_s"] = [r["tiles_per_s"] for r in runs[workload, name]]
            figures[f"pins_{name}_numpy_dispatch"] = runs[workload, name][0]["numpy_dispatch"]
        # how many times longer the pinned run takes
        figures[f"pins_{workload}_slowdown"] = round(figures[f"pins_{workload}_unpinned_tiles_per_s"]
                                                     / figures[f"pins_{workload}_pinned_tiles_per_s"], 2)
    return figures


# ---- machine and versions ------------------------------------------------------------------------------

def machine() -> dict:
    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpus = []
    try:
        import tensorflow as tf
        gpus = [device.name for device in tf.config.list_physical_devices("GPU")]
    except ImportError:
        pass
    return {"cpu_model": cpu, "logical_cores": os.cpu_count(), "physical_cores": psutil.cpu_count(logical=False),
            "ram_gb": round(psutil.virtual_memory().total / 2**30, 1), "gpus": gpus,
            "platform": platform.platform()}


def versions() -> dict:
    names = ("tensorflow-cpu", "tensorflow", "keras", "numpy", "scikit-learn", "scikit-image", "pillow", "dvc")
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return {"python": platform.python_version(), **found}


BENCHMARKS = {"encode": bench_encode, "train": bench_train, "train_seed_arch": bench_train_seed_arch,
              "prepare": bench_prepare, "scale": bench_scale, "cluster": bench_cluster, "pins": bench_pins,
              "scoring": bench_scoring}


def merged(previous: dict, report: dict) -> dict:
    """previous figures with this run's on top; the per-benchmark load and memory tables are merged too."""
    combined = {**previous, **report}
    for key in ("load_average_1min", "bench_process_peak_rss_mb_after"):
        combined[key] = {**previous.get(key, {}), **report.get(key, {})}
    combined["targets_met"] = {**previous.get("targets_met", {}), **report.get("targets_met", {})}
    # total_seconds stays the full run's (its target is about all benchmarks); this run is recorded beside it
    combined["total_seconds"] = previous.get("total_seconds", report["total_seconds"])
    combined["updated_by"] = {"benchmarks": sorted(set(report["load_average_1min"]) - {"end"}),
                              "seconds": report["total_seconds"]}
    return combined


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "metrics" / "bench.json")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated subset of: "
                        + ", ".join(BENCHMARKS))
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the script, not the machine")
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a temporary one, removed)")
    parser.add_argument("--update", action="store_true",
                        help="keep the other benchmarks' figures already in --out, replacing only those run now")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        parser.error(f"--only: unknown benchmark(s) {', '.join(unknown)}")
    params = yaml.safe_load(args.params.read_text())
    sizes = QUICK if args.quick else FULL
    report = {"machine": machine(), "versions": versions(), "sizes": sizes, "quick": args.quick,
              "params": {"model": model_shape(params), "train_batch_size": params["train_autoencoder"]["batch_size"],
                         "encode_batch_size": params["encode"]["batch_size"], "prepare": prepare_config(params),
                         "dbscan": params["dbscan"], "knn_report_k": params["knn_report"]["k"],
                         "seed_arch": SEED_ARCH, "strategy": params["train_autoencoder"]["strategy"],
                         "mixed_precision": params["train_autoencoder"]["mixed_precision"]}}
    log(f"{report['machine']['cpu_model']}, {report['machine']['logical_cores']} cores, "
        f"{report['machine']['ram_gb']} GiB; benchmarks: {', '.join(chosen)}")
    started, load, peak = time.perf_counter(), {}, {}
    with tempfile.TemporaryDirectory(prefix="tilescan-bench-") as temp:
        work = args.workdir or Path(temp)
        work.mkdir(parents=True, exist_ok=True)
        for i, name in enumerate(chosen, 1):
            load[name] = round(os.getloadavg()[0], 2)
            log(f"({i}/{len(chosen)}) {name} (load average {load[name]}) ...")
            start = time.perf_counter()
            (work / name).mkdir(exist_ok=True)
            figures = BENCHMARKS[name](params, sizes, work / name)
            figures[f"{name}_bench_seconds"] = round(time.perf_counter() - start, 1)
            peak[name] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
            log(f"({i}/{len(chosen)}) {name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()
                                                              if not isinstance(v, (dict, list))))
            report.update(figures)
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    # 1-minute load average as each benchmark started: above the core count, other work shared the CPUs
    report["load_average_1min"] = {**load, "end": round(os.getloadavg()[0], 2)}
    # this process's peak resident memory after each benchmark (the scale benchmark measures its child instead)
    report["bench_process_peak_rss_mb_after"] = peak
    report["targets"] = {key: f"{op} {value}" for key, (op, value) in TARGETS.items()}
    report["targets_met"] = {key: (report[key] >= value if op == ">=" else report[key] <= value)
                             for key, (op, value) in TARGETS.items() if key in report}
    if args.update and args.out.is_file():
        report = merged(json.loads(args.out.read_text()), report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    log(f"wrote {args.out} in {report['total_seconds']:.0f} s; targets met: {report['targets_met']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
