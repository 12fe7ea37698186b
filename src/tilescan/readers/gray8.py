"""Pixel conversion: any image array or PIL image to a 2-D uint8 grayscale tile."""
from __future__ import annotations

import numpy as np
from PIL import Image

from tilescan.errors import require

# ITU-R 601 luma in 16-bit fixed point, the exact weights and rounding of PIL's convert("L").
_LUMA_WEIGHTS = (19595, 38470, 7471)


def to_gray8(image: np.ndarray | Image.Image, bit_depth: int = 16) -> np.ndarray:
    """Return image as a 2-D uint8 grayscale array.

    Accepts H x W or H x W x C arrays (C = 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA) of dtype uint8, uint16
    (scaled by 255/65535 and rounded), bool (0/255) or float in [0, 1]; or a PIL image of any mode.
    Colour becomes ITU-R 601 luma exactly as PIL's convert("L") computes it. Alpha is ignored (not
    composited), as PIL's convert("L") does, so transparent pixels keep their stored gray. (PIL itself
    reads 16-bit colour PNGs as 8 bits per channel, keeping the high byte: within 1 level of scaling.)
    bit_depth: the significant bits of uint16 data (12-bit scanner output stored in 16-bit PNGs has 4095 as
    white); values are scaled by 255 / (2**bit_depth - 1), anything above clipped to 255.
    """
    array = pil_to_array(image) if isinstance(image, Image.Image) else np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    require(array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (2, 3, 4)),
            f"expected an H x W or H x W x C image with C in 1..4, got shape {array.shape}")
    require(array.size > 0, f"empty image (shape {array.shape})")
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    kind, size = array.dtype.kind, array.dtype.itemsize
    require((kind == "u" and size in (1, 2)) or kind == "f",
            f"unsupported pixel type {array.dtype}: expected uint8, uint16, bool or float in [0, 1]")
    if kind == "f":
        require(bool(np.isfinite(array).all()) and array.min() >= 0 and array.max() <= 1,
                "float pixels must lie in [0, 1]")
    if array.ndim == 3:
        array = array[:, :, 0] if array.shape[2] == 2 else _luma(array[:, :, :3])
    if kind == "f":
        return np.rint(array * 255).astype(np.uint8)
    if size == 2 and bit_depth == 16:
        # round(v * 255 / 65535) = floor((2v + 257) / 514) in integers; v / 257 is never a tie.
        return ((array.astype(np.uint32) * 2 + 257) // 514).astype(np.uint8)
    if size == 2:
        top = (1 << bit_depth) - 1
        return np.rint(np.minimum(array, top) * (255.0 / top)).astype(np.uint8)
    return np.ascontiguousarray(array, dtype=np.uint8)


def significant_bits(array: np.ndarray) -> int:
    """The bit depth a tile's pixel values need: 8 for 8-bit data, else the smallest of 10, 12, 14, 16 that
    holds its maximum."""
    if array.dtype.itemsize == 1 or array.dtype == bool or array.dtype.kind == "f":
        return 8
    peak = int(array.max()) if array.size else 0
    return next(depth for depth in (10, 12, 14, 16) if peak < (1 << depth))


def png_sbit(path) -> int | None:
    """The significant bits a PNG declares in its sBIT chunk (the largest over its channels), or None.
    Pillow reads but does not expose sBIT, so the chunks before the image data are walked here."""
    try:
        with open(path, "rb") as file:
            if file.read(8) != b"\x89PNG\r\n\x1a\n":
                return None
            while True:
                head = file.read(8)
                if len(head) < 8:
                    return None
                length, kind = int.from_bytes(head[:4], "big"), head[4:]
                if kind in (b"IDAT", b"IEND"):
                    return None
                data = file.read(length)
                file.read(4)  # CRC
                if kind == b"sBIT" and data:
                    return max(data)
    except OSError:
        return None


def pil_to_array(image: Image.Image) -> np.ndarray:
    """Return a PIL image's pixels as gray, gray+alpha, RGB or RGBA in uint8/uint16/bool."""
    if image.mode in ("P", "PA"):
        has_alpha = image.mode == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    elif image.mode not in ("1", "L", "LA", "RGB", "RGBA", "I", "F") and not image.mode.startswith("I;16"):
        image = image.convert("RGB")  # CMYK, YCbCr, LAB, HSV, premultiplied alpha
    array = np.asarray(image)
    if image.mode == "I":  # 32-bit integers; PNG only stores 16 bits in them
        require(array.size == 0 or (array.min() >= 0 and array.max() <= 65535),
                "32-bit integer pixels outside the 16-bit range 0..65535")
        array = array.astype(np.uint16)
    elif image.mode.startswith("I;16"):
        array = array.astype(np.uint16)  # native byte order
    return array


def _luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of an H x W x 3 array, in its own dtype (PIL's fixed-point weights and rounding)."""
    if rgb.dtype.kind == "f":
        weights = np.array(_LUMA_WEIGHTS) / 65536
        return rgb @ weights
    wide = rgb.astype(np.int64)
    luma = (wide[:, :, 0] * _LUMA_WEIGHTS[0] + wide[:, :, 1] * _LUMA_WEIGHTS[1]
            + wide[:, :, 2] * _LUMA_WEIGHTS[2] + 0x8000) >> 16
    return luma.astype(rgb.dtype)
