"""The lettering detector's compositor (each drawing kind, checked on its output), its training set and model."""
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from tilescan.detect import (
    DISTRACTOR_KINDS,
    LETTERING_KINDS,
    DetectorConfig,
    build_core,
    build_detector,
    composite,
    composite_distractor,
    composite_lettering,
    font_files,
    make_example,
    make_training_set,
)
from tilescan.detect.dataset import surest_rows
from tilescan.errors import TilescanError


def _tile(level=60):
    """A mid-grey tile with a black film margin (the left third)."""
    rng = np.random.default_rng(0)
    t = np.full((299, 299), level, np.float32) + rng.normal(0, 5, (299, 299))
    t[:, :100] = 5
    return np.clip(t, 0, 255).astype(np.uint8)


def test_fonts_exclude_the_generators_fonts():
    names = [f.name.lower() for f in font_files()]
    assert len(names) >= 20
    assert not any("dejavu" in n or "liberation" in n for n in names)


def test_font_order_does_not_depend_on_where_matplotlib_is_installed(monkeypatch, tmp_path):
    """A fresh clone's .venv under /tmp once sorted matplotlib's fonts before /usr/share/fonts (and /work's
    after them), so every seeded font choice, and the detector trained on them, differed between checkouts."""
    import matplotlib

    system = tmp_path / "m" / "system"
    system.mkdir(parents=True)
    for folder, _ in composite.SYSTEM_FONT_DIRS:
        for font in sorted(folder.iterdir())[:3]:
            (system / font.name).symlink_to(font)
    monkeypatch.setattr(composite, "SYSTEM_FONT_DIRS", ((system, "fonts-freefont-ttf"),))
    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    orders = []
    for place in ("a", "z"):  # the virtual environment before, then after, the system fonts
        copy = tmp_path / place / "fonts" / "ttf"
        copy.mkdir(parents=True)
        for name in composite.MATPLOTLIB_FONTS:
            (copy / name).symlink_to(source / name)
        monkeypatch.setattr(matplotlib, "get_data_path", lambda root=tmp_path / place: str(root))
        composite.font_files.cache_clear()
        orders.append([f.name for f in composite.font_files()])
    monkeypatch.undo()
    composite.font_files.cache_clear()
    assert orders[0] == orders[1]


def test_a_missing_font_folder_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setattr(composite, "SYSTEM_FONT_DIRS", ((tmp_path / "nope", "fonts-freefont-ttf"),))
    composite.font_files.cache_clear()
    try:
        with pytest.raises(TilescanError, match="apt-get install fonts-freefont-ttf"):
            composite.font_files()
    finally:
        monkeypatch.undo()
        composite.font_files.cache_clear()


def _changed(out, base, threshold=15):
    return np.abs(out.astype(int) - base.astype(int)) > threshold


@pytest.mark.parametrize("kind", LETTERING_KINDS)
def test_each_lettering_kind_draws_visible_lettering(kind):
    """Over many draws (tiny, blurred letters included) every positive shows strokes: none fades to nothing."""
    base = _tile()
    for seed in range(40):
        out, drawn = composite_lettering(base, np.random.default_rng(seed), kind)
        assert out.dtype == np.uint8 and out.shape == base.shape and drawn in LETTERING_KINDS
        changed = _changed(out, base)
        assert 10 < changed.sum() < 0.9 * base.size, f"seed {seed}"


def test_polarity_of_the_kinds():
    """Bright strokes brighten, dark text and dark-lettered tags show dark letters, faint strokes stay faint."""
    grey = np.full((299, 299), 120, np.uint8)
    bright, _ = composite_lettering(grey, np.random.default_rng(4), "bright_text")
    assert bright.max() >= 180 and bright.min() >= 115
    faint, _ = composite_lettering(grey, np.random.default_rng(4), "faint_text")
    assert 140 <= faint.max() <= 195
    dark, _ = composite_lettering(np.full((299, 299), 200, np.uint8), np.random.default_rng(4), "dark_text")
    assert dark.min() < 160 and dark.max() <= 205
    tag, _ = composite_lettering(np.full((299, 299), 30, np.uint8), np.random.default_rng(4), "dark_tag")
    bright = tag >= 170
    letters = ndimage.binary_fill_holes(bright) & ~bright & (tag < 150)
    assert bright.sum() > 200 and letters.sum() > 10  # a bright tag with dark letters inside it


