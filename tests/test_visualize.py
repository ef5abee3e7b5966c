"""Image grids and the saved figure."""
import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import REPO


def marked_batch(count, size=8, channels=3):
    """A batch in [-1, 1] where image k is filled with one value that identifies k."""
    values = np.linspace(-1, 1, count, dtype=np.float32)
    return np.broadcast_to(values[:, None, None, None], (count, channels, size, size)).copy()


def pixel_value(x):
    return np.uint8(np.clip((x + 1.0) * 127.5, 0, 255))


def test_to_uint8_images_maps_and_clips_like_the_tutorial():
    import visualize
    batch = np.array([-1.5, -1.0, 0.0, 0.999, 1.0, 2.0], np.float32).reshape(1, 1, 2, 3)
    images = visualize.to_uint8_images(batch)
    assert images.shape == (1, 2, 3, 1) and images.dtype == np.uint8
    assert images.ravel().tolist() == [0, 0, 127, 254, 255, 255]


def test_to_uint8_images_moves_channels_last():
    import visualize
    batch = np.zeros((2, 3, 4, 5), np.float32)
    batch[:, 1] = 1.0
    images = visualize.to_uint8_images(batch)
    assert images.shape == (2, 4, 5, 3)
    assert (images[..., 1] == 255).all() and (images[..., 0] == 127).all()


@pytest.mark.parametrize('count, rows, columns', [(64, 8, 8), (10, 3, 4), (1, 1, 1), (5, 2, 3),
                                                  (17, 4, 5)])
def test_grid_puts_each_image_in_its_cell(count, rows, columns):
    import visualize
    batch = marked_batch(count)
    grid = visualize.batch_to_grid(batch)
    assert grid.shape == (rows * 8, columns * 8, 3) and grid.dtype == np.uint8
    for index in range(rows * columns):
        row, column = divmod(index, columns)
        cell = grid[row * 8:(row + 1) * 8, column * 8:(column + 1) * 8]
        expected = pixel_value(batch[index, 0, 0, 0]) if index < count else 0
        assert (cell == expected).all(), (index, row, column)


def test_grid_with_fixed_columns():
    import visualize
    grid = visualize.batch_to_grid(marked_batch(6), columns=6)
    assert grid.shape == (8, 48, 3)


def test_grid_rejects_empty_and_badly_shaped_batches():
    import visualize
    with pytest.raises(ValueError):
        visualize.batch_to_grid(np.zeros((0, 3, 8, 8)))
    with pytest.raises(ValueError):
        visualize.batch_to_grid(np.zeros((3, 8, 8)))


HEADLESS_SCRIPT = '''
import sys
sys.path.insert(0, %r)
import numpy as np
import matplotlib
import visualize
fake = np.random.RandomState(0).uniform(-1, 1, (10, 3, 64, 64)).astype(np.float32)
real = -np.ones((64, 3, 64, 64), np.float32)
figure = visualize.ComparisonFigure(visualize.window_viewer())
figure.update([('From generator', fake), ('From MNIST', real)], 'epoch 0, iteration 50',
              sys.argv[1])
figure.close()
print(matplotlib.get_backend(), figure.viewer)
'''


def test_figure_is_saved_headless_without_blocking(tmp_path):
    """With no display the program must pick Agg, never open a window, and write the PNG."""
    path = str(tmp_path / 'epoch000_iter0050.png')
    env = {key: value for key, value in os.environ.items()
           if key not in ('DISPLAY', 'WAYLAND_DISPLAY', 'MPLBACKEND')}
    result = subprocess.run([sys.executable, '-c', HEADLESS_SCRIPT % REPO, path],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.lower().split() == ['agg', 'none']
    with open(path, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    assert os.listdir(tmp_path) == ['epoch000_iter0050.png']  # no temporary file left behind
    import matplotlib.image
    picture = matplotlib.image.imread(path)
    assert picture.shape[:2] == (480, 800)  # two 4-inch panels at 100 dpi, titles above


def grey_of(k, count):
    """Grid k of `count`: a uniform grey that grows with k, on the GIF's 16 levels (multiples
    of 17), so that a frame tells which grids it may show, in which order."""
    return 17 * (1 + k * 14 // (count - 1))


def write_grids(folder, iterations, cells=8):
    """Fixed-noise grids as the Reporter saves them (fixed/iterNNNNNNN.png), written out of
    order, grid k uniformly grey_of(k)."""
    import visualize
    folder.mkdir()
    for k, iteration in reversed(list(enumerate(iterations))):
        grey = np.full((cells * 64, cells * 64, 3), grey_of(k, len(iterations)), np.uint8)
        visualize.save_grid(grey, str(folder / ('iter%07d.png' % iteration)))


def test_progress_gif_shows_the_grids_in_order_thinned_and_at_half_size(tmp_path):
    import visualize
    from PIL import Image
    iterations = list(range(50, 3550, 50))  # 70 grids
    write_grids(tmp_path / 'fixed', iterations)
    path = str(tmp_path / 'progress.gif')
    shown = visualize.save_progress_animation(str(tmp_path / 'fixed'), path)
    assert len(shown) == visualize.ANIMATION_FRAMES < len(iterations)
    assert shown[0] == 50 and shown[-1] == 3500 and shown == sorted(shown)
    assert set(shown) <= set(iterations)
    gif = Image.open(path)
    assert gif.n_frames == len(shown)
    assert gif.size == (256, 256 + visualize.LABEL_HEIGHT)
    for frame, iteration in enumerate(shown):
        gif.seek(frame)
        picture = np.asarray(gif.convert('L'))
        assert (picture[visualize.LABEL_HEIGHT:]
                == grey_of(iterations.index(iteration), len(iterations))).all()
        assert picture[:visualize.LABEL_HEIGHT].max() > 200  # the label, white on black
        assert gif.info['duration'] == (visualize.LAST_FRAME_MS if frame == len(shown) - 1
                                        else visualize.FRAME_MS)
    assert sorted(os.listdir(str(tmp_path))) == ['fixed', 'progress.gif']


def test_progress_gif_of_a_run_without_grids_is_not_written(tmp_path):
    import visualize
    assert visualize.save_progress_animation(str(tmp_path / 'fixed'), str(tmp_path / 'p.gif')) \
        == []
    assert os.listdir(str(tmp_path)) == []
