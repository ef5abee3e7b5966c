"""How digits are drawn from a generator, whatever runs it (MXNet's Sampler, or onnxruntime
for an exported model): the one place that says which noise a seed gives and how it is cut
into batches. numpy only, so the portable sampler shares it without MXNet.

The noise is numpy's legacy RandomState(seed), whose stream numpy keeps unchanged across
releases (1.x and 2.x alike), so a seed draws the same digits on every supported Python.
Every batch is full, `batch_size` noise vectors: with BatchNorm normalising each batch by its
own statistics, a digit depends on the batch it is drawn in, so both samplers must cut the
same batches (the last one is filled up with more noise and its extra images dropped).
"""
import math

import numpy as np


def noise_for(count, seed, batch_size, noise_dim):
    """(batches * batch_size, noise_dim, 1, 1) float32 noise: enough full batches for `count`
    digits, drawn from RandomState(seed)."""
    batches = math.ceil(count / batch_size)
    noise = np.random.RandomState(seed).standard_normal(
        (batches * batch_size, noise_dim, 1, 1))
    return noise.astype(np.float32)


def draw(generate_batch, count, seed, batch_size, noise_dim, progress=None):
    """`count` images and the noise they came from: `generate_batch(noise)` maps one batch of
    noise (batch_size, noise_dim, 1, 1) to its images (batch_size, C, H, W). `progress`, when
    given, is told the number of batches done after each (progress.Progress.update)."""
    noise = noise_for(count, seed, batch_size, noise_dim)
    images = []
    for start in range(0, len(noise), batch_size):
        images.append(generate_batch(noise[start:start + batch_size]))
        if progress:
            progress(len(images))
    return np.concatenate(images)[:count], noise[:count]


def batches_for(count, batch_size):
    """How many batches `draw` runs for `count` digits."""
    return math.ceil(count / batch_size)
