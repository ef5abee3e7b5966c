"""Test helpers: small IDX files, digit-like images, and running the program headless."""
import csv
import gzip
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_MNIST = os.path.join(os.path.dirname(REPO), 'shared', 'data', 'mnist')


def idx_bytes(array):
    """The IDX encoding of a uint8 array: magic (0, 0, 0x08, ndim), big-endian dims, data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack('>%dI' % array.ndim, *array.shape)
    return header + array.tobytes()


def write_idx(path, array):
    """Write `array` as an IDX file, gzip-compressed when the name ends in .gz."""
    data = idx_bytes(array)
    if path.endswith('.gz'):
        data = gzip.compress(data)
    with open(path, 'wb') as f:
        f.write(data)
    return path


def digit_like_images(count, seed):
    """`count` 28x28 uint8 images, each a bright bar at a different place on black."""
    rng = np.random.RandomState(seed)
    images = np.zeros((count, 28, 28), dtype=np.uint8)
    for index in range(count):
        row, column = rng.randint(2, 20, size=2)
        images[index, row:row + 6, column:column + 3] = rng.randint(128, 256)
    return images


def write_small_mnist(folder):
    """The four MNIST files, gzip, holding 40 training and 12 test images, in `folder`."""
    folder.mkdir()
    sets = {'train': digit_like_images(40, seed=0), 't10k': digit_like_images(12, seed=1)}
    for prefix, images in sets.items():
        write_idx(str(folder / ('%s-images-idx3-ubyte.gz' % prefix)), images)
        write_idx(str(folder / ('%s-labels-idx1-ubyte.gz' % prefix)),
                  np.arange(len(images)) % 10)
    return folder


def headless_env(**extra):
    """This process's environment with no display, no matplotlib backend and no MXNet
    distributed role (DMLC_*), plus `extra`: a program run with it is headless and alone."""
    environment = {key: value for key, value in os.environ.items()
                   if key not in ('DISPLAY', 'WAYLAND_DISPLAY', 'MPLBACKEND')
                   and not key.startswith('DMLC_')}
    environment.update(extra)
    return environment


# Tests that compare numbers run on the CPU, named: on a GPU box, --context auto would pick
# gpu(0), whose numbers are cuDNN's (tests/test_gpu.py is where the GPU is checked).
ON_CPU = ['--context', 'cpu']


def run_program(*args, env=None, timeout=600, context=ON_CPU, python=sys.executable):
    """Run `python dcgan_mnist.py ARGS` headless (with this Python unless `python` names
    another), on the CPU unless ARGS name the devices (or `context` is None: --context auto);
    returns the CompletedProcess."""
    named = any(arg.split('=')[0] in ('--context', '--gpus') for arg in args)
    args = list(args) + ([] if named or context is None else context)
    return subprocess.run([python, os.path.join(REPO, 'dcgan_mnist.py')] + args,
                          capture_output=True, text=True, env=headless_env(**(env or {})),
                          timeout=timeout)


def mxnet_sees_a_gpu():
    from dcgan import devices
    from dcgan.framework import mx
    return devices.gpu_count(mx) > 0


def cpu_build():
    """Whether MXNet says it was built without CUDA (its own list of features)."""
    from dcgan.framework import mx
    return not mx.runtime.Features().is_enabled('CUDA')


# For tests of what happens where there is no GPU, or with MXNet's CPU build: on a GPU box,
# skipped, saying why in one line.
where_no_gpu = pytest.mark.skipif(mxnet_sees_a_gpu(), reason='checks a machine without a GPU, '
                                  'and MXNet sees one here')
with_the_cpu_build = pytest.mark.skipif(not cpu_build(), reason='checks MXNet\'s CPU build, and '
                                        'a GPU build is installed here')


# Slow tests whose result hangs neither on the Python nor on the MXNet build: their subject is
# MXNet's CPU arithmetic or files, and CI checks that checkpoints are byte-identical across
# Pythons and (tests/test_stand_in_driver.py) across the CPU and GPU builds. CI runs each in one
# of its suites, named by DCGAN_SUITE: `machine` (the machine's Python, the CPU build) or
# `gpu-box` (the GPU build), shared out so that neither is much the longer; the other Pythons'
# suites (`other`) run none of them. Run by hand (DCGAN_SUITE unset), they all run.
SUITES = ('machine', 'gpu-box')


def in_one_suite(suite='machine'):
    assert suite in SUITES, suite
    running = os.environ.get('DCGAN_SUITE')
    return pytest.mark.skipif(running is not None and running != suite,
                              reason='run once in CI, in its %s suite' % suite)


# The distributed test: each worker's batches, also fed to the single-process check.
DIST_BATCH = 4
DIST_ITERATIONS = 3


def worker_batches(rank, iterations=DIST_ITERATIONS):
    """(real images, noise) for each iteration of worker `rank`."""
    rng = np.random.RandomState(100 + rank)
    return [(rng.uniform(-1, 1, (DIST_BATCH, 3, 64, 64)).astype(np.float32),
             rng.standard_normal((DIST_BATCH, 100, 1, 1)).astype(np.float32))
            for _ in range(iterations)]


# ============================== comparing runs ==============================

def assert_same_checkpoint_params(folder_a, folder_b):
    """Both networks' parameters in two checkpoint folders are equal, bit for bit."""
    import mxnet as mx
    for name in ('generator', 'discriminator'):
        a, b = (mx.nd.load(os.path.join(folder, name + '.params'))
                for folder in (folder_a, folder_b))
        assert sorted(a) == sorted(b)
        for key in a:
            np.testing.assert_array_equal(a[key].asnumpy(), b[key].asnumpy(), err_msg=key)


def metric_rows(run_dir):
    """A run's metrics.csv without the timing column."""
    with open(os.path.join(run_dir, 'metrics.csv'), newline='') as f:
        return [{k: v for k, v in row.items() if k != 'seconds'} for row in csv.DictReader(f)]


def run_and_export(data_dir, folder):
    """(run, model): a 2-iteration run at batch 8 in `folder`, and its generator exported to
    ONNX there, for the tests of what is drawn from both."""
    import sample
    run = os.path.join(str(folder), 'run')
    done = run_program('--data-dir', data_dir, '--batch-size', '8', '--seed', '2', '--no-show',
                       '--max-iters', '2', '--output-dir', run)
    assert done.returncode == 0, done.stderr
    model = os.path.join(str(folder), 'generator.onnx')
    sample.main([run, '--export', model, *ON_CPU])
    return run, model
