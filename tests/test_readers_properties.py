"""Properties of the PNG reader: every mode and bit depth becomes the expected 2-D uint8; damage is a TilescanError."""
from __future__ import annotations

import io
from fractions import Fraction

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tilescan import readers
from tilescan.errors import TilescanError

FAST = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
MODES = ("L", "I;16", "RGB", "RGBA", "LA", "P", "1")


@st.composite
def images(draw) -> Image.Image:
    """A random PIL image of a mode PNG stores, 1..64 px a side, with random or uniform pixels."""
    mode = draw(st.sampled_from(MODES))
    height, width = draw(st.integers(1, 64)), draw(st.integers(1, 64))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    uniform = draw(st.booleans())
    high = 65536 if mode == "I;16" else 256
    channels = {"RGB": 3, "RGBA": 4, "LA": 2}.get(mode, 1)
    shape = (height, width, channels) if channels > 1 else (height, width)
    if uniform:
        pixels = np.full(shape, rng.integers(0, high, channels), dtype=np.uint16 if high > 256 else np.uint8)
    else:
        pixels = rng.integers(0, high, shape, dtype=np.uint16 if high > 256 else np.uint8)
    if mode == "P":
        image = Image.fromarray(pixels, mode="P")
        image.putpalette(rng.integers(0, 256, 768, dtype=np.uint8).tobytes())
        return image
    if mode == "1":
        return Image.fromarray(pixels >= 128)
    image = Image.fromarray(pixels)
    assert image.mode == mode
    return image


def expected_gray(image: Image.Image) -> np.ndarray:
    """The conversion spelled out independently of tilescan: PIL's own luma, exact 16-bit rounding."""
    if image.mode == "I;16":
        scale = np.vectorize(lambda v: round(Fraction(int(v) * 255, 65535)))
        return scale(np.asarray(image)).astype(np.uint8)
    if image.mode in ("LA", "RGBA", "P"):
        image = image.convert("RGB") if image.mode != "LA" else image.getchannel(0)  # alpha is ignored
    return np.asarray(image.convert("L"))


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@FAST
@given(image=images())
def test_png_round_trip_gives_the_expected_gray(tmp_path, image):
    path = tmp_path / "tile.png"
    path.write_bytes(png_bytes(image))
    gray = readers.read_png(path)
    assert gray.dtype == np.uint8 and gray.shape == (image.height, image.width)
    assert np.array_equal(gray, expected_gray(image))


@FAST
@given(value=st.integers(0, 65535), height=st.integers(1, 16), width=st.integers(1, 16))
def test_uniform_16_bit_png_maps_to_rounded_scaled_value(tmp_path, value, height, width):
    path = tmp_path / "tile16.png"
    Image.fromarray(np.full((height, width), value, np.uint16)).save(path)
    assert np.all(readers.read_png(path) == round(Fraction(value * 255, 65535)))


@st.composite
def damaged_png(draw) -> bytes:
    """A valid PNG truncated at a random byte, or with random bytes flipped."""
    data = bytearray(png_bytes(draw(images())))
    if draw(st.booleans()):
        return bytes(data[:draw(st.integers(0, len(data) - 1))])
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] ^= draw(st.integers(1, 255))
    return bytes(data)


@settings(FAST, max_examples=100)
@given(data=damaged_png())
def test_damaged_png_reads_as_an_image_or_raises_tilescan_error_naming_it(tmp_path, data):
    path = tmp_path / "damaged.png"
    path.write_bytes(data)
    try:
        gray = readers.read_png(path)
    except TilescanError as exc:
        assert str(exc).startswith(f"{path}: ")
    else:
        assert gray.dtype == np.uint8 and gray.ndim == 2 and gray.size > 0
