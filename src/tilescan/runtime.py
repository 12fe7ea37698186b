"""Numeric pins: the same float results on every x86-64 machine with AVX2 (issue 15).

Each math library picks kernels by CPU, or splits reductions by thread count, at run time; each pin below
was measured to change output bytes when left free (README, "Reproducibility"):

* NumPy 2.4 dispatches ufuncs by CPU level; ``arctan2`` and ``log`` have AVX-512 kernels that round
  differently. ``NPY_ENABLE_CPU_FEATURES=X86_V3`` enables exactly the AVX2 level (``NPY_DISABLE_CPU_FEATURES``
  does not cascade: disabling X86_V4 leaves AVX512_ICL on).
* OpenBLAS (NumPy's and SciPy's copies) picks kernels by CPU and splits GEMM/LAPACK work by thread:
  ``OPENBLAS_CORETYPE=Haswell`` (what every AVX2 machine, Zen included, runs) and its thread count.
* TensorFlow: Eigen's contractions call oneDNN's sgemm, which dispatches by ISA even with the oneDNN
  graph rewrite off: ``ONEDNN_MAX_CPU_ISA=AVX2``. The rewrite itself reads the real CPU, so it is off
  (``TF_ENABLE_ONEDNN_OPTS=0``). Intra- and inter-op thread counts change the reduction order. Eigen slices
  its products by the CPU's cache sizes, which no variable sets: :func:`configure_tensorflow` pins them
  (tilescan.eigen_caches).
* TensorFlow's Rsqrt and Reciprocal refine an estimate that the CPU itself makes (``vrsqrtps``, ``vrcpps``),
  which Intel and AMD make differently; no variable switches that off, so the networks avoid both ops
  (tilescan.exact_keras: batch normalisation and the loss).

The variables act only when a library loads, so :func:`pin_math` must run before NumPy is imported:
``import tilescan.pinned`` is the first import of every stage script. This module imports none of them.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from tilescan.errors import TilescanError

DEFAULT_THREADS = 2
NUMPY_DISPATCH = "X86_V3"
OPENBLAS_CORETYPE = "Haswell"
ONEDNN_MAX_CPU_ISA = "AVX2"

# Modules that read the pins when they load (or load a library that does).
_TOO_LATE = ("numpy", "scipy", "sklearn", "tensorflow", "keras", "threadpoolctl", "skimage", "pandas")
# Inherited variables that would conflict with the pins.
_CONFLICTING = ("NPY_DISABLE_CPU_FEATURES", "DNNL_MAX_CPU_ISA")


class PinError(TilescanError):
    """The pins cannot be put in force in this process."""


def visible_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def math_env(threads: int) -> dict[str, str]:
    """The environment variables that pin the math for `threads` worker threads."""
    n = str(threads)
    return {"NPY_ENABLE_CPU_FEATURES": NUMPY_DISPATCH, "OPENBLAS_CORETYPE": OPENBLAS_CORETYPE,
            "OPENBLAS_NUM_THREADS": n, "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n,
            "TF_ENABLE_ONEDNN_OPTS": "0", "ONEDNN_MAX_CPU_ISA": ONEDNN_MAX_CPU_ISA,
            "TF_NUM_INTRAOP_THREADS": n, "TF_NUM_INTEROP_THREADS": n}


def pin_math(threads: int) -> dict[str, str]:
    """Set the pins in this process's environment (and so its children's) and return them. The caller's own
    values are overridden: the pins are the contract, not a default."""
    late = sorted(name for name in _TOO_LATE if name in sys.modules)
    if late:
        raise PinError(f"the math pins must be set before {', '.join(late)} is imported: "
                       "make `import tilescan.pinned` the first import")
    cores = visible_cores()
    if cores < threads:
        # OpenBLAS caps its threads at the visible cores, which changes how LAPACK/GEMM split their sums
        raise PinError(f"common.threads is {threads} but only {cores} CPU core(s) are visible; set common.threads "
                       f"to at most {cores} (results then differ from a dvc.lock made with {threads})")
    for name in _CONFLICTING:
        os.environ.pop(name, None)
    env = math_env(threads)
    os.environ.update(env)
    return env


def configure_tensorflow(threads: int | None = None) -> None:
    """Pin Eigen's cache sizes and set TensorFlow's intra- and inter-op thread pools; call after importing TF,
    before its first op.

    `threads` defaults to the pinned count (TF_NUM_INTRAOP_THREADS); in an unpinned process (tests, a
    notebook) this does nothing. TF reads those variables itself when it starts; the explicit setters fail
    loudly if TF was started earlier with other values."""
    if threads is None:
        if "TF_NUM_INTRAOP_THREADS" not in os.environ:
            return
        threads = int(os.environ["TF_NUM_INTRAOP_THREADS"])
    import tensorflow as tf

    from tilescan.eigen_caches import CachePinError, pin_cache_sizes

    try:
        pin_cache_sizes()
    except CachePinError as error:  # another TensorFlow build: run, but say the bytes may differ
        print(f"warning: {error}; results may differ from dvc.lock on another CPU", file=sys.stderr)
    threading = tf.config.threading
    for get, set_ in ((threading.get_intra_op_parallelism_threads, threading.set_intra_op_parallelism_threads),
                      (threading.get_inter_op_parallelism_threads, threading.set_inter_op_parallelism_threads)):
        if get() != threads:
            try:
                set_(threads)
            except RuntimeError as error:  # "cannot be modified after initialization"
                raise PinError(f"TensorFlow started before its threads were pinned: {error}") from None


def pins_in_force() -> dict:
    """What governs the math in this process, for metrics/runtime.json (call after pin_math).

    Only facts that the pins make the same on every machine of the contract: no core count, CPU flags or
    paths, because DVC hashes the file and the hash must match across machines. Loads SciPy's and
    scikit-learn's thread pools so that every library the pipeline uses is listed."""
    import numpy as np
    import scipy.linalg  # noqa: F401  (SciPy's own OpenBLAS)
    import sklearn.cluster  # noqa: F401  (scikit-learn's OpenMP)
    from numpy._core import _multiarray_umath as umath
    from threadpoolctl import threadpool_info

    # keyed by wheel folder and file ("numpy.libs/libscipy_openblas64_-….so"): the same on every machine
    pools = {"/".join(Path(lib["filepath"]).parts[-2:]): {key: lib.get(key) for key in (
        "internal_api", "version", "architecture", "threading_layer", "num_threads")} for lib in threadpool_info()}
    info = {"env": {name: os.environ.get(name) for name in (*math_env(1), *_CONFLICTING)},
            "numpy": {"version": np.__version__,
                      "dispatch_enabled": [t for t in umath.__cpu_dispatch__ if umath.__cpu_features__.get(t)]},
            "threadpools": dict(sorted(pools.items()))}
    if "tensorflow" in sys.modules:
        threading = sys.modules["tensorflow"].config.threading
        from tilescan.eigen_caches import CachePinError, cache_sizes_in_force

        try:
            cache_sizes = cache_sizes_in_force()
        except CachePinError as error:  # configure_tensorflow warned: recorded, so the lock shows it
            cache_sizes = {"unpinned": str(error)}
        info["tensorflow"] = {"version": sys.modules["tensorflow"].__version__,
                              "intra_op_threads": threading.get_intra_op_parallelism_threads(),
                              "inter_op_threads": threading.get_inter_op_parallelism_threads(),
                              "eigen_cache_sizes": cache_sizes}
    return info


