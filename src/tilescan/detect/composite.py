"""Drawing synthetic lettering (positives) and hard negatives onto a user's own tiles.

The detector is trained self-supervised: a real class-0 tile with lettering composited onto it is a positive,
the tile as it is or with a look-alike that is not lettering (dust, edges, boundaries, blobs, hairs, blank tags)
is a negative. Generalisation comes from variety, so everything is drawn at random: font family (FreeFont, URW
base35, matplotlib's STIX and Computer Modern; deliberately NOT DejaVu or Liberation, which the project's
synthetic-data generator uses), string (random letters, digits, dates, codes, single characters), polarity
(bright strokes, dark letters on a label tag, dark text on bright film), contrast (down to faint), size (small
digits ~8 px high to large words), angle, mirroring, position (cut by the border, on black margin or tissue),
blur and noise. Whatever is pasted keeps the tile's own fine grain, so a noise-free flat stroke never gives
the label away. Nothing here shares fonts, word lists or drawing code with `tilescan.synth`.

Every drawing function takes a `numpy.random.Generator` and returns `(image, kind)`, so tests can check what
was drawn. Images are 2-D uint8 arrays of any size.
"""
from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from tilescan.errors import TilescanError

LETTERING_KINDS = ("bright_text", "faint_text", "dark_tag", "bright_tag", "dark_text", "small_digits",
                   "margin_text")
DISTRACTOR_KINDS = ("dust", "straight_edge", "curved_boundary", "blob", "hair", "scratch", "blank_tag",
                    "marker", "none")
# How often each hard negative is drawn (DISTRACTOR_KINDS without "none"): metal markers three times as often as
# the others. Discs and rings look like single letters (O, 0), and markers fired the detector more than any other
# look-alike; drawn this often they gained on all four sets measured (docs/experiments.md, Session 24).
DISTRACTOR_WEIGHTS = (1, 1, 1, 1, 1, 1, 1, 3)
DISTRACTOR_SHARES = np.divide(DISTRACTOR_WEIGHTS, sum(DISTRACTOR_WEIGHTS))
# Debian font folders and the package that installs each (the README and .ci/run install both).
SYSTEM_FONT_DIRS = ((Path("/usr/share/fonts/truetype/freefont"), "fonts-freefont-ttf"),
                    (Path("/usr/share/fonts/opentype/urw-base35"), "fonts-urw-base35"))
EXCLUDED_FONT_WORDS = ("dejavu", "liberation", "symbol", "d050000l", "z003", "lastresort", "stixsiz",
                       "stixnonuni", "cmex", "cmsy", "cmmi")
MATPLOTLIB_FONTS = ("STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf",
                    "cmr10.ttf", "cmb10.ttf", "cmss10.ttf", "cmtt10.ttf")
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


@lru_cache(maxsize=1)
def font_files() -> tuple[Path, ...]:
    """Every usable font file: FreeFont, URW base35 and matplotlib's STIX / Computer Modern (sorted by name, so
    the list and hence seeded choices are the same in every checkout with the same packages). A missing Debian
    font folder is a TilescanError naming the package to install."""
    found: list[Path] = []
    for folder, package in SYSTEM_FONT_DIRS:
        if not folder.is_dir():
            raise TilescanError(f"{folder}: font folder not found; the lettering detector needs it: "
                                f"apt-get install {package}")
        found += [p for p in folder.iterdir() if p.suffix.lower() in (".ttf", ".otf")]
    import matplotlib

    mpl = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    found += [mpl / name for name in MATPLOTLIB_FONTS if (mpl / name).is_file()]
    # sorted by file name, not path: where the virtual environment lives (matplotlib's fonts) must not change the
    # order, and with it every seeded font choice
    usable = (p for p in found if not any(w in p.name.lower() for w in EXCLUDED_FONT_WORDS))
    return tuple(sorted(usable, key=lambda p: (p.name, str(p))))


