"""Pictures of training: image grids and the tutorial's "From generator" / "From MNIST" figure.

Figures are always saved as PNG files. When a display is available they are also shown in
one live window that is refreshed without blocking training; on a headless machine the
non-interactive Agg backend is chosen before pyplot loads, so nothing blocks or fails.
"""
import math
import os
import sys

import matplotlib
import numpy as np


def display_available():
    """True when a figure window can be opened: a desktop OS, or X11/Wayland on Linux."""
    if not sys.platform.startswith('linux'):
        return True
    return bool(os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY'))


# Pick the backend before pyplot is imported anywhere. A user's MPLBACKEND is respected.
if not display_available() and 'MPLBACKEND' not in os.environ:
    matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402  (must follow the backend choice)


def interactive_backend():
    """True when the active matplotlib backend draws to a window rather than to files only."""
    return matplotlib.get_backend().lower() not in ('agg', 'pdf', 'ps', 'svg', 'cairo',
                                                    'template', 'pgf')


# ============================== grids ==============================

def to_uint8_images(batch):
    """(N, C, H, W) floats in [-1, 1] to (N, H, W, C) uint8 in 0..255.

    Values outside [-1, 1] are clipped; the mapping truncates like the tutorial's.
    """
    batch = np.asarray(batch)
    if batch.ndim != 4:
        raise ValueError('expected a batch shaped (N, C, H, W), got %s' % (batch.shape,))
    pixels = np.clip((batch + 1.0) * (255.0 / 2.0), 0, 255).astype(np.uint8)
    return pixels.transpose(0, 2, 3, 1)


def grid_shape(count, columns=None):
    """(rows, columns) for `count` images: near-square unless `columns` is given."""
    if count < 1:
        raise ValueError('cannot lay out %d images' % count)
    columns = columns or math.ceil(math.sqrt(count))
    return math.ceil(count / columns), columns


def tile_images(images, columns=None):
    """(N, H, W, C) images to one (rows*H, columns*W, C) grid, row by row, unused cells black."""
    count, height, width, channels = images.shape
    rows, columns = grid_shape(count, columns)
    grid = np.zeros((rows * height, columns * width, channels), dtype=images.dtype)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        grid[row * height:(row + 1) * height, column * width:(column + 1) * width] = image
    return grid


def batch_to_grid(batch, columns=None):
    """A batch in [-1, 1] shaped (N, C, H, W) as one uint8 grid image (rows*H, columns*W, C)."""
    return tile_images(to_uint8_images(batch), columns)


# ============================== figures ==============================

def save_figure(fig, path):
    """Save `fig` to `path` via a temporary file, so a crash never leaves half a PNG."""
    temporary = path + '.partial.png'
    fig.savefig(temporary, dpi=100)
    os.replace(temporary, path)


class ComparisonFigure:
    """The tutorial's side-by-side view, "From generator" beside "From MNIST", kept in one figure.

    `update()` redraws it, saves it as a PNG and, when `show` is true and a window can be
    opened, refreshes the window without blocking.
    """

    def __init__(self, show=False):
        self.show = show and interactive_backend()
        self.fig = plt.figure(figsize=(10, 5.4))

    def update(self, fake, real, title, path):
        self.fig.clf()
        for position, (batch, label) in enumerate(((fake, 'From generator'),
                                                   (real, 'From MNIST')), start=1):
            ax = self.fig.add_subplot(1, 2, position)
            ax.imshow(batch_to_grid(batch))
            ax.set_title(label)
            ax.axis('off')
        self.fig.suptitle(title)
        self.fig.tight_layout()
        save_figure(self.fig, path)
        if self.show:
            plt.show(block=False)
            plt.pause(0.001)  # lets the window paint; returns at once

    def close(self):
        plt.close(self.fig)
