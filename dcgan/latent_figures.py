"""The pictures of sample.py's --walk and --arithmetic, written from dcgan/latent.py's images:
a walk as a PNG (a row a segment) and a GIF; the arithmetic as the DCGAN paper's Fig. 7.
`generator` is either sampler (MXNet's Sampler, onnxruntime's OnnxGenerator): anything with
generate(noise), batch_size and noise_dim."""
import os

import numpy as np

import visualize
from dcgan import latent


def walk_outputs(out):
    """The files a walk writes: the PNG named, and a GIF beside it."""
    return [out, os.path.splitext(out)[0] + '.gif']


def write_walk(generator, points, seed, steps, out, anchors=None):
    """The walk through `points` random points of `seed` (or the rows of `anchors`), `steps`
    images a segment (None: latent.WALK_STEPS); returns its images."""
    steps = steps or latent.WALK_STEPS
    images, _ = latent.draw_walk(generator.generate, points, seed, generator.batch_size,
                                 generator.noise_dim, steps, anchors)
    flat = images.reshape((-1,) + images.shape[2:])
    png, gif = walk_outputs(out)
    visualize.save_grid(visualize.batch_to_grid(flat, steps), png)
    visualize.save_walk_animation(flat, gif)
    return flat


def write_arithmetic(generator, groups, num, seed, out, noise=None):
    """The figure of `groups` (latent.parse_expression's) over the grid of `num` digits of
    `seed` (or over the rows of `noise`); returns the images drawn (the averages', G(Y) and
    its neighbours', the pixels')."""
    drawn = latent.draw_arithmetic(generator.generate, groups, num, seed, generator.batch_size,
                                   generator.noise_dim, noise)
    visualize.save_arithmetic_figure(drawn, groups, out)
    return np.concatenate([drawn['averages'], drawn['result'], drawn['pixels']])


# ============================== projection ==============================

PAIRS_PER_ROW = 5     # target | projection, five pairs a row
GIF_TARGETS = 8       # the targets the GIF of the optimisation shows
GIF_FRAME_MS = 100


def projection_outputs(out):
    """The files a projection writes: the figure named, the noise (.npy) and a GIF beside it."""
    stem = os.path.splitext(out)[0]
    return [out, stem + '.npy', stem + '.gif']


def pairs(targets, images):
    """Targets and their projections interleaved: target, projection, target, ..."""
    both = np.empty((2 * len(targets),) + targets.shape[1:], np.float32)
    both[0::2], both[1::2] = targets, images
    return both


def write_projection(targets, images, noise, frames, out):
    """The figure (each target beside its projection), the noise (N, Z) as .npy, and a GIF of
    the optimisation: the first GIF_TARGETS targets above their projections, step by step."""
    png, npy, gif = projection_outputs(out)
    visualize.save_grid(visualize.batch_to_grid(pairs(targets, images), 2 * PAIRS_PER_ROW), png)
    shown = min(GIF_TARGETS, len(targets))
    grids = [visualize.batch_to_grid(np.concatenate([targets[:shown], frame[:shown]]), shown)
             for frame in frames]
    visualize.save_animation(grids, gif, GIF_FRAME_MS)
    visualize.save_npy(noise.astype(np.float32), npy)