def test_margin_text_lands_on_the_black_margin():
    base = _tile()
    for seed in range(5):
        out, drawn = composite_lettering(base, np.random.default_rng(seed), "margin_text")
        changed = _changed(out, base)
        assert drawn == "margin_text" and changed[:, :100].sum() > 0.5 * changed.sum()


def test_lettering_varies_in_size_angle_and_placement():
    """Across seeds: small and large lettering, some of it cut by the tile border."""
    base = np.full((299, 299), 40, np.uint8)
    areas, cut = [], 0
    for seed in range(40):
        out, _ = composite_lettering(base, np.random.default_rng(seed), "bright_text")
        changed = _changed(out, base)
        areas.append(changed.sum())
        cut += bool(changed[0].any() or changed[-1].any() or changed[:, 0].any() or changed[:, -1].any())
    assert min(areas) < 300 and max(areas) > 3000 and cut >= 3


def _pasted_grain(draw) -> tuple[float, float]:
    """What `draw` pastes onto a grainy grey tile, less what the same draw pastes onto the flat tile: its standard
    deviation inside the pasted strokes or shapes over five seeds, and the grain's own."""
    flat = np.full((299, 299), 120, np.uint8)
    grain = np.random.default_rng(1).normal(0, 6, flat.shape)
    grainy = np.clip(flat + grain, 0, 255).astype(np.uint8)
    inside = []
    for seed in range(5):
        on_grain, _ = draw(grainy, np.random.default_rng(seed))
        on_flat, _ = draw(flat, np.random.default_rng(seed))
        core = ndimage.binary_erosion(_changed(on_flat, flat)) & (on_flat > 20) & (on_flat < 235)
        inside.append(on_grain[core].astype(np.float32) - on_flat[core])
    inside = np.concatenate(inside)
    assert inside.size > 100
    return float(inside.std()), float(grain.std())


@pytest.mark.parametrize("kind", ["bright_text", "faint_text", "dark_text", "dark_tag"])
def test_pasted_lettering_keeps_the_tiles_grain(kind):
    """Strokes and tags pasted at a flat level would be smoother than the film around them, a shortcut the
    detector could learn instead of letter shapes: they keep the tile's own grain."""
    inside, tile = _pasted_grain(lambda tile, rng: composite_lettering(tile, rng, kind))
    assert inside > 0.6 * tile


@pytest.mark.parametrize("kind", ["marker", "blank_tag", "blob"])
def test_pasted_hard_negatives_keep_the_tiles_grain(kind):
    inside, tile = _pasted_grain(lambda tile, rng: composite_distractor(tile, rng, kind))
    assert inside > 0.6 * tile


@pytest.mark.parametrize("kind", DISTRACTOR_KINDS[:-1])
def test_each_hard_negative_changes_the_tile(kind):
    base = _tile()
    out, drawn = composite_distractor(base, np.random.default_rng(2), kind)
    assert drawn == kind and out.shape == base.shape and np.any(out != base)


def test_markers_are_drawn_three_times_as_often_as_each_other_hard_negative():
    """Unnamed hard negatives follow DISTRACTOR_WEIGHTS: over 500 seeded draws metal markers make about 3/10 of
    them and each of the other seven kinds about 1/10."""
    base = np.full((48, 48), 60, np.uint8)
    rng = np.random.default_rng(5)
    drawn = [composite_distractor(base, rng)[1] for _ in range(500)]
    shares = {kind: drawn.count(kind) / len(drawn) for kind in DISTRACTOR_KINDS[:-1]}
    assert 0.24 <= shares.pop("marker") <= 0.36
    assert all(0.05 <= share <= 0.15 for share in shares.values()), shares


def test_margin_digits_range_from_faint_grey_to_bright():
    """Film numbers on the black margin are drawn bright and also only a few tens of levels above the film."""
    peaks = []
    for seed in range(30):
        out, _ = composite_lettering(_tile(), np.random.default_rng(seed), "small_digits")
        peaks.append(int(out[:, :100].max()))
    assert min(peaks) < 90 and max(peaks) > 200 and all(peak >= 25 for peak in peaks)


