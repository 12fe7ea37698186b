"""Image statistics: lettering shows stroke evidence that tissue-like texture does not."""
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from tilescan.features import FEATURE_NAMES, tile_features


def tissue(size: int, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(size=(size, size))
    smooth = ndimage.gaussian_filter(noise, size / 15)
    smooth = (smooth - smooth.min()) / (np.ptp(smooth) + 1e-9)
    return (60 + 120 * smooth).astype(np.uint8)


def with_text(image: np.ndarray, text: str = "MAY 25") -> np.ndarray:
    canvas = Image.fromarray(image)
    font = ImageFont.load_default(size=image.shape[0] // 5)
    ImageDraw.Draw(canvas).text((image.shape[0] // 10, image.shape[0] // 3), text, fill=250, font=font)
    return np.asarray(canvas)


def value(features, name):
    return features[FEATURE_NAMES.index(name)]


def test_vector_shape_and_finite():
    features = tile_features(tissue(96))
    assert features.shape == (len(FEATURE_NAMES),) and np.isfinite(features).all()
    assert np.isfinite(tile_features(np.zeros((40, 40), np.uint8))).all()  # a flat tile


def test_lettering_raises_stroke_evidence():
    for size in (128, 299):  # relative scales: any tile size
        plain, lettered = tile_features(tissue(size)), tile_features(with_text(tissue(size)))
        for name in ("stroke_fraction_high", "stroke_components", "orientation_entropy"):
            assert value(lettered, name) > value(plain, name), (size, name)


def test_lettering_stands_in_a_row_and_tissue_does_not():
    for size in (128, 299):
        plain, lettered = tile_features(tissue(size)), tile_features(with_text(tissue(size)))
        assert value(lettered, "line_glyphs") >= 3 and value(lettered, "text_lines") >= 1, size
        assert value(plain, "line_glyphs") == 0, size


def test_a_straight_bright_edge_is_not_many_oriented():
    image = tissue(128)
    image[:, 100:] = 250  # a film edge
    edge, lettered = tile_features(image), tile_features(with_text(tissue(128)))
    assert value(edge, "orientation_entropy") < value(lettered, "orientation_entropy")


def test_words_are_more_concentrated_than_scattered_dust():
    rng = np.random.default_rng(1)
    dust = np.full((150, 150), 30, np.uint8)
    for y, x in rng.integers(5, 145, size=(25, 2)):
        dust[y - 1:y + 2, x - 2:x + 3] = 240  # bright specks all over the tile
    words = with_text(np.full((150, 150), 30, np.uint8))
    assert value(tile_features(words), "stroke_concentration") > value(tile_features(dust), "stroke_concentration")


def test_histogram_statistics_equal_numpy_on_the_pixels():
    from tilescan.features import _intensity

    tile = np.random.default_rng(3).integers(0, 256, (61, 57)).astype(np.uint8)
    tile[:5] = 255
    (mean, std, p99, saturated, _), _ = _intensity(tile)
    image = tile.astype(np.float64) / 255
    assert np.allclose([mean, std, p99, saturated],
                       [image.mean(), image.std(), np.percentile(image, 99), np.mean(image > 0.9)])


def test_half_resolution_is_the_rounded_block_mean():
    from tilescan.features import half_resolution

    tile = np.random.default_rng(4).integers(0, 256, (9, 8)).astype(np.uint8)
    expected = np.floor(tile[:8].reshape(4, 2, 4, 2).astype(float).mean(axis=(1, 3)) + 0.5)
    assert half_resolution(tile).shape == (4, 4) and (half_resolution(tile) == expected).all()


def test_tiny_tiles_keep_their_resolution():
    for image in (tissue(12), np.full((2, 2), 9, np.uint8)):
        assert np.isfinite(tile_features(image)).all()


def test_vectorised_lbp_equals_skimage():
    from skimage.feature import local_binary_pattern

    from tilescan.features import uniform_lbp8

    rng = np.random.default_rng(5)
    flat_with_steps = np.full((40, 33), 90, np.uint8)
    flat_with_steps[10:20, 5:9] = 200  # exact ties everywhere but at the steps
    for image in (rng.integers(0, 256, (37, 41)).astype(np.uint8), flat_with_steps, with_text(tissue(64))):
        assert (uniform_lbp8(image) == local_binary_pattern(image, 8, 1, method="uniform")).all()