@lru_cache(maxsize=512)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


# --- strings --------------------------------------------------------------------------------------------

def random_string(rng: np.random.Generator) -> str:
    """A random film-annotation-like string: letters, digits, a date, a code, or one or two characters."""
    letters, digits = string.ascii_uppercase, string.digits
    pick = lambda pool, n: "".join(rng.choice(list(pool), size=n))  # noqa: E731
    form = rng.choice(["single", "letters", "digits", "date", "code", "mixed", "lower"],
                      p=[0.2, 0.2, 0.15, 0.15, 0.1, 0.1, 0.1])
    if form == "single":
        return pick(letters + digits, int(rng.integers(1, 3)))
    if form == "letters":
        return pick(letters, int(rng.integers(3, 11)))
    if form == "digits":
        return pick(digits, int(rng.integers(1, 7)))
    if form == "date":
        sep = str(rng.choice(["-", "/", ".", " "]))
        d, m, y = rng.integers(1, 29), rng.integers(1, 13), rng.integers(70, 100)
        if rng.random() < 0.4:
            return f"{MONTHS[m - 1]} {d:02d}" + (f" {y}" if rng.random() < 0.5 else "")
        return f"{m:02d}{sep}{d:02d}{sep}{y}"
    if form == "code":
        separator = str(rng.choice([" ", "-", ""]))
        return pick(letters, int(rng.integers(1, 4))) + separator + pick(digits, int(rng.integers(1, 5)))
    if form == "mixed":
        return " ".join(pick(letters, int(rng.integers(1, 5))) for _ in range(int(rng.integers(2, 4))))
    return pick(string.ascii_lowercase, int(rng.integers(3, 9))).capitalize()


# --- geometry helpers ---------------------------------------------------------------------------------------

def _text_layer(rng: np.random.Generator, text: str, cap_px: float, tag: bool) -> tuple[np.ndarray, np.ndarray]:
    """(letters, tag) coverage masks in [0, 1], same shape, unrotated. `cap_px` ~ letter height in pixels."""
    fonts = font_files()
    path = str(fonts[int(rng.integers(len(fonts)))])
    size = max(6, int(round(cap_px * 1.4)))
    font = _font(path, size)
    lines = [text] if rng.random() < 0.8 else [text, random_string(rng)]
    spacing = int(size * rng.uniform(0.1, 0.5))
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    box = probe.multiline_textbbox((0, 0), "\n".join(lines), font=font, spacing=spacing)
    pad = int(size * rng.uniform(0.2, 0.8)) if tag else 2
    w, h = box[2] - box[0] + 2 * pad, box[3] - box[1] + 2 * pad
    layer = Image.new("L", (max(w, 1), max(h, 1)), 0)
    stroke = int(rng.integers(0, 2)) if size > 20 and rng.random() < 0.3 else 0
    ImageDraw.Draw(layer).multiline_text((pad - box[0], pad - box[1]), "\n".join(lines), fill=255, font=font,
                                         spacing=spacing, stroke_width=stroke, stroke_fill=255)
    letters = np.asarray(layer, dtype=np.float32) / 255.0
    return letters, (np.ones_like(letters) if tag else np.zeros_like(letters))


def _rotate_mirror(rng: np.random.Generator, masks: list[np.ndarray], any_angle: bool = True) -> list[np.ndarray]:
    """Rotate all masks by one random angle (any angle, or near an axis) and mirror them together."""
    angle = rng.uniform(-180, 180) if any_angle and rng.random() < 0.5 else \
        90.0 * rng.integers(0, 4) + rng.normal(0, 4)
    flip = rng.random() < 0.3
    out = []
    for m in masks:
        img = Image.fromarray((m * 255).astype(np.uint8))
        img = img.rotate(angle, resample=Image.BILINEAR, expand=True)
        arr = np.asarray(img, dtype=np.float32) / 255.0
        out.append(arr[:, ::-1] if flip else arr)
    return out


