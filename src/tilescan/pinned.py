"""Importing this module pins the math (tilescan.runtime.pin_math) with `common.threads` from params.yaml.

It is the first import of every stage script, because NumPy, OpenBLAS, oneDNN and TensorFlow read the pins
only when they load; so it reads params.yaml with PyYAML alone. A bad value, or fewer visible cores than
threads, is the stages' one-line `error:` and exit 1.
"""
from tilescan.errors import TilescanError
from tilescan.runtime import DEFAULT_THREADS, pin_math
from tilescan.stage import fail, load_params, param, section


def threads_from_params() -> int:
    """common.threads (DEFAULT_THREADS when absent), a positive integer."""
    params = load_params()
    if "threads" not in section(params, "common"):
        return DEFAULT_THREADS
    threads = param(params, "common.threads", int)
    if threads < 1:
        raise TilescanError(f"common.threads must be >= 1, got {threads}")
    return threads


try:
    THREADS = threads_from_params()
    pin_math(THREADS)
except TilescanError as exc:
    fail(exc)