def test_markers_include_rings_and_bars():
    """Metal markers: some hollow (a ring: a dark hole inside bright), some long and thin (a bar)."""
    base, ring, bar = np.full((299, 299), 20, np.uint8), 0, 0
    for seed in range(30):
        out, _ = composite_distractor(base, np.random.default_rng(seed), "marker")
        parts, n = ndimage.label(out > 120)
        for part in range(1, n + 1):
            shape = parts == part
            ring += int((ndimage.binary_fill_holes(shape) & ~shape).sum() > 5)
            rows, cols = np.nonzero(shape)
            extent = sorted((np.ptp(rows) + 1, np.ptp(cols) + 1))
            bar += int(extent[1] > 3 * extent[0] and shape.sum() > 0.7 * extent[0] * extent[1])
    assert ring >= 3 and bar >= 3


def test_dust_often_lands_on_the_black_margin():
    """Specks on the film margin are hard negatives for small digits there: some dust draws put (nearly) all
    their specks on the margin (the left third of the test tile), which a uniform scatter never does."""
    base = _tile()
    on_margin = 0
    for seed in range(20):
        out, _ = composite_distractor(base, np.random.default_rng(seed), "dust")
        changed = _changed(out, base)
        on_margin += int(changed[:, :100].sum() >= 0.95 * max(changed.sum(), 1))
    assert on_margin >= 4


def test_make_example_is_seeded():
    a = make_example(_tile(), np.random.default_rng(3), True)
    b = make_example(_tile(), np.random.default_rng(3), True)
    assert a[1] == b[1] and a[2] == b[2] and np.array_equal(a[0], b[0])


def test_training_set_is_balanced_seeded_and_independent_of_workers():
    tiles = [_tile(level) for level in (40, 90, 140)]
    queries = [_tile(200)]
    config = DetectorConfig(seed=5, n_examples=40, crop_size=48, input_size=64, query_share=0.25, workers=1)
    crops, labels, drawn = make_training_set(tiles, queries, config)
    assert crops.shape == (40, 224, 224) and labels.sum() == 20
    assert drawn.count("query") == 5 and all(d.startswith("none+") for d in drawn[20:])
    again = make_training_set(tiles, queries, DetectorConfig(**{**config.__dict__, "workers": 2}))
    assert np.array_equal(crops, again[0]) and drawn == again[2]


def test_a_training_set_reused_with_more_query_tiles_equals_one_drawn_afresh():
    """Self-training's second set redraws only the query examples of the first: with or without queries before."""
    tiles = [_tile(level) for level in (40, 90, 140)]
    config = DetectorConfig(seed=5, n_examples=40, crop_size=48, input_size=64, query_share=0.25, workers=1)
    for before in ([], [_tile(200)]):
        first = make_training_set(tiles, before, config)
        more = [*before, tiles[2], tiles[0]]
        reused = make_training_set(tiles, more, config, reuse=first)
        fresh = make_training_set(tiles, more, config)
        assert np.array_equal(reused[0], fresh[0]) and np.array_equal(reused[1], fresh[1]) and reused[2] == fresh[2]
        assert reused[2].count("query") == 5 and not np.array_equal(reused[0], first[0])


def test_reviewed_negatives_take_query_share_of_the_negatives_and_change_nothing_else():
    tiles = [_tile(level) for level in (40, 90, 140)]
    marked_not_lettering = [np.full((299, 299), 250, np.uint8)]  # a bright look-alike a reviewer turned down
    config = DetectorConfig(seed=5, n_examples=40, crop_size=48, input_size=64, query_share=0.25, workers=1)
    plain, _, plain_drawn = make_training_set(tiles, [_tile(200)], config)
    crops, labels, drawn = make_training_set(tiles, [_tile(200)], config, marked_not_lettering)
    reviewed = np.array([d == "reviewed_negative" for d in drawn])
    assert reviewed.sum() == 5 and (labels[reviewed] == 0).all() and labels.sum() == 20
    assert (crops[reviewed].mean(axis=(1, 2)) > 200).all()  # drawn from the marked tile, not from a base tile
    others = np.flatnonzero(~reviewed)
    assert np.array_equal(crops[others], plain[others])
    assert [drawn[i] for i in others] == [plain_drawn[i] for i in others]


