"""tf.data over memory-mapped uint8 tiles."""
import numpy as np

from tilescan.tiles import tile_dataset


def test_batches_cover_every_tile_in_order_with_channels():
    tiles = np.arange(10 * 4 * 4, dtype=np.uint8).reshape(10, 4, 4)
    batches = [b.numpy() for b in tile_dataset(tiles, batch_size=4, channels=3)]
    assert [b.shape for b in batches] == [(4, 4, 4, 3), (4, 4, 4, 3), (2, 4, 4, 3)]
    stacked = np.concatenate(batches)
    assert np.allclose(stacked[..., 0], tiles / 255.0) and np.array_equal(stacked[..., 0], stacked[..., 2])


def test_shuffle_is_seeded():
    tiles = np.arange(50, dtype=np.uint8).reshape(50, 1, 1).repeat(2, 1).repeat(2, 2)

    def order(seed):
        return np.concatenate([b.numpy()[:, 0, 0, 0] for b in tile_dataset(tiles, 8, 1, seed)])

    assert np.array_equal(order(3), order(3)) and not np.array_equal(order(3), order(4))
    assert sorted((order(3) * 255).round().astype(int)) == list(range(50))


def test_sample_rows_is_bounded_seeded_and_ordered():
    from tilescan.tiles import sample_rows

    rows = np.arange(10, 1010, 2)
    assert (sample_rows(rows, 500, 1) == rows).all()  # small enough: every row, untouched
    sample = sample_rows(rows, 100, 1)
    assert len(sample) == 100 and len(set(sample.tolist())) == 100 and np.isin(sample, rows).all()
    assert (np.diff(sample) > 0).all()  # kept in row order: reads go forward through the memory map
    assert (sample == sample_rows(rows, 100, 1)).all() and not (sample == sample_rows(rows, 100, 2)).all()
