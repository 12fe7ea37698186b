"""The report's pictures as PNG data URIs: tiles (Pillow) and charts (matplotlib), byte-stable across runs."""
from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from PIL import Image

from tilescan.figures import plt, save_png

CLUSTER_COLOURS = plt.get_cmap("tab10").colors
NOISE_COLOUR = "#c8c8c8"
FLAG_COLOUR = "#d62728"


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def tile_uri(image: np.ndarray, max_px: int) -> str:
    """A uint8 grayscale tile as a PNG data URI, shrunk (never enlarged) to at most max_px a side.

    Pillow writes no time or software chunk, so equal pixels give equal bytes."""
    picture = Image.fromarray(np.asarray(image, dtype=np.uint8))
    if max(picture.size) > max_px:
        picture = picture.resize((max_px, max_px), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return data_uri(buffer.getvalue())


def figure_uri(fig) -> str:
    buffer = io.BytesIO()
    save_png(fig, buffer)
    return data_uri(buffer.getvalue())


def loss_figure(train: pd.DataFrame, val: pd.DataFrame) -> str:
    """Training and validation loss per epoch (dvclive's step, counted from 1 here)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    for frame, name, style in ((train, "train", "o-"), (val, "validation", "s--")):
        ax.plot(frame["step"] + 1, frame["loss"], style, label=f"{name} loss", markersize=4)
    ax.set(xlabel="epoch", ylabel="binary cross-entropy", title="Autoencoder loss")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return figure_uri(fig)


def cluster_size_figure(sizes: pd.DataFrame, n_noise: int, most: int = 40) -> str:
    """Bar chart: noise, then the `most` largest clusters by size (sizes: label, size; sorted)."""
    shown = sizes.head(most)
    names = ["noise"] + [str(label) for label in shown["label"]]
    counts = [n_noise] + shown["size"].tolist()
    colours = [NOISE_COLOUR] + [CLUSTER_COLOURS[i % 10] if i < 10 else "#6b8fb5" for i in range(len(shown))]
    fig, ax = plt.subplots(figsize=(max(5.5, 0.28 * len(names) + 2.0), 3.2))
    bars = ax.bar(range(len(names)), counts, color=colours)
    ax.bar_label(bars, fontsize=7)
    ax.set_xticks(range(len(names)), names, rotation=90 if len(names) > 12 else 0, fontsize=8)
    more = f" (largest {most} of {len(sizes)})" if len(sizes) > most else ""
    ax.set(xlabel="DBSCAN cluster", ylabel="tiles", title=f"Cluster sizes{more}")
    ax.set_yscale("log" if counts and max(counts) > 50 * max(1, min(counts)) else "linear")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return figure_uri(fig)


def latent_map_figure(xy: np.ndarray, labels: np.ndarray, coloured: list[int], query_rows: np.ndarray,
                      flagged: np.ndarray, variance: tuple[float, float]) -> str:
    """The 2-D PCA map: noise grey, the `coloured` clusters in tab10, other clusters blue-grey;
    flagged tiles ringed red, queries drawn as black stars."""
    # A few far-out tiles would squash the rest into a corner: frame the central 99% and pin the others
    # to the frame's edge, so every tile stays visible.
    low, high = np.percentile(xy, [0.5, 99.5], axis=0) if len(xy) else (np.zeros(2), np.ones(2))
    pad = 0.06 * (high - low) + 1e-6
    low, high = low - pad, high + pad
    n_outside = int(((xy < low) | (xy > high)).any(axis=1).sum())
    xy = np.clip(xy, low, high)
    fig, ax = plt.subplots(figsize=(9.5, 5.5))
    noise = labels == -1
    other = ~noise & ~np.isin(labels, coloured)
    ax.scatter(*xy[noise].T, s=6, c=NOISE_COLOUR, label=f"noise ({int(noise.sum())})", linewidths=0)
    if other.any():
        ax.scatter(*xy[other].T, s=8, c="#6b8fb5", label=f"other clusters ({int(other.sum())})", linewidths=0)
    for i, label in enumerate(coloured):
        members = labels == label
        ax.scatter(*xy[members].T, s=10, color=CLUSTER_COLOURS[i % 10], label=f"cluster {label} "
                   f"({int(members.sum())})", linewidths=0)
    if flagged.any():
        ax.scatter(*xy[flagged].T, s=40, facecolors="none", edgecolors=FLAG_COLOUR, linewidths=1.0,
                   label=f"flagged ({int(flagged.sum())})")
    if len(query_rows):
        ax.scatter(*xy[query_rows].T, s=140, marker="*", c="black", edgecolors="white", linewidths=0.6,
                   label=f"query ({len(query_rows)})")
    edge = f"; {n_outside} far-out tiles drawn on the frame" if n_outside else ""
    ax.set(xlabel=f"PC 1 ({variance[0]:.0%} of variance)", ylabel=f"PC 2 ({variance[1]:.0%} of variance)",
           title=f"Scaled latents, first two principal components{edge}", xlim=(low[0], high[0]),
           ylim=(low[1], high[1]))
    ax.legend(fontsize=8, markerscale=1.5, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.grid(alpha=0.2)
    fig.tight_layout()
    return figure_uri(fig)


def pr_figure(curve: pd.DataFrame, operating: tuple[float, float], prevalence: float) -> str:
    """Precision against recall of the score, with the flagged list's own (recall, precision) point."""
    fig, ax = plt.subplots(figsize=(5.0, 4.0))
    ax.plot(curve["recall"], curve["precision"], "-", label="score threshold")
    ax.axhline(prevalence, color="grey", linestyle=":", label=f"chance ({prevalence:.3f})")
    ax.plot(*operating, "o", color=FLAG_COLOUR, markersize=8, label="flagged list")
    ax.set(xlabel="recall", ylabel="precision", xlim=(-0.02, 1.02), ylim=(-0.02, 1.02),
           title="Precision-recall (ground truth)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return figure_uri(fig)
