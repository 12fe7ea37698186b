"""The autoencoder's shapes follow the notebook; bad sizes are refused by name."""
import numpy as np
import pytest

from tilescan.errors import TilescanError
from tilescan.model import build_autoencoder


@pytest.mark.parametrize("img_size,channels", [(16, 1), (32, 3)])
def test_shapes(img_size, channels):
    encoder, decoder, autoencoder = build_autoencoder(img_size, channels, [8, 4, 2], 16, 10)
    batch = np.random.default_rng(0).random((2, img_size, img_size, channels)).astype("float32")
    latent = encoder(batch)
    assert latent.shape == (2, 10) and np.all(latent.numpy() >= 0)  # relu latent
    recon = autoencoder(batch).numpy()
    assert recon.shape == batch.shape and recon.min() >= 0 and recon.max() <= 1  # sigmoid output


def test_notebook_layout():
    encoder, decoder, _ = build_autoencoder(128, 3, [128, 64, 32], 256, 150)
    convs = [layer for layer in encoder.layers if layer.__class__.__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [128, 64, 32]
    assert all(not c.use_bias and c.kernel_size == (3, 3) for c in convs)
    assert decoder.get_layer(index=2).units == 16 * 16 * 32
    assert sum(layer.__class__.__name__ == "UpSampling2D" for layer in decoder.layers) == 3


@pytest.mark.parametrize("kwargs,name", [
    ({"img_size": 60}, "common.img_size"),
    ({"channels": 2}, "common.channels"),
    ({"filters": [8, 4]}, "train_autoencoder.filters"),
    ({"latent_dim": 0}, "train_autoencoder.latent_dim"),
])
def test_bad_sizes_name_the_parameter(kwargs, name):
    args = {"img_size": 16, "channels": 1, "filters": [4, 4, 4], "dense_units": 8, "latent_dim": 4, **kwargs}
    with pytest.raises(TilescanError, match=name):
        build_autoencoder(**args)