def check_pins(threads: int) -> list[str]:
    """What is not pinned as it should be in this process (empty: all in force)."""
    from tilescan.eigen_caches import CACHE_SIZES

    info = pins_in_force()
    problems = [f"{name}={os.environ.get(name)!r}, expected {value!r}" for name, value in math_env(threads).items()
                if os.environ.get(name) != value]
    if info["numpy"]["dispatch_enabled"] != [NUMPY_DISPATCH]:
        problems.append(f"NumPy dispatches {info['numpy']['dispatch_enabled']}, expected [{NUMPY_DISPATCH!r}]")
    for prefix, lib in info["threadpools"].items():
        if lib["internal_api"] == "openblas" and lib["architecture"] != OPENBLAS_CORETYPE:
            problems.append(f"{prefix} runs {lib['architecture']} kernels, expected {OPENBLAS_CORETYPE}")
        if lib["num_threads"] != threads:
            problems.append(f"{prefix} has {lib['num_threads']} threads, expected {threads}")
    tf_threads = info.get("tensorflow", {})
    problems += [f"{name}: Eigen blocks by cache sizes {sizes}, expected {list(CACHE_SIZES)}"
                 for name, sizes in tf_threads.get("eigen_cache_sizes", {}).items() if sizes != list(CACHE_SIZES)]
    if tf_threads and (tf_threads["intra_op_threads"], tf_threads["inter_op_threads"]) != (threads, threads):
        problems.append(f"TensorFlow threads intra {tf_threads['intra_op_threads']}, inter "
                        f"{tf_threads['inter_op_threads']}, expected {threads}")
    return problems