def _place(shape: tuple[int, int], mask: np.ndarray, rng: np.random.Generator, centre=None) -> tuple[int, int]:
    """Top-left corner for `mask` on a canvas of `shape`; up to ~40% of it may hang over the border."""
    H, W = shape
    h, w = mask.shape
    if centre is not None:
        return int(centre[0] - h // 2), int(centre[1] - w // 2)
    y0 = int(rng.integers(-int(0.4 * h), max(H - int(0.6 * h), -int(0.4 * h) + 1)))
    x0 = int(rng.integers(-int(0.4 * w), max(W - int(0.6 * w), -int(0.4 * w) + 1)))
    return y0, x0


def _paste(canvas_shape, mask: np.ndarray, y0: int, x0: int) -> np.ndarray:
    """Full-canvas copy of `mask` with its top-left corner at (y0, x0), clipped to the canvas."""
    full = np.zeros(canvas_shape, np.float32)
    H, W = canvas_shape
    h, w = mask.shape
    ys, xs = max(0, y0), max(0, x0)
    ye, xe = min(H, y0 + h), min(W, x0 + w)
    if ye > ys and xe > xs:
        full[ys:ye, xs:xe] = mask[ys - y0:ye - y0, xs - x0:xe - x0]
    return full


def _dark_point(tile: np.ndarray, rng: np.random.Generator):
    """A random (y, x) on the darkest part of the tile (the film margin), or None when there is none."""
    ys, xs = np.nonzero(tile < 40)
    if len(ys) < 200:
        return None
    i = int(rng.integers(len(ys)))
    return ys[i], xs[i]


def _grain(base: np.ndarray) -> np.ndarray:
    """The tile's own fine grain (what a 1-pixel blur removes)."""
    return base - ndimage.gaussian_filter(base, 1.0)


def _lay(under: np.ndarray, coverage: np.ndarray, level: float, grain: np.ndarray) -> np.ndarray:
    """`under` with a shape of the given coverage (0-1) laid over it at `level`, keeping the tile's grain: a
    noise-free flat stroke would give the label away."""
    return under * (1 - coverage) + (level + grain) * coverage


def _soften(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blur like a film scan, then rescale so the stroke centres keep full coverage: small, thin letters would
    otherwise fade to an invisible positive (a training example with no lettering to see)."""
    sigma = rng.uniform(0, 1.3) if rng.random() < 0.7 else 0.0
    soft = ndimage.gaussian_filter(mask, sigma) if sigma > 0.2 else mask
    peak = float(soft.max())
    return soft / peak if peak > 0 else soft


# --- lettering ------------------------------------------------------------------------------------------------

def composite_lettering(tile: np.ndarray, rng: np.random.Generator, kind: str | None = None) -> tuple[np.ndarray, str]:
    """Draw one random piece of lettering onto a copy of `tile`; returns (uint8 image, kind in LETTERING_KINDS)."""
    base = tile.astype(np.float32)
    side = min(tile.shape)
    kind = kind or str(rng.choice(LETTERING_KINDS, p=[0.26, 0.14, 0.14, 0.06, 0.06, 0.17, 0.17]))
    scale = side / 299.0
    if kind == "small_digits":
        cap = rng.uniform(6, 20) * scale
        text = "".join(rng.choice(list(string.digits + "ABCDLR"), size=int(rng.integers(1, 5))))
    else:
        cap = float(np.exp(rng.uniform(np.log(8), np.log(70)))) * scale
        text = random_string(rng)
    tagged = kind in ("dark_tag", "bright_tag")
    letters, tag = _text_layer(rng, text, cap, tagged)
    letters, tag = _rotate_mirror(rng, [letters, tag])
    letters = _soften(letters, rng)
    on_margin = kind in ("margin_text", "small_digits") or (kind == "faint_text" and rng.random() < 0.5)
    centre = _dark_point(tile, rng) if on_margin else None
    y0, x0 = _place(tile.shape, letters, rng, centre)
    m, t = _paste(tile.shape, letters, y0, x0), _paste(tile.shape, tag, y0, x0)
    if not m.any():  # placed entirely off the tile: retry centred
        y0, x0 = _place(tile.shape, letters, rng, (tile.shape[0] // 2, tile.shape[1] // 2))
        m, t = _paste(tile.shape, letters, y0, x0), _paste(tile.shape, tag, y0, x0)
    local = float(np.median(base[m > 0.5])) if (m > 0.5).any() else float(base.mean())
    grain = _grain(base)
    if kind == "dark_text" and local < 100:  # dark letters need a bright background to be visible
        kind = "bright_text"
    elif kind in ("bright_text", "margin_text", "small_digits") and local > 180:  # no room for brighter strokes
        kind = "dark_text"
    if kind == "bright_text":
        level = rng.uniform(max(local + 60, 150), 255)
        out = _lay(base, m, level, grain)
    elif kind in ("margin_text", "small_digits"):  # film numbers: bright or only a few tens of levels above
        level = local + (255 - local) * float(np.exp(rng.uniform(np.log(0.12), 0.0)))
        out = _lay(base, m, max(level, local + 20), grain)
    elif kind == "faint_text":
        level = min(255.0, local + rng.uniform(25, 70))
        out = _lay(base, m, level, grain)
    elif kind == "dark_text":  # dark letters straight on the film or a bright region
        level = rng.uniform(0, max(local - 40, 1))
        out = _lay(base, m, level, grain)
    else:  # label tag: a bright (dark_tag) or mid-grey (bright_tag) rectangle with contrasting letters
        t = ndimage.gaussian_filter(t, rng.uniform(0.3, 1.2))
        tag_level = rng.uniform(170, 255) if kind == "dark_tag" else rng.uniform(70, 150)
        out = _lay(base, t, tag_level, grain)
        letter_level = rng.uniform(0, tag_level - 70) if kind == "dark_tag" else rng.uniform(tag_level + 60, 255)
        out = _lay(out, m, letter_level, grain)
    return np.clip(out, 0, 255).astype(np.uint8), kind


# --- hard negatives --------------------------------------------------------------------------------------------

def _add_speck(layer: np.ndarray, y: float, x: float, r: float, stretch: float, angle: float, peak: float) -> None:
    """Max a Gaussian speck (radius r, `stretch` times longer along `angle`) into `layer`, in place; computed
    only within 3 radii of its centre (a full-tile grid per speck made dust 30x slower than any other kind)."""
    H, W = layer.shape
    reach = int(np.ceil(3 * r * stretch)) + 1
    y0, y1 = max(0, int(y) - reach), min(H, int(y) + reach + 1)
    x0, x1 = max(0, int(x) - reach), min(W, int(x) + reach + 1)
    if y0 >= y1 or x0 >= x1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    u = (yy - y) * np.cos(angle) + (xx - x) * np.sin(angle)
    v = -(yy - y) * np.sin(angle) + (xx - x) * np.cos(angle)
    speck = np.exp(-(u * u / stretch ** 2 + v * v) / (2 * r * r)) * peak
    np.maximum(layer[y0:y1, x0:x1], speck, out=layer[y0:y1, x0:x1])



def composite_distractor(tile: np.ndarray, rng: np.random.Generator, kind: str | None = None) -> tuple[np.ndarray, str]:
    """Draw one non-lettering look-alike onto a copy of `tile`; returns (uint8 image, kind in DISTRACTOR_KINDS)."""
    H, W = tile.shape
    base = tile.astype(np.float32)
    kind = kind or str(rng.choice(DISTRACTOR_KINDS[:-1], p=DISTRACTOR_SHARES))
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    layer = np.zeros((H, W), np.float32)
    level = rng.uniform(150, 255)
    if kind == "dust":  # specks, round or elongated, scattered or clustered (often on the dark margin)
        centre = _dark_point(tile, rng) if rng.random() < 0.5 else None
        if centre is None and rng.random() < 0.5:
            centre = (rng.uniform(0, H), rng.uniform(0, W))
        spread = rng.uniform(0.05, 0.3) * min(H, W)
        for _ in range(int(rng.integers(3, 60))):
            y, x = rng.uniform((0, 0), (H, W)) if centre is None else rng.normal(centre, spread)
            r, stretch, a = rng.uniform(0.6, 3.0), rng.uniform(1, 3), rng.uniform(0, np.pi)
            _add_speck(layer, y, x, r, stretch, a, rng.uniform(0.4, 1))
    elif kind == "straight_edge":  # a film edge: a bright half-plane with a sharp boundary
        if rng.random() < 0.5:  # anywhere, any angle
            a, offset = rng.uniform(0, 2 * np.pi), rng.uniform(-0.45, 0.45)
        else:  # the unexposed border of the film: a band along a tile side, square with the film
            a, offset = np.deg2rad(90 * rng.integers(4) + rng.normal(0, 2)), rng.uniform(0.35, 0.5)
        d = (yy - H / 2) * np.sin(a) + (xx - W / 2) * np.cos(a) - offset * min(H, W)
        layer = 1 / (1 + np.exp(np.clip(-d / rng.uniform(0.5, 3), -50, 50)))
        level = rng.uniform(120, 255)
    elif kind == "curved_boundary":  # breast boundary: a large disc edge
        r = rng.uniform(0.5, 2.5) * min(H, W)
        cy, cx = rng.uniform(-r, H + r), rng.uniform(-r, W + r)
        d = r - np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
        layer = 1 / (1 + np.exp(np.clip(-d / rng.uniform(1, 8), -50, 50)))
        level = rng.uniform(80, 230)
    elif kind == "marker":  # metal markers: bright hard-edged discs, rings, bars (no letters)
        img = Image.new("L", (W, H), 0)
        draw = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(1, 3))):
            y, x, r = rng.uniform(0, H), rng.uniform(0, W), rng.uniform(2, 20) * min(H, W) / 299
            shape = rng.choice(["disc", "ring", "bar"])
            if shape in ("disc", "ring"):
                box = (x - r * rng.uniform(0.7, 1.3), y - r, x + r * rng.uniform(0.7, 1.3), y + r)
                draw.ellipse(box, fill=255 if shape == "disc" else None, outline=255,
                             width=int(rng.integers(1, 5)))
            else:
                hw, hh = rng.uniform(8, 50), rng.uniform(1.5, 8)
                hw, hh = (hw, hh) if rng.random() < 0.5 else (hh, hw)
                draw.rectangle((x - hw, y - hh, x + hw, y + hh), fill=255)
        layer = ndimage.gaussian_filter(np.asarray(img, np.float32) / 255.0, rng.uniform(0.3, 1.0))
        level = rng.uniform(200, 255)
    elif kind == "blob":
        for _ in range(int(rng.integers(1, 4))):
            y, x = rng.uniform(0, H), rng.uniform(0, W)
            ry, rx = rng.uniform(3, 30, size=2)
            a = rng.uniform(0, np.pi)
            u = ((yy - y) * np.cos(a) + (xx - x) * np.sin(a)) / ry
            v = (-(yy - y) * np.sin(a) + (xx - x) * np.cos(a)) / rx
            q = u * u + v * v
            layer = np.maximum(layer, np.exp(-q))
    elif kind in ("hair", "scratch"):
        img = Image.new("L", (W, H), 0)
        draw = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(1, 4))):
            n = 2 if kind == "scratch" else int(rng.integers(4, 12))
            pts = [(rng.uniform(0, W), rng.uniform(0, H))]
            step, ang = rng.uniform(15, 60), rng.uniform(0, 2 * np.pi)
            for _ in range(n - 1):
                ang += rng.normal(0, 0.5) if kind == "hair" else 0
                span = step if kind == "hair" else rng.uniform(40, 300)
                pts.append((pts[-1][0] + span * np.cos(ang), pts[-1][1] + span * np.sin(ang)))
            draw.line(pts, fill=int(rng.uniform(120, 255)), width=int(rng.integers(1, 3)))
        layer = ndimage.gaussian_filter(np.asarray(img, np.float32) / 255.0, rng.uniform(0.3, 1.0))
    elif kind == "blank_tag":  # a label rectangle with nothing on it
        h, w = rng.uniform(10, 90), rng.uniform(20, 160)
        rect = np.ones((int(h), int(w)), np.float32)
        (rect,) = _rotate_mirror(rng, [rect])
        y0, x0 = _place((H, W), rect, rng)
        layer = ndimage.gaussian_filter(_paste((H, W), rect, y0, x0), rng.uniform(0.3, 1.5))
    if kind == "dust":
        out = np.maximum(base, level * layer)
    elif kind != "none":
        out = _lay(base, layer, level, _grain(base))
    else:
        out = base
    return np.clip(out, 0, 255).astype(np.uint8), kind


# --- scan look, for positives and negatives alike ----------------------------------------------------------

def scan_degrade(tile: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Film-scan look applied to whole tiles with the same odds whatever their label: blur, grain, gain."""
    out = tile.astype(np.float32)
    if rng.random() < 0.4:
        out = ndimage.gaussian_filter(out, rng.uniform(0.3, 1.2))
    if rng.random() < 0.5:
        out = out + rng.normal(0, rng.uniform(1, 6), size=out.shape)
    if rng.random() < 0.3:
        out = out * rng.uniform(0.8, 1.15) + rng.uniform(-15, 15)
    return np.clip(out, 0, 255).astype(np.uint8)


def augment_geometry(tile: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One of the 8 flips / right-angle rotations of the tile."""
    out = np.rot90(tile, int(rng.integers(4)))
    return np.ascontiguousarray(out[:, ::-1] if rng.random() < 0.5 else out)


def make_example(tile: np.ndarray, rng: np.random.Generator, positive: bool,
                 distractor_rate: float = 0.5) -> tuple[np.ndarray, str, tuple[int, int] | None]:
    """One training example from a base tile: lettering (positive) or not, a distractor with probability
    `distractor_rate` either way (so a distractor never gives the label away), then the scan look.
    Returns (image, description such as "dark_tag+dust" or "none+hair", a (row, col) on the lettering or None)."""
    image = augment_geometry(tile, rng)
    distractor = "none"
    if rng.random() < distractor_rate:
        image, distractor = composite_distractor(image, rng)
    lettering, where = "none", None
    if positive:
        before = image
        image, lettering = composite_lettering(image, rng)
        ys, xs = np.nonzero(np.abs(image.astype(np.int16) - before) > 8)
        if len(ys):
            i = int(rng.integers(len(ys)))
            where = (int(ys[i]), int(xs[i]))
    return scan_degrade(image, rng), f"{lettering}+{distractor}", where


def crop_around(image: np.ndarray, side: int, rng: np.random.Generator,
                where: tuple[int, int] | None = None) -> np.ndarray:
    """A side x side crop: random, or containing `where` at a random position inside the crop."""
    H, W = image.shape
    side = min(side, H, W)
    if where is None:
        y0, x0 = int(rng.integers(0, H - side + 1)), int(rng.integers(0, W - side + 1))
    else:
        margin = side // 8
        y0 = int(np.clip(where[0] - rng.integers(margin, side - margin), 0, H - side))
        x0 = int(np.clip(where[1] - rng.integers(margin, side - margin), 0, W - side))
    return image[y0:y0 + side, x0:x0 + side]
