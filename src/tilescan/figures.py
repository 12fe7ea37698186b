"""Matplotlib figures saved byte-stable (no dates or software versions in the file)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

STABLE_PNG_METADATA = {"Software": None}


def save_png(fig, path: Path) -> None:
    """Save and close; pinned metadata keeps the bytes identical across runs."""
    fig.savefig(path, format="png", dpi=80, metadata=STABLE_PNG_METADATA)
    plt.close(fig)


def tile_grid(rows: list[list[np.ndarray]], titles: list[list[str]], row_labels: list[str] | None = None):
    """A figure of grayscale tiles, one list per row (the notebook's neighbour grid)."""
    n_rows, n_cols = len(rows), max((len(r) for r in rows), default=1)
    fig, axes = plt.subplots(max(n_rows, 1), n_cols, figsize=(1.9 * n_cols, 2.1 * max(n_rows, 1)),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for r, (images, texts) in enumerate(zip(rows, titles)):
        for c, (image, text) in enumerate(zip(images, texts)):
            axes[r, c].imshow(image, cmap="gray", vmin=0, vmax=255)
            axes[r, c].set_title(text, fontsize=7, parse_math=False)  # ids are file names: "$" is text
        if row_labels:
            axes[r, 0].text(-0.1, 0.5, row_labels[r], transform=axes[r, 0].transAxes, rotation=90,
                            ha="right", va="center", fontsize=8, parse_math=False)
    fig.tight_layout()
    return fig


def neighbour_grid(knn: pd.DataFrame, read_tile, ids: list[str]):
    """The neighbour grid of a knn table (query, rank, neighbour, distance; k rows per query, in order): one
    row of tiles per query, each titled with its id and distance. read_tile: position in ids -> uint8 tile."""
    position = {tile_id: i for i, tile_id in enumerate(ids)}
    k = int(knn["rank"].max()) + 1 if len(knn) else 1
    blocks = [knn.iloc[start:start + k] for start in range(0, len(knn), k)]
    return tile_grid([[read_tile(position[n]) for n in block["neighbour"]] for block in blocks],
                     [[f"{n}\nd={d:.2f}" for n, d in zip(block["neighbour"], block["distance"])] for block in blocks],
                     row_labels=[block["query"].iloc[0] for block in blocks])
