"""Pictures of training: image grids and the tutorial's "From generator" / "From MNIST" figure.

Figures are always saved as PNG files. When a display is available they are also shown in
one live window that is refreshed without blocking training (in a Jupyter notebook, under the
cell instead: dcgan/notebook.py); on a headless machine the non-interactive Agg backend is chosen
before pyplot loads, so nothing blocks or fails.
"""
import math
import os
import sys

import matplotlib
import numpy as np


PANEL_INCHES = 4.0  # each grid of the figure is drawn this wide and high (at 100 dpi)
GRID_FORMATS = ('png', 'jpg', 'jpeg', 'pdf')  # what save_grid writes, by the file's extension


def display_available():
    """True when a figure window can be opened: a desktop OS, or X11/Wayland on Linux."""
    if not sys.platform.startswith('linux'):
        return True
    return bool(os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY'))


# Pick the backend before pyplot is imported anywhere. A user's MPLBACKEND is respected.
if not display_available() and 'MPLBACKEND' not in os.environ:
    matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402  (must follow the backend choice)

from dcgan import files  # noqa: E402  (whole or nothing; it imports nothing of the project)


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
    """Save `fig` to `path` in the format its extension names, via a temporary file, so a
    crash never leaves half a file."""
    with files.written_whole(path) as temporary:
        fig.savefig(temporary, dpi=100, format=image_format(path) or 'png')


def image_format(path):
    """The format a grid saved at `path` is written in, by its extension (None: not one of
    GRID_FORMATS)."""
    extension = os.path.splitext(path)[1].lower().lstrip('.')
    return extension if extension in GRID_FORMATS else None


def save_grid(grid, path):
    """Save a uint8 grid image (H, W, C) in the format its extension names (PNG pixel for
    pixel; JPEG; PDF), via a temporary file: a file appears whole or not at all."""
    with files.written_whole(path) as temporary:
        plt.imsave(temporary, grid, format=image_format(path) or 'png')


def read_grid(path):
    """A PNG written by `save_grid` as a uint8 array (H, W, 3)."""
    return np.round(plt.imread(path)[..., :3] * 255).astype(np.uint8)


def grid_cells(grid, cell_size, count):
    """The first `count` cells (cell_size x cell_size) of a grid, row by row, as (n, h, w, C)."""
    columns = grid.shape[1] // cell_size
    cells = []
    for index in range(min(count, columns * (grid.shape[0] // cell_size))):
        row, column = divmod(index, columns)
        cells.append(grid[row * cell_size:(row + 1) * cell_size,
                          column * cell_size:(column + 1) * cell_size])
    return np.stack(cells)


class ComparisonFigure:
    """The tutorial's side-by-side view, "From generator" beside "From MNIST" (and any other
    batches), kept in one figure.

    `update()` redraws it, saves it as a PNG and hands it to `viewer(figure, path)` when one is
    given: `window_viewer()` for a window, notebook.FigureInPlace for a notebook cell.
    """

    def __init__(self, viewer=None):
        self.viewer = viewer
        self.fig = plt.figure()

    def update(self, panels, title, path):
        """Draw `panels`, a list of (title, batch in [-1, 1] shaped (N, C, H, W)), and save."""
        self.fig.clf()
        self.fig.set_size_inches(PANEL_INCHES * len(panels), PANEL_INCHES + 0.8)
        for position, (label, batch) in enumerate(panels, start=1):
            ax = self.fig.add_subplot(1, len(panels), position)
            ax.imshow(batch_to_grid(batch))
            ax.set_title(label)
            ax.axis('off')
        self.fig.suptitle(title)
        self.fig.tight_layout()
        save_figure(self.fig, path)
        if self.viewer:
            self.viewer(self.fig, path)

    def close(self):
        plt.close(self.fig)


def window_viewer():
    """A viewer that shows the figure in one live window, refreshed without blocking; None
    when matplotlib's backend draws to files only (no display)."""
    if not interactive_backend():
        return None

    def show(figure, path):
        plt.show(block=False)
        plt.pause(0.001)  # lets the window paint; returns at once
    return show


def fixed_noise_grids(grid_dir):
    """[(iteration, PNG path)] of the fixed-noise grids saved in `grid_dir` as iterNNN.png,
    in the order of training."""
    names = sorted(name for name in os.listdir(grid_dir) if name.startswith('iter')
                   and name.endswith('.png')) if os.path.isdir(grid_dir) else []
    return [(int(name[len('iter'):-len('.png')]), os.path.join(grid_dir, name))
            for name in names]


def evenly_spread(items, count):
    """At most `count` of `items`, evenly spread, the first and the last always in."""
    picks = sorted(set(np.linspace(0, len(items) - 1, min(count, len(items)))
                       .round().astype(int)))
    return [items[index] for index in picks]


# progress.gif: each fixed-noise grid at half size (32 pixels a digit, about MNIST's 28), in
# 16 levels of grey (the digits are grey, and fewer levels compress three times better), at
# most ANIMATION_FRAMES of them: for the tutorial's 8x8 grid of 64 digits, 256 x 268 pixels
# and about 20 kB a frame (measured on a real run: docs/images/progress.gif).
ANIMATION_FRAMES = 40
ANIMATION_SCALE = 2
GREY_LEVELS = 16
FRAME_MS, LAST_FRAME_MS = 250, 2000
LABEL_HEIGHT = 12


def to_grey_levels(image, levels):
    """A greyscale PIL image with its 256 values mapped onto `levels` evenly spaced ones."""
    return image.point(lambda value: value * levels // 256 * 255 // (levels - 1))


def save_progress_animation(grid_dir, path):
    """progress.gif: the fixed-noise grids in `grid_dir`, one frame each in training order
    (evenly thinned to ANIMATION_FRAMES), each labelled with its iteration, the last held.
    Returns the iterations shown, or [] (and writes nothing) when there is no grid yet."""
    from PIL import Image, ImageDraw  # Pillow, which matplotlib brings
    grids = evenly_spread(fixed_noise_grids(grid_dir), ANIMATION_FRAMES)
    frames = []
    for iteration, grid_path in grids:
        grey = Image.fromarray(read_grid(grid_path)).convert('L')
        grey = to_grey_levels(grey.resize((grey.width // ANIMATION_SCALE,
                                           grey.height // ANIMATION_SCALE), Image.LANCZOS),
                              GREY_LEVELS)
        frame = Image.new('L', (grey.width, grey.height + LABEL_HEIGHT), 0)
        frame.paste(grey, (0, LABEL_HEIGHT))
        ImageDraw.Draw(frame).text((2, 0), 'iteration %d' % iteration, fill=255)
        frames.append(frame)
    if not frames:
        return []
    with files.written_whole(path, suffix='.partial.gif') as temporary:
        frames[0].save(temporary, save_all=True, append_images=frames[1:], loop=0,
                       duration=[FRAME_MS] * (len(frames) - 1) + [LAST_FRAME_MS])
    return [iteration for iteration, _ in grids]


def save_progress_strip(grid_dir, path, snapshots, samples, cell_size=64):
    """One picture of training: a row per snapshot (evenly spread, the last always in), each
    row the first `samples` images of the fixed-noise grids saved in `grid_dir` as iterNNN.png.

    Returns the iterations shown, or [] (and writes nothing) when there is no grid yet.
    """
    grids = evenly_spread(fixed_noise_grids(grid_dir), snapshots)
    if not grids:
        return []
    rows, iterations = [], []
    for iteration, grid_path in grids:
        cells = grid_cells(read_grid(grid_path), cell_size, samples)
        rows.append(np.concatenate(list(cells), axis=1))
        iterations.append(iteration)
    strip = np.concatenate(rows, axis=0)
    fig = plt.figure(figsize=(strip.shape[1] / 80 + 1.2, strip.shape[0] / 80 + 0.8))
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(strip)
    ax.set_yticks([cell_size * (k + 0.5) for k in range(len(rows))])
    ax.set_yticklabels(['iter %d' % n for n in iterations])
    ax.set_xticks([])
    ax.set_title('The same noise through the generator over training')
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return iterations


# ============================== looking inside the generator ==============================

NUMBER_HEIGHT = 11  # the cell numbers of `sample.py --numbered`, drawn in each cell's corner


def number_cells(grid, count, cell_size=64):
    """A copy of a uint8 grid with the number of each of its first `count` cells (0, 1, ...
    row by row; the empty cells of a last row have none) in its top left corner, white on
    black, so that cells can be named (sample.py --arithmetic)."""
    from PIL import Image, ImageDraw  # Pillow, which matplotlib brings
    image = Image.fromarray(grid)
    draw = ImageDraw.Draw(image)
    columns = grid.shape[1] // cell_size
    for index in range(min(count, columns * (grid.shape[0] // cell_size))):
        row, column = divmod(index, columns)
        x, y = column * cell_size, row * cell_size
        text = str(index)
        draw.rectangle([x, y, x + 6 * len(text) + 2, y + NUMBER_HEIGHT], fill=(0, 0, 0))
        draw.text((x + 1, y), text, fill=(255, 255, 255))
    return np.asarray(image)


WALK_FRAME_MS = 120
WALK_SCALE = 2


def save_walk_animation(images, path):
    """A GIF of a walk's images (N, C, H, W) in [-1, 1], one a frame, twice their size, the
    walk played forth and back so that the loop has no jump."""
    frames = list(to_uint8_images(images))
    save_animation(frames + frames[-2:0:-1], path, WALK_FRAME_MS)


def save_animation(frames, path, frame_ms, scale=WALK_SCALE):
    """A looping GIF of uint8 images (H, W, C), one a frame, `scale` times their size,
    written whole or not at all."""
    from PIL import Image
    pictures = [Image.fromarray(frame).resize((frame.shape[1] * scale, frame.shape[0] * scale),
                                              Image.NEAREST) for frame in frames]
    with files.written_whole(path, suffix='.partial.gif') as temporary:
        pictures[0].save(temporary, save_all=True, append_images=pictures[1:], loop=0,
                         duration=frame_ms)


def save_npy(array, path):
    """An array as .npy, written whole or not at all."""
    with files.written_whole(path) as temporary, open(temporary, 'wb') as f:
        np.save(f, array)


def save_arithmetic_figure(drawn, groups, path):
    """The DCGAN paper's Fig. 7 layout: a row per group (its exemplars, then the image of their
    average Z, the group's sign before it), then G(Y) among its neighbours, and the same sum
    on the pixels. `drawn` as latent.draw_arithmetic gives it."""
    rows = len(groups)
    fig = plt.figure(figsize=(9, 1.25 * rows + 0.6))
    grid = fig.add_gridspec(rows, 8, width_ratios=[0.3, 1, 1, 1, 1, 0.3, 3, 1.2])

    def show(ax, image, title=None):
        ax.imshow(to_uint8_images(image[None])[0])
        ax.set_xticks([])
        ax.set_yticks([])
        if title:
            ax.set_title(title, fontsize=8)

    for row, ((sign, cells), exemplars, average) in enumerate(
            zip(groups, drawn['exemplars'], drawn['averages'])):
        sign_ax = fig.add_subplot(grid[row, 0])
        sign_ax.axis('off')
        sign_ax.text(0.5, 0.5, '+' if sign > 0 else '-', fontsize=20, ha='center', va='center')
        for column in range(3):
            ax = fig.add_subplot(grid[row, 1 + column])
            if column < len(exemplars):
                show(ax, exemplars[column], 'cell %d' % cells[column])
            else:
                ax.axis('off')
        show(fig.add_subplot(grid[row, 4]), average, 'G(mean z)')
    result = drawn['result']
    centre = [result[index] for index in (1, 2, 3, 4, 0, 5, 6, 7, 8)]
    block = tile_images(to_uint8_images(np.stack(centre)), 3)
    ax = fig.add_subplot(grid[:, 6])
    ax.imshow(block)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title('G(Y), centre, and G(Y + u)', fontsize=9)
    show(fig.add_subplot(grid[rows // 2, 7]), drawn['pixels'][0], 'the same in pixels')
    fig.suptitle('Y = ' + ' '.join(('+ ' if sign > 0 else '- ') + 'mean(%s)'
                                   % ','.join(map(str, cells)) for sign, cells in groups)
                 .lstrip('+ '), fontsize=10)
    save_figure(fig, path)
    plt.close(fig)