def test_detector_scores_any_tile_size():
    detector = build_detector(build_core(), input_size=64)
    out = np.asarray(detector(np.zeros((2, 100, 120, 1), np.float32), training=False))
    assert out.shape == (2, 1) and ((0 <= out) & (out <= 1)).all()


def test_core_mirrors_its_image_past_the_border():
    images = np.random.default_rng(2).integers(0, 256, (2, 10, 12, 1)).astype(np.float32)
    padded = np.asarray(build_core(edge_padding=3).get_layer("reflect_border")(images))
    np.testing.assert_array_equal(padded, np.pad(images, ((0, 0), (3, 3), (3, 3), (0, 0)), mode="reflect"))
    assert "reflect_border" not in [layer.name for layer in build_core(edge_padding=0).layers]


def test_train_detector_builds_the_core_with_the_configured_edge_padding():
    from tilescan.detect.train import train_detector

    tiles = [_tile(level) for level in (40, 90, 140)]
    for padding in (0, 4):
        config = DetectorConfig(seed=5, n_examples=8, crop_size=48, input_size=64, batch_size=4, workers=1,
                                edge_padding=padding)
        detector = train_detector(tiles, [], config)[0]
        names = [layer.name for layer in detector.get_layer("lettering_core").layers]
        assert ("reflect_border" in names) == bool(padding)
        assert detector.get_layer("reflect_tile").width == config.tile_padding


def test_detector_config_carries_every_train_detector_setting(tmp_path):
    import dataclasses

    import yaml

    from tilescan.detect.dataset import detector_config
    from tilescan.params import load_params

    values = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    values["train_detector"].update(edge_padding=8, tile_padding=12, views=4, crop_size=64)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(values))
    params = load_params(tmp_path / "params.yaml")
    config = detector_config(params)
    shared = {f.name for f in dataclasses.fields(config)} & set(values["train_detector"])
    assert {"edge_padding", "tile_padding", "views", "crop_size"} <= shared
    assert {name: getattr(config, name) for name in shared} == {name: values["train_detector"][name] for name in shared}
    assert config.seed == params.common.seed


def test_edge_padding_removes_the_artificial_edge_round_a_flat_image():
    """On a flat black image the first convolution responds the same at the border as inside when the image is
    mirrored past its border; with zero padding its border pixels see an edge that is not in the image."""
    import keras

    black = np.zeros((1, 24, 24, 1), np.float32)
    spread = {}
    for padding in (0, 4):
        core = build_core(edge_padding=padding)
        conv = next(layer for layer in core.layers if isinstance(layer, keras.layers.Conv2D))
        first = keras.Model(core.input, conv.output)
        out = np.asarray(first(black))
        inner = out[:, padding:padding + 24, padding:padding + 24]  # the image's own pixels
        spread[padding] = float(np.ptp(inner, axis=(1, 2)).max())  # over the pixels, per feature
    assert spread[4] < 1e-6 < spread[0]


def test_surest_rows_are_the_candidates_the_core_alone_rates_highest():
    """Self-training's pseudo-positives: ranked by one view (the core on the shrunk tile), only candidates."""
    core = build_core()
    detector = build_detector(core, input_size=64, views=2)
    rng = np.random.default_rng(1)
    read = {row: rng.integers(0, 256, (80, 80)).astype(np.uint8) for row in range(10)}
    candidates = np.array([1, 2, 4, 6, 7, 9])
    alone = build_detector(core, input_size=64, views=1)
    one_view = [float(np.asarray(alone(read[row][None, ..., None].astype(np.float32), training=False))[0, 0])
                for row in candidates]
    config = DetectorConfig(input_size=64)
    chosen = surest_rows(detector, config, read, candidates, 3)
    assert chosen.tolist() == candidates[np.argsort(one_view)[::-1][:3]].tolist()


