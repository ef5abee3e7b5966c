"""Looking inside a trained generator, as the DCGAN paper does (Radford, Metz and Chintala,
2015, section 6): walks through the noise space Z whose images change smoothly (Fig. 4), and
vector arithmetic on Z (Fig. 7). numpy only: MXNet's sampler and onnxruntime's draw the same
pictures from the same noise (dcgan/drawing.py cuts every batch).

Walks interpolate spherically (slerp), not along straight lines: Z is standard normal in 100
dimensions, so nearly all of its mass lies near the sphere of radius 10, and the midpoint of
a straight line between two points has a norm about 1/sqrt(2) of theirs, a point the generator
hardly ever saw in training; along the great circle every point keeps the norm of its ends
(White, "Sampling Generative Networks", 2016). Both ends of every segment are the drawn
points themselves.

Arithmetic, as the paper's Fig. 7: each group of cells (three exemplars of a concept, picked
from a grid `sample.py --numbered` drew with the same --seed) is averaged in Z (single samples
were unstable, the paper says); Y = A - B + C (any number of groups, any signs); the figure
shows the exemplars and their average's image, G(Y) among eight neighbours G(Y + u) with u
uniform in [-0.25, 0.25], and the same arithmetic on the pixels for contrast.
"""
import re

import numpy as np

from dcgan import drawing
from dcgan.errors import UserError

WALK_STEPS = 10            # images per segment of a walk, both ends included
NEIGHBOURS = 8
NEIGHBOUR_SPREAD = 0.25    # u uniform in [-0.25, 0.25], as the paper
NEIGHBOUR_SEED_OFFSET = 1  # the neighbours' noise: RandomState(seed + this)
GROUP = re.compile(r'^\s*\d+(\s*,\s*\d+)*\s*$')


class ExpressionError(UserError, ValueError):
    """An arithmetic expression that is not groups of cell numbers joined by + and -."""


# ============================== walks ==============================

def slerp(a, b, t):
    """The point at `t` (0 to 1) along the great circle from `a` to `b` (straight for
    parallel ones)."""
    cosine = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    angle = np.arccos(np.clip(cosine, -1.0, 1.0))
    if angle < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * angle) * a + np.sin(t * angle) * b) / np.sin(angle)


def walk_noise(points, seed, noise_dim, steps=WALK_STEPS, anchors=None):
    """(points - 1, steps, Z) float32: `points` random points of Z (RandomState(seed)), or
    the rows of `anchors` (points, Z) when given, and the spherical path through them, a row
    a segment, both ends in each."""
    if anchors is None:
        anchors = np.random.RandomState(seed).standard_normal((points, noise_dim))
    rows = [[slerp(anchors[k], anchors[k + 1], t) for t in np.linspace(0, 1, steps)]
            for k in range(points - 1)]
    return np.asarray(rows, dtype=np.float32)


# ============================== drawing given noise ==============================

def draw_noise(generate_batch, noise, batch_size, filler):
    """Images of `noise` (N, Z), drawn in batches of `batch_size` as everything here is; a
    short last batch is filled with rows of `filler` (typical noise: with BatchNorm on each
    batch's own statistics, the fill shapes the batch as a sample's would)."""
    flat = noise.reshape(len(noise), -1, 1, 1).astype(np.float32)
    images = []
    for start in range(0, len(flat), batch_size):
        batch = flat[start:start + batch_size]
        short = batch_size - len(batch)
        if short:
            batch = np.concatenate([batch, filler[:short].reshape(short, -1, 1, 1)])
        images.append(generate_batch(batch)[:batch_size - short])
    return np.concatenate(images)


def filler_noise(seed, batch_size, noise_dim):
    """The fill of short batches: a batch of the grid's own noise for `seed`."""
    return drawing.noise_for(batch_size, seed, batch_size, noise_dim)


def draw_walk(generate_batch, points, seed, batch_size, noise_dim, steps=WALK_STEPS,
              anchors=None):
    """(images (points - 1, steps, C, H, W), their noise); through `anchors` when given."""
    noise = walk_noise(points, seed, noise_dim, steps, anchors)
    images = draw_noise(generate_batch, noise.reshape(-1, noise_dim), batch_size,
                        filler_noise(seed, batch_size, noise_dim))
    return images.reshape(noise.shape[:2] + images.shape[1:]), noise


# ============================== arithmetic ==============================

def parse_expression(text, cells):
    """[(+1 or -1, [cell numbers])] of an expression such as "0,1,2 - 3,4,5 + 6,7,8", each
    number a cell of a grid of `cells`; ExpressionError saying what is wrong."""
    parts = re.split(r'([+-])', text)
    if len(parts) < 3:
        raise ExpressionError('%r: give at least two groups of cell numbers joined by + or -, '
                              'e.g. "0,1,2 - 3,4,5 + 6,7,8"' % text)
    groups, sign = [], 1
    for at, part in enumerate(parts):
        if at % 2:
            sign = 1 if part == '+' else -1
            continue
        if not GROUP.match(part):
            raise ExpressionError('%r: %r is not a group of cell numbers such as 0,1,2'
                                  % (text, part.strip()))
        numbers = [int(number) for number in part.split(',')]
        outside = [number for number in numbers if number >= cells]
        if outside:
            raise ExpressionError('%r: cell %d is outside the grid of %d (0 to %d)'
                                  % (text, outside[0], cells, cells - 1))
        groups.append((sign, numbers))
    return groups


def arithmetic_noise(groups, grid_noise, seed):
    """(each group's average Z (G, Z), Y = the signed sum of those, Y's NEIGHBOURS
    neighbours (8, Z)) for groups of rows of `grid_noise` (N, Z)."""
    averages = np.stack([grid_noise[cells].mean(axis=0) for _, cells in groups])
    y = sum(sign * average for (sign, _), average in zip(groups, averages))
    spread = np.random.RandomState(seed + NEIGHBOUR_SEED_OFFSET).uniform(
        -NEIGHBOUR_SPREAD, NEIGHBOUR_SPREAD, (NEIGHBOURS, len(y)))
    return averages.astype(np.float32), y.astype(np.float32), (y + spread).astype(np.float32)


def draw_arithmetic(generate_batch, groups, num, seed, batch_size, noise_dim, noise=None):
    """What the figure shows, as a dict of image arrays in [-1, 1]: 'exemplars' (per group,
    its cells' images from the grid of `num` drawn with `seed`, or from the rows of `noise`
    (num, Z) when given), 'averages' (G of each group's average Z), 'result' (G(Y) first,
    then its neighbours), 'pixels' (the same arithmetic on the exemplars' pixels)."""
    if noise is None:
        grid_images, grid_noise = drawing.draw(generate_batch, num, seed, batch_size,
                                               noise_dim)
    else:
        grid_noise = noise
        grid_images = draw_noise(generate_batch, noise, batch_size,
                                 filler_noise(seed, batch_size, noise_dim))
    grid_noise = grid_noise.reshape(num, noise_dim)
    averages, y, neighbours = arithmetic_noise(groups, grid_noise, seed)
    drawn = draw_noise(generate_batch, np.concatenate([averages, y[None], neighbours]),
                       batch_size, filler_noise(seed, batch_size, noise_dim))
    pixels = sum(sign * grid_images[cells].mean(axis=0) for sign, cells in groups)
    return {'exemplars': [grid_images[cells] for _, cells in groups],
            'averages': drawn[:len(groups)], 'result': drawn[len(groups):],
            'pixels': np.clip(pixels, -1, 1)[None]}
