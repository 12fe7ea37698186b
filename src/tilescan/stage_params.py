"""Parameter bundles read the same way by several stages (one place, not one copy per stage)."""
from __future__ import annotations

from tilescan.cli import section


def model_shape(params: dict) -> dict:
    """build_autoencoder's keyword arguments, as train_autoencoder and encode both need them."""
    common, train = section(params, "common"), section(params, "train_autoencoder")
    return {"img_size": int(common["img_size"]), "channels": int(common["channels"]),
            "filters": [int(f) for f in train["filters"]], "dense_units": int(train["dense_units"]),
            "latent_dim": int(train["latent_dim"])}
