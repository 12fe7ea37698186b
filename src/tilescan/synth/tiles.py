"""A deterministic, labelled synthetic DDSM-like tile dataset in the research notebook's on-disk layout.

Every tile is drawn from its own generator seeded by (seed, split, index), so tiles can be rendered in any
order, in parallel, and the same seed always gives byte-identical PNGs and CSVs.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw
from scipy import ndimage

from tilescan.errors import TilescanError, require
from tilescan.parallel import chunked_map
from tilescan.synth.lettering import TEXT_KINDS, LetteringStyle, draw_label_strip, draw_text, lettering_style
from tilescan.synth.marks import draw_edge_text, draw_margin_digits, draw_marker, draw_tag

SPLIT_CODES = {"train": 0, "test": 1}
CLASS_PROBABILITIES = (0.70, 0.075, 0.075, 0.075, 0.075)  # normal, benign/malignant calcification/mass
# The notebook's five hand-picked annotation tiles (1-based training ids), used as default kNN queries.
NOTEBOOK_QUERY_KINDS = {311: "text_rotated", 545: "label_strip", 578: "text_over_tissue",
                        596: "single_letter", 1191: "text_cut"}
# marker: a metal marker (BB, disc, ring, bar), bright and hard-edged but no lettering: a hard negative
NORMAL_KINDS = {"tissue": 0.4, "fatty": 0.15, "boundary": 0.24, "black": 0.1, "dust": 0.07, "film_edge": 0.02,
                "marker": 0.03}
# Half bright text as older sets drew it, half what real film shows besides: dark letters on white tags,
# digits on the black margin, faint and mirrored text, lettering beside a bright film edge.
ANNOTATION_KINDS = {"text_rotated": 0.12, "text_cut": 0.09, "label_strip": 0.07, "text_over_tissue": 0.08,
                    "text_low_contrast": 0.06, "single_letter": 0.08, "dark_on_tag": 0.14,
                    "margin_digits": 0.14, "faint_text": 0.08, "mirrored_text": 0.07, "edge_text": 0.07}
LESION_KINDS = {1: "calcification", 2: "mass", 3: "calcification", 4: "mass"}


@dataclass(frozen=True)
class TilePlan:
    """What one tile shows, decided before any pixel is drawn."""

    split: str
    index: int  # 0-based position in the split's CSV
    tile_class: int
    kind: str

    @property
    def tile_id(self) -> str:
        return f"c{self.index + 1}" if self.split == "train" else f"img{self.index + 1}"

    @property
    def annotation(self) -> int:
        return int(self.kind in ANNOTATION_KINDS)


def _tile_rng(seed: int, split: str, index: int, stream: int) -> np.random.Generator:
    # stream 0 plans the tile, stream 1 draws it, so planning alone (cheap) never shifts the pixels
    return np.random.default_rng(np.random.SeedSequence([seed, SPLIT_CODES[split], index, stream]))


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    probabilities = np.array(list(weights.values()))
    return str(rng.choice(list(weights), p=probabilities / probabilities.sum()))


def plan_tile(seed: int, split: str, index: int, annotation_fraction: float) -> TilePlan:
    """Class and kind of tile `index` of `split`; the notebook's query ids are always annotation tiles."""
    if split == "train" and index + 1 in NOTEBOOK_QUERY_KINDS:
        return TilePlan(split, index, 0, NOTEBOOK_QUERY_KINDS[index + 1])
    rng = _tile_rng(seed, split, index, stream=0)
    tile_class = int(rng.choice(len(CLASS_PROBABILITIES), p=CLASS_PROBABILITIES))
    if tile_class != 0:
        return TilePlan(split, index, tile_class, LESION_KINDS[tile_class])
    is_annotation = rng.random() < annotation_fraction
    return TilePlan(split, index, 0, _pick(rng, ANNOTATION_KINDS if is_annotation else NORMAL_KINDS))


# ---- tissue and film backgrounds (intensities 0..255 as float32) ----