@pytest.mark.parametrize("tile_padding", [0, 8])
def test_detector_views_average_the_core_over_mirrored_and_turned_copies(tile_padding):
    core = build_core()
    tiles = np.random.default_rng(0).integers(0, 256, (3, 100, 100, 1)).astype(np.float32)
    shrunk = np.asarray(build_detector(core, input_size=64).get_layer("shrink")(tiles))
    border = (tile_padding, tile_padding)
    shrunk = np.pad(shrunk, ((0, 0), border, border, (0, 0)), mode="reflect")

    def core_of(images):
        return np.asarray(core(np.ascontiguousarray(images), training=False))

    copies = [shrunk, shrunk[:, :, ::-1], shrunk.transpose(0, 2, 1, 3), shrunk[:, ::-1, ::-1]]
    for views in (1, 2, 4):
        got = np.asarray(build_detector(core, input_size=64, views=views, tile_padding=tile_padding)(
            tiles, training=False))
        expected = np.mean([core_of(c) for c in copies[:views]], axis=0)
        np.testing.assert_allclose(got, expected, atol=1e-6)
    assert not np.allclose(core_of(copies[0]), core_of(copies[1]))  # the views do differ: the mean is not trivial
    with pytest.raises(ValueError, match="views"):
        build_detector(core, input_size=64, views=3)


def test_members_share_the_views_one_core_per_view():
    """Two cores and two views: the first scores the tile, the second its mirror image; four views go round."""
    first, second = build_core(), build_core(name="lettering_core_2")
    tiles = np.random.default_rng(4).integers(0, 256, (3, 100, 100, 1)).astype(np.float32)
    single = build_detector(first, input_size=64)
    shrunk = np.asarray(single.get_layer("reflect_tile")(single.get_layer("shrink")(tiles)))

    def of(core, images):
        return np.asarray(core(np.ascontiguousarray(images), training=False))

    copies = [shrunk, shrunk[:, :, ::-1], shrunk.transpose(0, 2, 1, 3), shrunk[:, ::-1, ::-1]]
    pair = np.asarray(build_detector([first, second], input_size=64, views=2)(tiles, training=False))
    np.testing.assert_allclose(pair, (of(first, copies[0]) + of(second, copies[1])) / 2, atol=1e-6)
    four = np.asarray(build_detector([first, second], input_size=64, views=4)(tiles, training=False))
    expected = np.mean([of([first, second][k % 2], c) for k, c in enumerate(copies)], axis=0)
    np.testing.assert_allclose(four, expected, atol=1e-6)
    assert not np.allclose(pair, np.asarray(single(tiles, training=False)))
    with pytest.raises(ValueError, match="2 cores for 1 views"):
        build_detector([first, second], input_size=64, views=1)


def test_members_are_fitted_to_the_same_examples_and_member_one_is_the_single_detector():
    from tilescan.detect.train import train_detector

    tiles = [_tile(level) for level in (40, 90, 140)]
    config = DetectorConfig(seed=5, n_examples=8, crop_size=48, input_size=64, batch_size=4, workers=1)
    single, single_summary, _, examples = train_detector(tiles, [], config)
    pair, summary, _, pair_examples = train_detector(tiles, [], DetectorConfig(**{**config.__dict__, "members": 2}))
    np.testing.assert_array_equal(examples[0], pair_examples[0])  # composited once, shared
    weights = [pair.get_layer(name).get_weights() for name in ("lettering_core", "lettering_core_2")]
    for got, want in zip(weights[0], single.get_layer("lettering_core").get_weights()):
        np.testing.assert_array_equal(got, want)  # member 1 is seeded as the single detector
    assert not all(np.array_equal(a, b) for a, b in zip(*weights))  # member 2 has its own seed
    assert summary["members"] == 2 and len(summary["member_losses"]) == 2
    assert summary["member_losses"][0] == single_summary["loss"]


