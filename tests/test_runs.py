"""Real training runs: checkpoints, resume, Ctrl-C, the metrics log, the pictures.

Every run here trains the full networks on 52 small images in batches of 8 (7 iterations an
epoch), so that a run of two epochs takes seconds.
"""
import json
import os
import shlex
import signal
import subprocess
import sys

import numpy as np
import pytest

import visualize
from dcgan import checkpoint
from dcgan.framework import mx
from helpers import (REPO, SMALL_RUN_FLAGS, TWO_EPOCHS, assert_same_checkpoint_params,
                     digit_like_images, headless_env, in_one_suite, metric_rows,
                     run_program, train_small, write_idx)

def assert_same_params(run_a, run_b, iteration):
    assert_same_checkpoint_params(checkpoint.checkpoint_dir(run_a, iteration),
                                  checkpoint.checkpoint_dir(run_b, iteration))


# ============================== what a run leaves ==============================

@in_one_suite('newest')  # a run's files: the same on every Python
def test_a_run_writes_checkpoints_logs_and_pictures(data_dir, tmp_path):
    out = str(tmp_path / 'run')
    train_small(data_dir, '--max-iters', '4', '--vis-every', '2', '--checkpoint-every', '1',
          '--keep-checkpoints', '2', '--output-dir', out)
    assert sorted(os.listdir(out)) == ['checkpoints', 'curves.png',
                                       'epoch000_iter0002.png', 'epoch000_iter0004.png',
                                       'fixed', 'metrics.csv', 'progress.gif', 'progress.png']
    assert sorted(os.listdir(os.path.join(out, 'fixed'))) == ['iter0000002.png',
                                                              'iter0000004.png']
    # Only the newest two checkpoints are kept.
    assert [os.path.basename(p) for p in checkpoint.list_checkpoints(out)] == [
        'iter-0000003', 'iter-0000004']

    newest = checkpoint.find_checkpoint(out)
    assert sorted(os.listdir(newest)) == [
        'discriminator.optimizer.json', 'discriminator.params', 'discriminator.states',
        'fixed_noise.npy', 'generator.optimizer.json', 'generator.params', 'generator.states',
        'state.json']
    state = checkpoint.load_state(newest)
    assert (state['global_iteration'], state['epoch'], state['iterations_per_epoch']) == (4, 0, 7)
    assert (state['seed'], state['batch_size'], state['noise_dim']) == (11, 8, 100)
    assert (state['lr'], state['beta1'], state['init_sigma']) == (0.0002, 0.5, 0.02)
    assert state['data_seed'] == 1 and state['num_images'] == 52
    assert np.load(os.path.join(newest, 'fixed_noise.npy')).shape == (8, 100, 1, 1)

    params = mx.nd.load(os.path.join(newest, 'generator.params'))
    assert 'arg:g1_weight' in params and 'aux:gbn1_moving_mean' in params
    assert np.abs(params['aux:gbn1_moving_mean'].asnumpy()).max() > 0  # trained, not initial
    with open(os.path.join(newest, 'discriminator.optimizer.json')) as f:
        saved = json.load(f)
    assert saved['class'] == 'Adam'
    assert saved['settings']['lr'] == 0.0002 and saved['settings']['beta1'] == 0.5
    assert saved['settings']['rescale_grad'] == 1 / 8
    assert saved['num_update'] == 4
    # Adam's step count of every weight is kept (it sets the bias correction).
    assert {count for _, count in saved['update_counts']['0']} == {4}
    # One state per trainable array of D, each Adam's mean and variance.
    assert [kind_count for _, *kind_count in saved['layout']] == [['tuple', 2]] * 11
    assert sorted(state['files']) == sorted(set(os.listdir(newest)) - {'state.json'})
    states = mx.nd.load(os.path.join(newest, 'discriminator.states'))
    assert len(states) == 22 and np.abs(states['0.1'].asnumpy()).max() > 0

    rows = metric_rows(out)
    assert [int(row['global_iteration']) for row in rows] == [1, 2, 3, 4]
    for row in rows:
        assert 0 <= float(row['d_acc_real']) <= 1 and np.isfinite(float(row['g_loss']))
    for name in ('curves.png', 'progress.png', 'epoch000_iter0004.png'):
        with open(os.path.join(out, name), 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'


@in_one_suite('newest')  # a run's files: the same on every Python
def test_fixed_noise_grids_are_saved_pixel_for_pixel(data_dir, tmp_path):
    out = str(tmp_path / 'run')
    train_small(data_dir, '--max-iters', '2', '--vis-every', '1', '--output-dir', out)
    grid = visualize.read_grid(os.path.join(out, 'fixed', 'iter0000002.png'))
    assert grid.shape == (3 * 64, 3 * 64, 3)  # 8 images: a 3 x 3 grid, one cell empty
    assert (grid[128:, 128:] == 0).all()
    assert grid[:64, :64].std() > 0


# ============================== resume ==============================

@in_one_suite('other')  # a run's files: the same on every Python
def test_resume_continues_exactly(data_dir, straight_run, tmp_path):
    """Stopped after 5 iterations and resumed across the epoch end: the same parameters and
    the same logged values as two epochs without a stop; drawing figures every iteration
    (the straight run drew none) changes nothing either."""
    out = str(tmp_path / 'run')
    train_small(data_dir, '--epochs', '2', '--max-iters', '5', '--vis-every', '1',
          '--output-dir', out)
    result = run_program('--resume', out, '--epochs', '2', '--vis-every', '1',
                         '--data-dir', data_dir, '--seed', '11', '--no-show')
    assert result.returncode == 0, result.stderr
    assert 'Resuming %s at iteration 5' % checkpoint.checkpoint_dir(out, 5) in result.stdout
    assert_same_params(straight_run, out, TWO_EPOCHS)
    assert metric_rows(out) == metric_rows(straight_run)
    np.testing.assert_array_equal(
        np.load(os.path.join(checkpoint.checkpoint_dir(out, TWO_EPOCHS), 'fixed_noise.npy')),
        np.load(os.path.join(checkpoint.checkpoint_dir(straight_run, TWO_EPOCHS),
                             'fixed_noise.npy')))


# Ctrl-C's handling on every Python is test_interrupts.py's; this is what it leaves behind, a
# run's files, the same on every Python.
@in_one_suite('other')
def test_ctrl_c_saves_a_checkpoint_and_the_run_resumes_from_it(data_dir, straight_run,
                                                               tmp_path):
    out = str(tmp_path / 'run')
    env = headless_env()
    process = subprocess.Popen(
        [sys.executable, os.path.join(REPO, 'dcgan_mnist.py'), '--data-dir', data_dir,
         *SMALL_RUN_FLAGS, '--epochs', '2', '--vis-every', '1', '--output-dir', out],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    for line in process.stdout:  # wait until training is under way
        if line.startswith('epoch 0  iter 2/7'):
            break
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stderr
    assert 'Traceback' not in stderr
    stopped = [line for line in stdout.splitlines() if line.startswith('Stopped at iteration')]
    assert len(stopped) == 1
    iteration = int(stopped[0].split()[3].rstrip(';'))
    assert 2 <= iteration < TWO_EPOCHS
    assert checkpoint.find_checkpoint(out) == checkpoint.checkpoint_dir(out, iteration)
    assert checkpoint.load_state(checkpoint.find_checkpoint(out))['reason'] == 'interrupted'

    # The printed command, run as printed, reaches the run's goal (two epochs, not the end of
    # the one under way) and keeps its output options (a figure every iteration).
    printed = stopped[0].split('Continue with: ')[1]
    assert shlex.split(printed) == ['python', 'dcgan_mnist.py', '--resume', out, '--data-dir',
                                    data_dir, *SMALL_RUN_FLAGS, '--epochs', '2', '--vis-every', '1']
    result = subprocess.run([sys.executable] + shlex.split(printed)[1:], cwd=REPO,
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert 'Done: %d iterations in all.' % TWO_EPOCHS in result.stdout
    assert os.path.exists(os.path.join(out, 'epoch001_iter0007.png'))  # the last of epoch 2
    assert_same_params(straight_run, out, TWO_EPOCHS)
    assert metric_rows(out) == metric_rows(straight_run)  # no iteration logged twice


@in_one_suite('other')  # a run's files: the same on every Python
def test_resume_of_a_finished_run_with_more_epochs(data_dir, tmp_path):
    out = str(tmp_path / 'run')
    train_small(data_dir, '--max-iters', '7', '--vis-every', '100', '--output-dir', out)
    assert checkpoint.load_state(checkpoint.find_checkpoint(out))['reason'] == 'epoch end'
    result = run_program('--resume', out, '--max-iters', '9', '--data-dir', data_dir,
                         '--epochs', '2')
    assert result.returncode == 0, result.stderr
    assert 'Done: 9 iterations in all.' in result.stdout
    assert os.path.basename(checkpoint.find_checkpoint(out)) == 'iter-0000009'


@pytest.mark.parametrize('flags, message', [
    (['--lr', '0.1'], '--lr 0.1 differs from the resumed run\'s 0.0002; a resumed run keeps '
                      'its settings'),
    (['--batch-size', '16'], '--batch-size 16 differs from the resumed run\'s 8'),
    (['--seed', '12'], '--seed 12 differs from the resumed run\'s 11'),
    (['--output-dir', 'elsewhere'], '--output-dir cannot be combined with --resume'),
])
@in_one_suite('newest')  # a run's files: the same on every Python
def test_resume_refuses_to_change_the_run(data_dir, straight_run, flags, message):
    result = run_program('--resume', straight_run, '--data-dir', data_dir, *flags)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_resume_of_nothing(tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    for target, message in ((empty, 'holds no complete checkpoint'),
                            (tmp_path / 'missing', 'does not exist')):
        result = run_program('--resume', str(target))
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0]


def test_resume_with_different_data(straight_run, tmp_path):
    folder = tmp_path / 'other'
    folder.mkdir()
    for prefix, count in (('train', 30), ('t10k', 10)):
        write_idx(str(folder / ('%s-images-idx3-ubyte.gz' % prefix)), digit_like_images(count, 0))
        write_idx(str(folder / ('%s-labels-idx1-ubyte.gz' % prefix)), np.zeros(count))
    result = run_program('--resume', straight_run, '--data-dir', str(folder))
    assert result.returncode == 1
    assert result.stderr.strip() == 'error: the run was trained on 52 images, %s holds 40' % folder


# ============================== checkpoint files ==============================

def test_partial_and_incomplete_checkpoints_are_ignored(straight_run, tmp_path):
    run = tmp_path / 'run'
    (run / 'checkpoints').mkdir(parents=True)
    complete = run / 'checkpoints' / 'iter-0000007'
    os.symlink(checkpoint.checkpoint_dir(straight_run, TWO_EPOCHS), complete)
    (run / 'checkpoints' / 'iter-0000009.partial').mkdir()
    (run / 'checkpoints' / 'iter-0000008').mkdir()  # no state.json: a crash before the rename
    assert checkpoint.list_checkpoints(str(run)) == [str(complete)]
    assert checkpoint.find_checkpoint(str(run)) == str(complete)
    assert checkpoint.find_checkpoint(str(complete)) == str(complete)


def test_a_file_is_not_a_run(tmp_path):
    (tmp_path / 'generator.params').write_bytes(b'')
    with pytest.raises(checkpoint.CheckpointError, match='is not a run or checkpoint folder'):
        checkpoint.find_checkpoint(str(tmp_path / 'generator.params'))


def test_unreadable_parameter_file(tmp_path):
    path = tmp_path / 'generator.params'
    path.write_bytes(b'not an MXNet file')
    with pytest.raises(checkpoint.CheckpointError, match='not an MXNet parameter file'):
        checkpoint.load_params(str(path))


# ============================== the metrics log and progress line ==============================

def test_resume_from_an_incomplete_state_file(straight_run, tmp_path):
    copy = tmp_path / 'run' / 'checkpoints' / 'iter-0000014'
    copy.mkdir(parents=True)
    source = checkpoint.checkpoint_dir(straight_run, TWO_EPOCHS)
    for name in os.listdir(source):
        if name != 'state.json':
            os.symlink(os.path.join(source, name), copy / name)
    with open(os.path.join(source, 'state.json')) as f:
        state = json.load(f)
    del state['devices']
    state['state_sha256'] = checkpoint.state_digest(state)
    (copy / 'state.json').write_text(json.dumps(state))
    result = run_program('--resume', str(tmp_path / 'run'))
    assert result.returncode == 1
    assert result.stderr.strip() == ('error: %s is incomplete: it lacks devices; no older '
                                     'checkpoint of %s is intact'
                                     % (copy / 'state.json', tmp_path / 'run'))
