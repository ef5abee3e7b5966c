"""sample.py from a run: the grid and the array it writes, the seed that decides them, the
averaged generator, and what it refuses (an output it would overwrite, a checkpoint of another
shape, a missing one, an average the run never kept). Its other routes have modules of their
own: test_latent.py (walks, arithmetic), test_projection.py (--project, --digit),
test_onnx.py and test_web_page.py (the export and the page)."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np

import visualize
from dcgan import checkpoint
from dcgan.framework import mx
from helpers import ON_CPU, REPO, TWO_EPOCHS, in_one_suite, train_small


def run_sampler(*args):
    return subprocess.run([sys.executable, os.path.join(REPO, 'sample.py'), *args, *ON_CPU],
                          capture_output=True, text=True, timeout=300)


@in_one_suite('newest')  # a run's files: the same on every Python
def test_sample_writes_a_grid_and_an_array(straight_run, tmp_path):
    png, npy = str(tmp_path / 'digits.png'), str(tmp_path / 'digits.npy')
    result = run_sampler(straight_run, '--num', '30', '--seed', '3', '--out', png, '--npy', npy)
    assert result.returncode == 0, result.stderr
    images = np.load(npy)
    assert images.shape == (30, 3, 64, 64) and images.dtype == np.float32
    assert images.min() >= -1 and images.max() <= 1 and images.std() > 0
    grid = visualize.read_grid(png)
    assert grid.shape == (3 * 64, 10 * 64, 3)
    np.testing.assert_array_equal(grid, visualize.batch_to_grid(images, 10))

    again = str(tmp_path / 'again.npy')
    assert run_sampler(straight_run, '--num', '30', '--seed', '3', '--out',
                       str(tmp_path / 'again.png'), '--npy', again).returncode == 0
    np.testing.assert_array_equal(np.load(again), images)  # the seed decides


def test_sample_refuses_to_overwrite(straight_run, tmp_path):
    png = tmp_path / 'digits.png'
    png.write_bytes(b'mine')
    result = run_sampler(straight_run, '--out', str(png))
    assert result.returncode == 1
    assert result.stderr.strip() == ('error: %s exists; choose another name or pass --overwrite'
                                     % png)
    assert png.read_bytes() == b'mine'


def test_sample_from_a_checkpoint_of_the_wrong_shape(straight_run, tmp_path):
    """A generator.params of the right size whose g1 weights have another shape, re-signed as
    the program signs: the shape check refuses it."""
    copy = tmp_path / 'iter-0000014'
    shutil.copytree(checkpoint.checkpoint_dir(straight_run, TWO_EPOCHS), copy)
    params = mx.nd.load(str(copy / 'generator.params'))
    params['arg:g1_weight'] = params['arg:g1_weight'].reshape((50, 2048, 4, 4))
    mx.nd.save(str(copy / 'generator.params'), params)
    with open(copy / 'state.json') as f:
        state = json.load(f)
    state['files']['generator.params'] = checkpoint.sha256_of(str(copy / 'generator.params'))
    state['state_sha256'] = checkpoint.state_digest(state)
    (copy / 'state.json').write_text(json.dumps(state))
    result = run_sampler(str(copy), '--out', str(tmp_path / 'x.png'))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'error: %s: g1_weight has shape (50, 2048, 4, 4), this network needs '
        '(100, 1024, 4, 4)' % (copy / 'generator.params'))


def test_sample_from_a_missing_checkpoint(tmp_path):
    result = run_sampler(str(tmp_path / 'nothing'))
    assert result.returncode == 1
    assert result.stderr.strip() == 'error: %s does not exist' % (tmp_path / 'nothing')


@in_one_suite('newest')  # a run's files: the same on every Python
def test_sample_from_the_averaged_generator(data_dir, tmp_path):
    run = str(tmp_path / 'run')
    train_small(data_dir, '--max-iters', '2', '--average-generator', '--output-dir', run)
    plain, averaged = str(tmp_path / 'plain.npy'), str(tmp_path / 'averaged.npy')
    for flags, npy in (([], plain), (['--averaged'], averaged)):
        result = run_sampler(run, '--num', '8', '--out', npy + '.png', '--npy', npy, *flags)
        assert result.returncode == 0, result.stderr
    assert not np.array_equal(np.load(plain), np.load(averaged))


def test_sample_averaged_from_a_run_without_it(straight_run, tmp_path):
    result = run_sampler(straight_run, '--averaged', '--out', str(tmp_path / 'x.png'))
    assert result.returncode == 1
    assert result.stderr.strip().endswith('has no averaged generator (train with '
                                          '--average-generator)')
