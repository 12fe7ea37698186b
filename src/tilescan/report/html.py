"""The report page: one self-contained HTML document (inline CSS, data-URI images, the review script of
report.verdicts inlined), built from ReportInputs. Building blocks first, then one function per section, then
build_report."""
from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from tilescan import artifacts
from tilescan.cluster import NOISE, query_positions
from tilescan.report import figures, verdicts
from tilescan.report.inputs import (
    ReportInputs,
    cluster_sample,
    cluster_sizes,
    flatten,
    latent_map,
    review_next,
    spread,
    truth_frame,
)

CSS = """
:root { --tile: 112px; --flag: #d62728; --truth: #e69f00; --ink: #1d2330; --muted: #5d6778; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "Liberation Sans", sans-serif; color: var(--ink);
       margin: 0; background: #f4f5f7; }
header { background: #1d2330; color: #fff; padding: 18px 32px 14px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: #c9cfda; }
nav { background: #fff; border-bottom: 1px solid #dde1e7; padding: 8px 32px; position: sticky; top: 0; z-index: 1; }
nav a { color: #2a5db0; text-decoration: none; margin-right: 14px; white-space: nowrap; font-size: 13px; }
main { padding: 8px 32px 40px; max-width: 1320px; }
section { background: #fff; border: 1px solid #dde1e7; border-radius: 6px; padding: 6px 20px 16px; margin: 16px 0; }
h2 { font-size: 18px; margin: 12px 0 8px; }
h3 { font-size: 14px; margin: 14px 0 6px; color: var(--muted); }
.note { color: var(--muted); margin: 6px 0; }
.empty { color: var(--muted); font-style: italic; background: #f7f7f9; padding: 8px 12px; border-radius: 4px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 12px 0 4px; }
.card { background: #fff; border: 1px solid #dde1e7; border-radius: 6px; padding: 8px 14px; min-width: 140px; }
.card b { display: block; font-size: 20px; }
.card span { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; margin: 6px 0 10px; font-size: 13px; }
th, td { border-bottom: 1px solid #e6e8ec; padding: 3px 10px; text-align: left; vertical-align: top; }
th { background: #f0f2f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.gallery { display: flex; flex-wrap: wrap; gap: 8px; margin: 4px 0 8px; }
.split { display: flex; flex-wrap: wrap; gap: 8px 32px; align-items: flex-start; }
.pair { display: flex; gap: 4px; background: #eef0f3; padding: 4px; border-radius: 4px; }
.row { display: flex; gap: 8px; align-items: flex-start; margin: 4px 0 10px; flex-wrap: wrap; }
.row > .label { width: 90px; font-weight: 600; padding-top: 40px; }
figure.tile { margin: 0; width: calc(var(--tile) + 6px); position: relative; }
figure.tile img { width: var(--tile); height: var(--tile); image-rendering: pixelated; display: block;
                  border: 3px solid transparent; background: #000; }
figure.tile.flagged img { border-color: var(--flag); }
figure.tile .truth { position: absolute; top: 3px; right: 3px; background: var(--truth); color: #000;
                     font-size: 10px; font-weight: 700; padding: 0 4px; border-radius: 0 0 0 4px; }
figure.tile figcaption { font-size: 11px; line-height: 1.25; color: var(--muted); overflow-wrap: anywhere; }
figure.tile figcaption b { color: var(--ink); }
figure.chart { margin: 6px 0; }
figure.chart img { max-width: 100%; height: auto; }
.legend { font-size: 12px; color: var(--muted); }
.legend .swatch { display: inline-block; width: 12px; height: 12px; vertical-align: -2px; margin: 0 3px 0 10px; }
"""


