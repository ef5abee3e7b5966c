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


def write_walk(generator, points, seed, steps, out):
    """The walk through `points` random points of `seed`, `steps` images a segment (None:
    latent.WALK_STEPS); returns its images."""
    steps = steps or latent.WALK_STEPS
    images, _ = latent.draw_walk(generator.generate, points, seed, generator.batch_size,
                                 generator.noise_dim, steps)
    flat = images.reshape((-1,) + images.shape[2:])
    png, gif = walk_outputs(out)
    visualize.save_grid(visualize.batch_to_grid(flat, steps), png)
    visualize.save_walk_animation(flat, gif)
    return flat


def write_arithmetic(generator, groups, num, seed, out):
    """The figure of `groups` (latent.parse_expression's) over the grid of `num` digits of
    `seed`; returns the images drawn (the averages', G(Y) and its neighbours', the pixels')."""
    drawn = latent.draw_arithmetic(generator.generate, groups, num, seed, generator.batch_size,
                                   generator.noise_dim)
    visualize.save_arithmetic_figure(drawn, groups, out)
    return np.concatenate([drawn['averages'], drawn['result'], drawn['pixels']])