def test_detector_mirrors_the_shrunk_tile_past_its_border():
    core = build_core()
    tiles = np.random.default_rng(3).integers(0, 256, (2, 100, 100, 1)).astype(np.float32)
    detector = build_detector(core, input_size=64, tile_padding=8)
    shrunk = np.asarray(detector.get_layer("shrink")(tiles))
    padded = np.asarray(detector.get_layer("reflect_tile")(shrunk))
    np.testing.assert_array_equal(padded, np.pad(shrunk, ((0, 0), (8, 8), (8, 8), (0, 0)), mode="reflect"))
    unpadded = build_detector(core, 64, tile_padding=0)
    assert "reflect_tile" not in [layer.name for layer in unpadded.layers]
    # the core sees a different image, so the probability differs from the unpadded detector's
    assert not np.allclose(np.asarray(detector(tiles, training=False)), np.asarray(unpadded(tiles, training=False)))


def test_detector_probability_stays_float32_under_mixed_precision():
    import keras

    keras.config.set_dtype_policy("mixed_float16")
    try:
        core = build_core()
        outs = [build_detector(core, input_size=64, views=v)(np.zeros((1, 80, 80, 1), np.float32)) for v in (1, 2)]
    finally:
        keras.config.set_dtype_policy("float32")
    assert [keras.backend.standardize_dtype(out.dtype) for out in outs] == ["float32", "float32"]


def test_predict_stream_gives_each_tile_its_own_probability_in_order_whatever_the_batch():
    """Tiles of two sizes, in any batch size: each key gets what the detector gives that tile alone."""
    from tilescan.detect.train import predict_stream

    detector = build_detector(build_core(), input_size=32, tile_padding=4)
    rng = np.random.default_rng(4)
    tiles = [rng.integers(0, 256, (40, 40) if i < 13 else (48, 48)).astype(np.uint8) for i in range(20)]
    alone = [float(np.asarray(detector(t[None, ..., None].astype(np.float32), training=False))[0, 0]) for t in tiles]
    for batch_size in (1, 4, 16, 64):
        keys, probabilities = zip(*predict_stream(detector, ((f"t{i}", t) for i, t in enumerate(tiles)),
                                                  batch_size=batch_size))
        assert list(keys) == [f"t{i}" for i in range(20)]
        np.testing.assert_allclose(probabilities, alone, atol=1e-6)


def test_local_contrast_is_the_mirrored_neighbourhoods_standard_score():
    """LocalContrast equals (x - mean) / (spread + 8) / 3 over each pixel's 7x7 neighbourhood, the image mirrored
    at its border (scipy's uniform_filter, mode "reflect"), within float32 rounding."""
    from tilescan.detect.model import LocalContrast

    image = np.random.default_rng(3).integers(0, 256, (2, 20, 24, 1)).astype(np.float64)
    mean = ndimage.uniform_filter(image, (1, 7, 7, 1), mode="reflect")
    spread = np.sqrt(np.maximum(ndimage.uniform_filter(image ** 2, (1, 7, 7, 1), mode="reflect") - mean ** 2, 0))
    expected = (image - mean) / (spread + 8.0) / 3.0
    np.testing.assert_allclose(np.asarray(LocalContrast()(image.astype(np.float32))), expected, atol=2e-3)


def test_local_contrast_lifts_a_faint_stroke_to_more_than_half_a_bright_ones_strength():
    """A stroke 20 levels above flat film comes out at least half as strong as one 200 levels above it (a tenth
    in the rescaled image beside it); the film's grain (2 levels) stays under a quarter of the faint stroke."""
    from tilescan.detect.model import LocalContrast

    film = 20 + np.random.default_rng(4).normal(0, 2, (1, 40, 40, 1))
    peaks = {}
    for rise in (20, 200):
        image = film.copy()
        image[0, 10:30, 19:22, 0] += rise
        peaks[rise] = float(np.asarray(LocalContrast()(image.astype(np.float32)))[0, 10:30, 19:22].mean())
    grain = float(np.abs(np.asarray(LocalContrast()(film.astype(np.float32)))).mean())
    assert peaks[20] > 0.5 * peaks[200] and grain < 0.25 * peaks[20]


def test_the_last_local_contrast_members_see_the_channel():
    from tilescan.detect.train import member_core

    def sees_channel(local_contrast_members: int) -> list[bool]:
        config = DetectorConfig(members=2, local_contrast_members=local_contrast_members)
        return ["local_contrast" in [layer.name for layer in member_core(config, m).layers] for m in range(2)]

    assert sees_channel(1) == [False, True]
    assert sees_channel(0) == [False, False]