@dataclass(frozen=True)
class Tile:
    """One tile in a gallery: image, caption lines (the first, the id, in bold), flagged frame, truth badge."""
    uri: str
    caption: tuple[str, ...]
    flagged: bool = False
    annotation: bool = False


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def format_value(value) -> str:
    """A metric value as text: floats to 6 significant digits, lists joined, None as a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(v) for v in value) if value else "(none)"
    return str(value)


def tile(item: Tile, review: bool = False) -> str:
    """A tile figure; with review, it carries its id (data-id) and the verdict buttons (report.verdicts)."""
    css = "tile flagged" if item.flagged else "tile"
    badge = '<span class="truth" title="ground truth: annotation">A</span>' if item.annotation else ""
    first, *rest = item.caption or ("",)
    caption = "<br>".join([f"<b>{esc(first)}</b>", *(esc(line) for line in rest)])
    opening = f'<figure class="{css}" {verdicts.data_id(first)}>' if review else f'<figure class="{css}">'
    return (f'{opening}<img src="{item.uri}" alt="tile {esc(first)}">{badge}'
            f"<figcaption>{caption}</figcaption>{verdicts.controls() if review else ''}</figure>")


def gallery(items: Iterable[Tile], empty: str = "No tiles to show.", review: bool = False) -> str:
    """Tiles in a wrapping row; review = each with verdict buttons."""
    items = list(items)
    if not items:
        return note(empty, "empty")
    return '<div class="gallery">' + "".join(tile(item, review) for item in items) + "</div>"


def pairs(items: Iterable[tuple[Tile, Tile]]) -> str:
    """Tiles two by two (an original beside its reconstruction)."""
    return ('<div class="gallery">' + "".join(f'<div class="pair">{tile(a)}{tile(b)}</div>' for a, b in items)
            + "</div>")


def side_by_side(*parts: str) -> str:
    return '<div class="split">' + "".join(f"<div>{part}</div>" for part in parts) + "</div>"


def tile_row(label: str, items: Iterable[Tile], review: bool = False) -> str:
    return (f'<div class="row"><div class="label">{esc(label)}</div>' + "".join(tile(i, review) for i in items)
            + "</div>")


def chart(uri: str, alt: str) -> str:
    return f'<figure class="chart"><img src="{uri}" alt="{esc(alt)}"></figure>'


def note(text: str, css: str = "note") -> str:
    return f'<p class="{css}">{esc(text)}</p>'


def heading(text: str) -> str:
    return f"<h3>{esc(text)}</h3>"


def table(header: list[str], rows: Iterable[Iterable]) -> str:
    """A plain table; numbers right-aligned and formatted by format_value."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)

    def cell(value) -> str:
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        return f'<td class="num">{esc(format_value(value))}</td>' if numeric else f"<td>{esc(format_value(value))}</td>"

    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def cards(items: list[tuple[str, str]]) -> str:
    """The at-a-glance numbers: (value, what it counts)."""
    return '<div class="cards">' + "".join(f'<div class="card"><b>{esc(v)}</b><span>{esc(k)}</span></div>'
                                           for v, k in items) + "</div>"


def legend(with_truth: bool) -> str:
    truth = ('<span class="swatch" style="background:var(--truth)"></span>A = annotation in ground truth'
             if with_truth else "")
    return ('<p class="legend">Tiles:<span class="swatch" style="border:3px solid var(--flag)"></span>'
            f"red frame = flagged by the pipeline {truth}</p>")


def page(title: str, subtitle: str, summary: str, sections: list[tuple[str, str, str]], toolbar: str = "",
         script: str = "") -> str:
    """The whole document: header, a table of contents (and toolbar), then (anchor, title, body) sections."""
    toc = "".join(f'<a href="#{esc(anchor)}">{esc(name)}</a>' for anchor, name, _ in sections)
    body = "".join(f'<section id="{esc(anchor)}"><h2>{esc(name)}</h2>{content}</section>'
                   for anchor, name, content in sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{esc(title)}</title>"
            f"<style>{CSS}{verdicts.STYLE}</style></head><body><header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p>"
            f"</header><nav>{toc}{toolbar}</nav><main>{summary}{body}</main>{script}</body></html>\n")


# --- sections --------------------------------------------------------------------------------------

def _cluster_text(inputs: ReportInputs, position: int) -> str:
    label = int(inputs.labels[position])
    return "noise" if label == NOISE else f"cluster {label}"


def _tile(inputs: ReportInputs, position: int, *lines: str, image: np.ndarray | None = None) -> Tile:
    """A gallery tile of the prepared tile at position (or of `image`), framed if flagged, badged if truth."""
    image = inputs.read_tile(position) if image is None else image
    return Tile(figures.tile_uri(image, inputs.settings.tile_px), (inputs.ids[position], *lines),
                bool(inputs.is_flagged[position]), bool(inputs.is_annotation[position]))


def _scored(inputs: ReportInputs, position: int) -> Tile:
    return _tile(inputs, position, f"score {inputs.score[position]:.3f} · #{inputs.rank[position]}",
                 _cluster_text(inputs, position))


