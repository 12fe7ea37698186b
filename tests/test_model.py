"""The autoencoder's shapes follow the notebook (bad sizes are refused by tilescan.params: test_params)."""
import numpy as np
import pytest

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


def test_encode_measures_the_reconstruction_error_only_where_asked():
    """Issue 13: every tile gets its latent; the decoder runs only on the sampled rows, with the same values
    as when it runs on every row."""
    from tilescan.encode import encode_tiles

    encoder, decoder, _ = build_autoencoder(16, 1, [8, 4, 2], 16, 10)
    tiles = np.random.default_rng(1).integers(0, 256, (23, 16, 16), dtype=np.uint8)
    runs = {}
    for name, measured in (("all", np.ones(23, bool)), ("some", np.arange(23) % 3 == 0)):
        latents, errors = np.zeros((23, 10), np.float32), np.zeros(23, np.float32)
        encode_tiles(encoder, decoder, tiles, 1, 8, latents, errors, measured)
        runs[name] = latents, errors, measured
    (latents_all, errors_all, _), (latents_some, errors_some, some) = runs["all"], runs["some"]
    np.testing.assert_array_equal(latents_some, latents_all)
    assert np.isfinite(errors_all).all() and np.isnan(errors_some[~some]).all()
    np.testing.assert_allclose(errors_some[some], errors_all[some], rtol=1e-5)
