"""Parameter bundles read the same way by several stages (one place, not one copy per stage)."""
from __future__ import annotations

from tilescan.cli import param
from tilescan.errors import TilescanError


def model_shape(params: dict) -> dict:
    """build_autoencoder's keyword arguments, as train_autoencoder and encode both need them."""
    filters = param(params, "train_autoencoder.filters", list)
    if not all(isinstance(f, int) and not isinstance(f, bool) for f in filters):
        raise TilescanError(f"train_autoencoder.filters must be a list of integers, got {filters!r}")
    return {"img_size": param(params, "common.img_size", int), "channels": param(params, "common.channels", int),
            "filters": filters, "dense_units": param(params, "train_autoencoder.dense_units", int),
            "latent_dim": param(params, "train_autoencoder.latent_dim", int)}