def _summary(inputs: ReportInputs) -> str:
    dbscan, quality = inputs.metric("dbscan"), inputs.metric("quality")
    noise = float(np.mean(inputs.labels == NOISE)) if len(inputs.labels) else 0.0
    items = [(f"{len(inputs.ids):,}", "tiles scanned"), (f"{int(inputs.flagged['flagged'].sum()):,}", "flagged"),
             (f"{dbscan.get('n_clusters', len(cluster_sizes(inputs.labels)))}", "DBSCAN clusters"),
             (f"{noise:.0%}", "of tiles are noise"), (f"{len(inputs.queries)}", "query tiles")]
    if inputs.truth is not None:
        items += [(f"{quality['average_precision']:.3f}", "average precision"),
                  (f"{quality['precision']:.2f} / {quality['recall']:.2f}", "precision / recall of the flags")]
    return cards(items) + legend(inputs.truth is not None)


def _flagged_section(inputs: ReportInputs) -> str:
    top = inputs.flagged.head(inputs.settings.top_flagged)
    flagged_ids = inputs.flagged.loc[inputs.flagged["flagged"] == 1, "id"].tolist()
    text = (f"{len(flagged_ids)} of {len(inputs.ids)} tiles are flagged (red frame). The {len(top)} highest "
            "scores, highest first; caption: id, score · rank, cluster. The full ranked list is "
            f"{artifacts.FLAGGED}; the export_clean stage writes your CSVs without the flagged tiles.")
    listing = (f"<details><summary>All {len(flagged_ids)} flagged ids</summary><p>"
               f"{esc(', '.join(flagged_ids))}</p></details>" if flagged_ids else "")
    shown = note(text) + gallery([_scored(inputs, inputs.position[i]) for i in top["id"]], review=True) + listing
    if len(flagged_ids) <= len(top):  # the gallery above already runs past the last flagged tile
        return shown
    n = inputs.settings.borderline_tiles
    last_flagged = inputs.flagged[inputs.flagged["flagged"] == 1].tail(n)
    first_unflagged = inputs.flagged[inputs.flagged["flagged"] == 0].head(n)
    return (shown + heading(f"At the edge: the {len(last_flagged)} lowest-scoring flagged tiles")
            + gallery([_scored(inputs, inputs.position[i]) for i in last_flagged["id"]], "No tile is flagged.",
                      review=True)
            + heading(f"At the edge: the {len(first_unflagged)} highest-scoring tiles not flagged")
            + gallery([_scored(inputs, inputs.position[i]) for i in first_unflagged["id"]], "Every tile is flagged.",
                      review=True))


def _truth_section(inputs: ReportInputs) -> str:
    if inputs.truth is None:
        return note("No ground truth (data.labels_csv is empty): precision, recall and the galleries of "
                    "false positives and missed annotation tiles need a CSV of id, annotation.", "empty")
    quality, settings = inputs.metric("quality"), inputs.settings
    frame = truth_frame(inputs, quality.get("split"))
    false_pos = frame[(frame["flagged"] == 1) & (frame["annotation"] == 0)]
    missed = frame[(frame["flagged"] == 0) & (frame["annotation"] == 1)]
    dropped = inputs.dropped.merge(inputs.truth, on="id", how="inner")
    dropped = dropped[(dropped["annotation"] == 1) & (dropped["split"] == quality.get("split", dropped["split"]))]
    reasons = ", ".join(f"{n} {reason}" for reason, n in dropped["reason"].value_counts().sort_index().items())
    prevalence = quality["n_annotation"] / quality["n_tiles"] if quality.get("n_tiles") else 0.0
    keys = ("average_precision", "precision", "recall", "f1", "recall_at_precision_0.9", "n_tiles",
            "n_annotation", "n_flagged")
    numbers = table(["metric", "value"], [(key, quality[key]) for key in keys if key in quality])
    curve = (chart(figures.pr_figure(inputs.pr_curve, (quality["recall"], quality["precision"]), prevalence),
                   "precision-recall curve") if len(inputs.pr_curve) else "")
    parts = [note(f"Against {quality['labels_csv']}, over the {quality.get('split', 'all')} tiles evaluate "
                  "scored (every readable tile is scored; unreadable ones count as missed)."),
             side_by_side(numbers, curve),
             heading(f"False positives: {len(false_pos)} flagged tiles with annotation 0 (highest score first)"),
              gallery([_scored(inputs, p) for p in false_pos["position"].head(settings.error_tiles)],
                      "No false positives.", review=True),
              heading(f"Missed: {len(missed) + len(dropped)} annotation tiles not flagged"),
              note(f"{len(missed)} are among the prepared tiles (shown highest score first: the next a lower "
                   f"threshold would catch); {len(dropped)} were skipped by prepare"
                   f"{f' ({reasons})' if reasons else ''} and cannot be shown."),
              gallery([_scored(inputs, p) for p in missed["position"].head(settings.error_tiles)],
                      "No missed annotation tiles among the prepared tiles.", review=True)]
    return "".join(parts)