def _cloud(rng: np.random.Generator, size: int, scale: int) -> np.ndarray:
    """Unit-variance noise whose blobs are about `scale` pixels wide: coarse noise, blurred, upsampled (fast)."""
    step = max(1, scale // 3)
    coarse = int(np.ceil(size / step)) + 2
    small = ndimage.gaussian_filter(rng.standard_normal((coarse, coarse)).astype(np.float32), scale / step / 2,
                                    mode="wrap")
    big = np.asarray(Image.fromarray(small).resize((coarse * step, coarse * step), Image.BICUBIC))
    top, left = rng.integers(0, step + 1, size=2)
    crop = big[top:top + size, left:left + size]
    return (crop - crop.mean()) / (crop.std() + 1e-6)


def _strands(rng: np.random.Generator, size: int, angle: float, length: float) -> np.ndarray:
    """Unit-variance stringy noise (fibrous ducts and ligaments) running along `angle` degrees."""
    wide = int(size * 1.5)  # a margin that the rotation will not expose
    lines = ndimage.gaussian_filter(rng.standard_normal((wide, wide)).astype(np.float32), sigma=(0.6, length))
    lines = np.asarray(Image.fromarray(lines).rotate(angle, resample=Image.BILINEAR))
    start = (wide - size) // 2
    crop = lines[start:start + size, start:start + size]
    return (crop - crop.mean()) / (crop.std() + 1e-6)


def _density(rng: np.random.Generator, size: int, strand_weight: float) -> np.ndarray:
    """Fibroglandular density: cloud-like blobs at several scales plus oriented strands, bent by a smooth
    warp so that nothing runs perfectly straight; unit variance. Drawn at half resolution for speed (the
    scanner blur would hide the finer detail anyway)."""
    half = (size + 1) // 2
    scale = half / 150
    bend = half * rng.uniform(0.01, 0.025)
    margin = int(3 * bend) + 1  # drawn larger so that the warp never looks past the edge
    full = half + 2 * margin
    angle = rng.uniform(0, 180)
    field = (_cloud(rng, full, max(3, int(40 * scale))) + 0.6 * _cloud(rng, full, max(3, int(18 * scale)))
             + 0.3 * _cloud(rng, full, max(3, int(7 * scale))) + 0.15 * _cloud(rng, full, 3)
             + strand_weight * _strands(rng, full, angle, 5 * scale)
             + 0.5 * strand_weight * _strands(rng, full, angle + rng.normal(0, 30), 3 * scale))
    rows, cols = np.mgrid[margin:margin + half, margin:margin + half].astype(np.float32)
    warp_rows = rows + bend * _cloud(rng, half, max(3, int(50 * scale)))
    warp_cols = cols + bend * _cloud(rng, half, max(3, int(50 * scale)))
    field = ndimage.map_coordinates(field, [warp_rows, warp_cols], order=1, mode="nearest")
    field = np.asarray(Image.fromarray(field).resize((2 * half, 2 * half), Image.BICUBIC))[:size, :size]
    return (field - field.mean()) / (field.std() + 1e-6)


def _tissue(rng: np.random.Generator, size: int, fatty: bool = False) -> np.ndarray:
    if fatty:
        fat, dense = rng.uniform(45, 95), rng.uniform(100, 165)
        threshold, strand_weight = rng.uniform(0.6, 1.5), rng.uniform(0.3, 0.7)
    else:
        # a few breasts are dense enough to glare as bright as lettering: the confounder a bright-pixel rule trips on
        fat, dense = rng.uniform(60, 115), rng.uniform(120, 200) if rng.random() < 0.965 else rng.uniform(200, 240)
        threshold, strand_weight = rng.uniform(-0.9, 0.9), rng.uniform(0.15, 0.5)
    density = _density(rng, size, strand_weight)
    mix = 1 / (1 + np.exp(-rng.uniform(0.8, 2.0) * (density - threshold)))
    return (fat + (dense - fat) * mix).astype(np.float32)


def _film_level(rng: np.random.Generator, dark: bool) -> float:
    """Film outside the breast: nearly black, or the grey veil some scanners leave."""
    return rng.uniform(0, 9) if dark else rng.uniform(22, 60)


def _film(rng: np.random.Generator, size: int, dark: bool) -> np.ndarray:
    gradient = np.linspace(0, rng.uniform(-8, 8), size, dtype=np.float32)
    film = _film_level(rng, dark) + (gradient[:, None] if rng.random() < 0.5 else gradient[None, :])
    return np.clip(film, 0, None) + 3 * _cloud(rng, size, max(2, size // 4))


def _with_boundary(rng: np.random.Generator, tissue: np.ndarray, film: np.ndarray, coverage: float) -> np.ndarray:
    """Tissue inside a curved breast edge covering `coverage` of the tile, film outside, thinning at the skin."""
    size = tissue.shape[0]
    radius = size * rng.uniform(0.8, 3.0)
    direction = rng.uniform(0, 2 * np.pi)
    centre = size / 2 + radius * np.array([np.sin(direction), np.cos(direction)])
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    inside = radius - np.hypot(rows - centre[0], cols - centre[1])
    inside -= np.quantile(inside, 1 - coverage)  # move the edge so the breast covers `coverage`
    thickness = np.clip(inside / (size * rng.uniform(0.06, 0.2)), 0, 1) ** 0.6
    skin = rng.uniform(8, 35) * np.exp(-((inside - 2) ** 2) / 4) * (inside > -2)
    return film + (tissue - film) * thickness + skin


def _specks(rng: np.random.Generator, size: int, count: int, centre: np.ndarray, spread: float,
            radius: tuple[float, float], brightness: tuple[float, float], elongation: float) -> np.ndarray:
    """A layer of small bright specks (calcifications or dust) scattered around centre."""
    layer = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(layer)
    for y, x in centre + rng.normal(0, spread, size=(count, 2)):
        r = rng.uniform(*radius)
        stretch = 1 + elongation * rng.random()
        box = (x - r * stretch, y - r, x + r * stretch, y + r) if rng.random() < 0.5 else \
            (x - r, y - r * stretch, x + r, y + r * stretch)
        draw.ellipse(box, fill=int(rng.uniform(*brightness)))
    return np.asarray(layer, dtype=np.float32)


def _dust(rng: np.random.Generator, size: int) -> np.ndarray:
    base = _film(rng, size, dark=rng.random() < 0.6)
    specks = _specks(rng, size, int(rng.integers(3, 30)), np.array([size / 2, size / 2]), size / 3,
                     (0.6, max(0.6, 2.2 * size / 299)), (120, 255), elongation=1.5)  # small tiles: no negative range
    layer = Image.new("L", (size, size), 0)
    for _ in range(rng.integers(0, 3)):  # hairs and fibres: thin bright curves
        points = np.cumsum(rng.normal(0, size / 25, size=(8, 2)), axis=0) + rng.uniform(0, size, 2)
        ImageDraw.Draw(layer).line([tuple(p) for p in points], fill=int(rng.uniform(90, 200)), width=1)
    return np.maximum(base, np.maximum(specks, np.asarray(layer, dtype=np.float32)))


def _film_edge(rng: np.random.Generator, size: int, lettered: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
    """A bright, straight, unexposed film border along one side, over film, tissue or a breast edge (film
    only where lettering will sit beside it). Returns the tile, the border's coverage and its side
    (0 right, 1 bottom, 2 left, 3 top)."""
    choice = rng.random()
    film = _film(rng, size, dark=rng.random() < 0.5)
    if choice < 0.4 or lettered:
        base = film
    elif choice < 0.7:
        base = _tissue(rng, size)
    else:
        base = _with_boundary(rng, _tissue(rng, size), film, rng.uniform(0.3, 0.8))
    side = int(rng.integers(0, 4))
    angle = np.deg2rad(90 * side + rng.normal(0, 2))
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32) - size / 2
    along = rows * np.sin(angle) + cols * np.cos(angle)
    edge = size / 2 - size * rng.uniform(0.01, 0.09)
    border = np.clip(along - edge + 0.5, 0, 1)  # a one-pixel ramp: hard but not jagged
    return base + (rng.uniform(195, 250) - base) * border, border, side


# ---- lesions (classes 1-4) ----

def _mass(rng: np.random.Generator, base: np.ndarray, malignant: bool) -> np.ndarray:
    """A bright blob with a lobulated edge; malignant ones are spiculated (thin rays out of the edge)."""
    size = base.shape[0]
    radius = size * rng.uniform(0.07, 0.18)
    reach = int(radius * 2.8)  # the blob and its rays fit in a box this far from the centre
    centre = rng.uniform(0.3, 0.7, 2) * size
    top, left = max(0, int(centre[0]) - reach), max(0, int(centre[1]) - reach)
    rows, cols = np.mgrid[top:min(size, int(centre[0]) + reach), left:min(size, int(centre[1]) + reach)]
    dy, dx = rows.astype(np.float32) - centre[0], cols.astype(np.float32) - centre[1]
    r, theta = np.hypot(dy, dx), np.arctan2(dy, dx)
    lobes = 0.14 if malignant else 0.06
    edge = radius * (1 + sum(rng.uniform(0, lobes) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
                             for k in range(2, 7)))
    body = 1 / (1 + np.exp(-(edge - r) / rng.uniform(1.5, 4)))
    rays = Image.new("L", (r.shape[1], r.shape[0]), 0)
    for ray_angle in rng.uniform(-np.pi, np.pi, int(rng.integers(10, 24)) if malignant else 0):
        # a spicule: a thin tapering wedge from inside the blob out to a sharp tip
        along = np.array([np.sin(ray_angle), np.cos(ray_angle)])
        across = np.array([along[1], -along[0]])
        start = centre - (top, left) + 0.7 * radius * along
        tip = centre - (top, left) + radius * rng.uniform(1.5, 2.6) * along
        half_width = rng.uniform(0.8, 2.2) * size / 299
        corners = [start + half_width * across, tip, start - half_width * across]
        ImageDraw.Draw(rays).polygon([(p[1], p[0]) for p in corners], fill=int(rng.uniform(70, 190)))
    rays = np.asarray(rays, dtype=np.float32) / 255
    region = base[top:top + r.shape[0], left:left + r.shape[1]]
    texture = 1 + 0.1 * _cloud(rng, max(r.shape), max(3, int(radius / 3)))[:r.shape[0], :r.shape[1]]
    # a mass is denser than what surrounds it, so blend toward a brighter level rather than add (no clipping)
    target = np.maximum(region, rng.uniform(165, 235)) * texture
    weight = np.clip(rng.uniform(0.5, 0.85) * body + 0.5 * rays * (1 - body), 0, 1)
    out = base.copy()
    out[top:top + r.shape[0], left:left + r.shape[1]] = region + (target - region) * weight
    return out


def _calcifications(rng: np.random.Generator, base: np.ndarray, malignant: bool) -> np.ndarray:
    """A cluster of small bright specks: malignant ones tiny, many and pleomorphic; benign ones round."""
    size = base.shape[0]
    scale = size / 299
    centre = rng.uniform(0.25, 0.75, 2) * size
    if malignant:
        specks = _specks(rng, size, int(rng.integers(10, 40)), centre, scale * rng.uniform(6, 18),
                         (0.6 * scale, 1.6 * scale), (190, 255), elongation=2.5)
    else:
        specks = _specks(rng, size, int(rng.integers(3, 12)), centre, scale * rng.uniform(15, 45),
                         (1.5 * scale, 3.5 * scale), (190, 255), elongation=0.3)
    return np.maximum(base, specks)


# ---- one tile ----

def _background(rng: np.random.Generator, kind: str, size: int) -> np.ndarray:
    if kind in ("tissue", "mass", "calcification", "text_over_tissue"):
        return _tissue(rng, size)
    if kind == "fatty":
        return _tissue(rng, size, fatty=True)
    if kind == "boundary":
        return _with_boundary(rng, _tissue(rng, size), _film(rng, size, rng.random() < 0.6), rng.uniform(0.25, 0.85))
    if kind == "margin_digits":  # the black film margin, where film and cassette numbers are printed
        return _film(rng, size, dark=True)
    if kind == "black":  # the mostly black tiles the prepare stage's black-pixel rule drops
        film = _film(rng, size, dark=True)
        return film if rng.random() < 0.5 else _with_boundary(rng, _tissue(rng, size), film, rng.uniform(0.02, 0.07))
    if kind == "dust":
        return _dust(rng, size)
    if kind == "film_edge":
        return _film_edge(rng, size)[0]
    if kind == "marker":
        film = _film(rng, size, dark=rng.random() < 0.5)
        return film if rng.random() < 0.5 else _with_boundary(rng, _tissue(rng, size), film, rng.uniform(0.2, 0.8))
    # lettering sits on the (grey) film outside the breast, sometimes next to the breast edge; tags, faint
    # and mirrored text mostly on the black margin
    film = _film(rng, size, dark=kind in ("dark_on_tag", "faint_text", "mirrored_text") and rng.random() < 0.6)
    if kind != "dark_on_tag" and rng.random() < 0.3:  # tags are stuck on the film, off the breast
        return _with_boundary(rng, _tissue(rng, size), film, rng.uniform(0.15, 0.5))
    return film


def _finish(rng: np.random.Generator, canvas: np.ndarray) -> np.ndarray:
    """Scanner look: slight optical blur, signal-dependent film grain and faint row streaks; to uint8."""
    blurred = ndimage.gaussian_filter(np.clip(canvas, 0, 255), rng.uniform(0.5, 1.0))
    grain = rng.standard_normal(canvas.shape).astype(np.float32) * (1.2 + 0.3 * np.sqrt(blurred))
    streaks = rng.normal(0, 0.8, size=(canvas.shape[0], 1)).astype(np.float32)
    return np.clip(np.rint(blurred + grain + streaks), 0, 255).astype(np.uint8)


def render_tile(plan: TilePlan, seed: int, tile_size: int, lettering: LetteringStyle) -> np.ndarray:
    """The tile_size x tile_size uint8 image that `plan` describes."""
    rng = _tile_rng(seed, plan.split, plan.index, stream=1)
    if plan.kind == "edge_text":
        canvas, border, side = _film_edge(rng, tile_size, lettered=True)
        return _finish(rng, draw_edge_text(canvas, border, side, lettering, rng))
    canvas = _background(rng, plan.kind, tile_size)
    if plan.kind == "mass":
        canvas = _mass(rng, canvas, malignant=plan.tile_class == 4)
    elif plan.kind == "calcification":
        canvas = _calcifications(rng, canvas, malignant=plan.tile_class == 3)
    elif plan.kind == "label_strip":
        canvas = draw_label_strip(canvas, lettering, rng)
    elif plan.kind == "dark_on_tag":
        canvas = draw_tag(canvas, lettering, rng)
    elif plan.kind == "margin_digits":
        canvas = draw_margin_digits(canvas, lettering, rng)
    elif plan.kind == "marker":
        canvas = draw_marker(canvas, rng)
    elif plan.kind in TEXT_KINDS:
        canvas = draw_text(canvas, plan.kind, lettering, rng)
    return _finish(rng, canvas)


# ---- the dataset ----

MARKER = ".tilescan-synthetic"  # written into every folder synthesize makes; only such a folder is replaced


def check_replaceable(out_dir: Path) -> None:
    """Refuse unless out_dir is absent, empty, or a folder synthesize made (it holds MARKER): the stage
    replaces out_dir, and must never delete a user's folder."""
    out_dir = Path(out_dir)
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise TilescanError(f"synthesize.out_dir: {out_dir} exists and is not a folder synthesize made; "
                            "choose another path")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MARKER).is_file():
        raise TilescanError(f"synthesize.out_dir: {out_dir} exists and was not made by synthesize (no {MARKER} "
                            "in it); it is left untouched: choose another path")


def feeds_pipeline(out_dir: Path, raw_dir: str, labels_csv: str) -> bool:
    """Whether the pipeline reads the synthetic set: data.raw_dir or data.labels_csv lies in out_dir."""
    out_dir = Path(out_dir).resolve()
    used = [Path(path).resolve() for path in (raw_dir, labels_csv) if path]
    return any(path == out_dir or out_dir in path.parents for path in used)


def write_skip_note(out_dir: Path, reason: str) -> None:
    """out_dir holding only the marker and a note saying why no tiles were written (the set is not used)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True)
    (out_dir / MARKER).write_text("made by tilescan's synthesize stage: it may replace this folder\n")
    (out_dir / "SKIPPED.txt").write_text(f"no synthetic tiles written: {reason}\n")


def _write_tile(job: tuple[TilePlan, int, int, LetteringStyle, Path]) -> TilePlan:
    plan, seed, tile_size, lettering, folder = job
    pixels = render_tile(plan, seed, tile_size, lettering)
    # PIL writes no time stamp or other metadata into a PNG, so equal pixels give equal bytes. Grainy tiles
    # barely compress: level 1 is 4x faster than the default 6 for files about 15% larger.
    Image.fromarray(pixels).save(folder / f"{plan.tile_id}.png", format="PNG", compress_level=1)
    return plan


def synthesize(out_dir: Path, n_train: int, n_test: int, seed: int, tile_size: int = 299,
               annotation_fraction: float = 0.04, style: str = "default", workers: int = 2,
               progress: Callable[..., Iterable] | None = None) -> dict[str, int]:
    """Write train_images/, test_images/, training_data.csv, test_data.csv and annotations.csv to out_dir.

    progress, if given, wraps the stream of finished tiles (called as progress(iterable, total=n)), e.g. tqdm.
    Returns counts: n_train, n_test, n_annotation_train, n_annotation_test.
    """
    lettering = lettering_style(style)
    out_dir = Path(out_dir)
    # tiles left by an earlier, larger run would sit unlisted beside the new ones
    require(not out_dir.exists() or not any(out_dir.iterdir()),
            f"synthesize.out_dir: {out_dir} exists and is not empty")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MARKER).write_text("made by tilescan's synthesize stage: it may replace this folder\n")
    plans = [plan_tile(seed, "train", i, annotation_fraction) for i in range(n_train)]
    plans += [plan_tile(seed, "test", i, annotation_fraction) for i in range(n_test)]
    folders = {"train": out_dir / "train_images", "test": out_dir / "test_images"}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    jobs = [(plan, seed, tile_size, lettering, folders[plan.split]) for plan in plans]
    finished = chunked_map(_write_tile, jobs, workers)
    for _ in progress(finished, total=len(jobs)) if progress else finished:
        pass  # the workers write the tiles; iterating only waits for them (and moves the progress bar)
    train = [p for p in plans if p.split == "train"]
    test = [p for p in plans if p.split == "test"]
    pd.DataFrame({"id": [p.tile_id for p in train], "class": [p.tile_class for p in train],
                  "normal_class": [int(p.tile_class != 0) for p in train]}).to_csv(out_dir / "training_data.csv")
    pd.DataFrame({"id": [p.tile_id for p in test], "class": [p.tile_class for p in test]}).to_csv(
        out_dir / "test_data.csv")
    pd.DataFrame({"id": [p.tile_id for p in plans], "annotation": [p.annotation for p in plans],
                  "kind": [p.kind for p in plans]}).to_csv(out_dir / "annotations.csv", index=False)
    return {"n_train": n_train, "n_test": n_test, "n_annotation_train": sum(p.annotation for p in train),
            "n_annotation_test": sum(p.annotation for p in test)}
