"""Importing this module pins the math (tilescan.runtime.pin_math) with `common.threads` from params.yaml.

It is the first import of every stage script, because NumPy, OpenBLAS, oneDNN and TensorFlow read the pins
only when they load; the params layer (tilescan.params) needs only PyYAML. Bad params, or fewer visible cores
than threads, are the stages' one-line `error:` and exit 1.
"""
from tilescan.errors import TilescanError
from tilescan.params import load_params
from tilescan.runtime import pin_math
from tilescan.stage import fail

try:
    THREADS = load_params().common.threads
    pin_math(THREADS)
except TilescanError as exc:
    fail(exc)