def _review_section(inputs: ReportInputs) -> str:
    queue, centre = review_next(inputs)
    given = 0 if inputs.verdicts is None else len(inputs.verdicts)
    reviewed = (f" The {given} tiles of review.verdicts are left out; their verdicts are preset below."
                if given else "")
    text = ("The tiles whose verdict would change the ranking most: by turns the tile whose score lies nearest "
            f"{format_value(centre)} (where lettering and look-alikes mix: knn_report.review_centre, or the "
            "detector's threshold for method detector) and the tile on which the score's components "
            "(columns after cluster in reports/flagged.csv) disagree most." + reviewed + " Mark tiles with the "
            "buttons, or focus one (click it, Tab, arrow keys) and press y (lettering) / n (not lettering); u "
            "undoes. Verdicts stay in this browser for this dataset. \"Download verdicts\" saves verdicts.csv: "
            "put it in verdicts/ and run dvc exp run -S review.verdicts=verdicts/verdicts.csv; lettering tiles "
            "then join the query tiles and are flagged, not-lettering tiles are never flagged.")
    items = [_tile(inputs, inputs.position[tile_id], f"score {score:.3f} · #{inputs.rank[inputs.position[tile_id]]}",
                   reason if reason != "components disagree" else f"components disagree ({spread_:.2f})")
             for tile_id, score, reason, spread_ in zip(queue["id"], queue["score"], queue["reason"],
                                                        queue["disagreement"])]
    return note(text) + gallery(items, "Every tile has a verdict.", review=True)


NO_QUERIES = "No query tiles (knn_report.queries is empty): the pipeline ran unsupervised, so there is nothing {}."


def _neighbours_section(inputs: ReportInputs) -> str:
    if not inputs.queries:
        return note(NO_QUERIES.format("to look up"), "empty")
    rows = []
    for query, group in inputs.knn.groupby("query", sort=False):
        rows.append(tile_row(query, [
            _tile(inputs, inputs.position[n], "query itself" if rank == 0 else f"#{rank} · distance {distance:.3f}",
                  _cluster_text(inputs, inputs.position[n]))
            for n, rank, distance in zip(group["neighbour"], group["rank"], group["distance"])], review=True))
    return note("Each query's nearest tiles in the scaled latent space (Euclidean), nearest first; rank 0 is the "
                "query itself at distance 0 (reports/knn.csv).") + "".join(rows)


def _map_section(inputs: ReportInputs) -> str:
    xy, variance = latent_map(inputs.latents)
    shown = cluster_sizes(inputs.labels)["label"].head(10).tolist()
    query_rows = query_positions(inputs.ids, inputs.queries)
    return (note("Every tile, placed by the first two principal components of its scaled latent vector. Tiles "
                 "that look alike sit together; DBSCAN clusters are coloured (the 10 largest), noise is grey.")
            + chart(figures.latent_map_figure(xy, inputs.labels, shown, query_rows, inputs.is_flagged, variance),
                    "PCA map of the latents"))


def _clusters_section(inputs: ReportInputs) -> str:
    sizes, settings = cluster_sizes(inputs.labels), inputs.settings
    noise = np.flatnonzero(inputs.labels == NOISE)
    parts = [chart(figures.cluster_size_figure(sizes, len(noise)), "cluster sizes")]
    if not len(sizes):
        parts.append(note("DBSCAN found no clusters: every tile is noise (raise dbscan.eps or lower "
                          "dbscan.min_samples).", "empty"))
    shown = sizes.head(settings.clusters_shown)
    header = ["cluster", "tiles", "flagged"] + (["annotation (truth)"] if inputs.truth is not None else [])
    rows = []
    for label, size in zip(shown["label"], shown["size"]):
        members = inputs.labels == label
        rows.append([int(label), int(size), int(inputs.is_flagged[members].sum())]
                    + ([int(inputs.is_annotation[members].sum())] if inputs.truth is not None else []))
    if rows:
        parts += [heading(f"The {len(rows)} largest of {len(sizes)} clusters"), table(header, rows)]
    for label, size in zip(shown["label"], shown["size"]):
        picks = cluster_sample(inputs.latents, inputs.labels, int(label), settings.tiles_per_cluster)
        parts += [heading(f"Cluster {label}: {size} tiles, from the most typical (nearest the centroid) to the "
                          "least"), gallery([_scored(inputs, p) for p in picks])]
    parts += [heading(f"Noise: {len(noise)} tiles in no cluster (evenly spaced sample)"),
              gallery([_scored(inputs, p) for p in spread(noise, settings.noise_tiles)], "No noise tiles.")]
    return "".join(parts)


def _reconstruction_section(inputs: ReportInputs) -> str:
    if not inputs.queries:
        return note(NO_QUERIES.format("to reconstruct"), "empty")
    items = [(_tile(inputs, position, "original", _cluster_text(inputs, position)),
              Tile(figures.tile_uri(image, inputs.settings.tile_px),
                   (inputs.ids[position], "reconstruction", f"error {error:.3f}")))
             for position, image, error in zip(query_positions(inputs.ids, inputs.queries), inputs.reconstructions,
                                               inputs.query_errors)]
    measured = inputs.recon_error[np.isfinite(inputs.recon_error)]
    return (note("Each query tile beside the autoencoder's reconstruction of it; error = the tile's mean "
                 f"binary cross-entropy (mean {float(np.mean(measured)):.3f} over the {len(measured)} tiles encode "
                 "measured). Lettering the model does not reproduce is what sets a tile apart in latent space.")
            + pairs(items))


def _training_section(inputs: ReportInputs) -> str:
    train = inputs.metric("train")
    return side_by_side(chart(figures.loss_figure(inputs.train_loss, inputs.val_loss), "loss curves"),
                        table(["metric", "value"], list(train.items())))


def _dataset_section(inputs: ReportInputs) -> str:
    prepare = inputs.metric("prepare")
    columns = ("read", "kept", "dropped_black", "skipped_unreadable")
    rows = [[split] + [counts.get(c, 0) for c in columns] for split, counts in prepare.get("splits", {}).items()]
    rows.append(["total"] + [sum(row[i + 1] for row in rows) for i in range(len(columns))])
    skipped = prepare.get("skipped_ids") or []
    return (note(f"Format {prepare.get('format', '?')}, tiles resized to {prepare.get('img_size', '?')} px. "
                 "Every readable tile of the kept class is scored; mostly black ones are left out of "
                 "autoencoder training only.")
            + table(["split", "read", "kept", "mostly black", "skipped unreadable"], rows)
            + (note(f"Unreadable: {', '.join(skipped)}") if skipped else ""))


def _metrics_section(inputs: ReportInputs) -> str:
    rows = [(name if i == 0 else "", key, value) for name, content in inputs.metrics.items()
            for i, (key, value) in enumerate(flatten(content))]
    return table(["file", "metric", "value"], rows)


def build_report(inputs: ReportInputs) -> str:
    """The whole page as one HTML string (no time stamps: equal inputs give equal bytes)."""
    knn, dbscan = inputs.metric("knn_report"), inputs.metric("dbscan")
    subtitle = (f"{knn.get('method', '?')} method · {len(inputs.ids):,} tiles · {len(inputs.queries)} queries"
                f" · DBSCAN eps {format_value(dbscan.get('eps'))}")
    sections = [("flagged", "Flagged tiles", _flagged_section(inputs)),
                ("review", "Review next", _review_section(inputs)),
                ("truth", "Against ground truth", _truth_section(inputs)),
                ("neighbours", "Query neighbours", _neighbours_section(inputs)),
                ("map", "Latent map", _map_section(inputs)),
                ("clusters", "Clusters", _clusters_section(inputs)),
                ("reconstruction", "Reconstructions", _reconstruction_section(inputs)),
                ("training", "Training", _training_section(inputs)),
                ("dataset", "Dataset", _dataset_section(inputs)),
                ("metrics", "All metrics", _metrics_section(inputs))]
    return page("tilescan report", subtitle, _summary(inputs), sections, verdicts.toolbar(),
                verdicts.script(inputs.ids, inputs.verdicts))
