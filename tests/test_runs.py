"""Real training runs: checkpoints, resume, Ctrl-C, the metrics log, the pictures, sampling.

Every run here trains the full networks on 52 small images in batches of 8 (7 iterations an
epoch), so that a run of two epochs takes seconds.
"""
import io
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

import visualize
from dcgan import checkpoint, csv_log, curves, progress
from dcgan.framework import mx
from helpers import (ON_CPU, REPO, assert_same_checkpoint_params, digit_like_images, headless_env,
                     in_one_suite, metric_rows, on_every_python, run_program, write_idx)

TWO_EPOCHS = 14
RUN_FLAGS = ON_CPU + ['--batch-size', '8', '--seed', '11', '--no-show']


def train(data_dir, *flags):
    result = run_program('--data-dir', data_dir, *RUN_FLAGS, *flags)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope='module')
def straight_run(data_dir, tmp_path_factory):
    """Two epochs without a stop, as the reference for the resumed runs."""
    out = str(tmp_path_factory.mktemp('straight') / 'run')
    train(data_dir, '--epochs', '2', '--vis-every', '100', '--output-dir', out)
    return out


def assert_same_params(run_a, run_b, iteration):
    assert_same_checkpoint_params(checkpoint.checkpoint_dir(run_a, iteration),
                                  checkpoint.checkpoint_dir(run_b, iteration))


# ============================== what a run leaves ==============================

@in_one_suite('newest')  # a run's files: the same on every Python
def test_a_run_writes_checkpoints_logs_and_pictures(data_dir, tmp_path):
    out = str(tmp_path / 'run')
    train(data_dir, '--max-iters', '4', '--vis-every', '2', '--checkpoint-every', '1',
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
    train(data_dir, '--max-iters', '2', '--vis-every', '1', '--output-dir', out)
    grid = visualize.read_grid(os.path.join(out, 'fixed', 'iter0000002.png'))
    assert grid.shape == (3 * 64, 3 * 64, 3)  # 8 images: a 3 x 3 grid, one cell empty
    assert (grid[128:, 128:] == 0).all()
    assert grid[:64, :64].std() > 0


# ============================== resume ==============================

@in_one_suite('newest')  # a run's files: the same on every Python
def test_resume_continues_exactly(data_dir, straight_run, tmp_path):
    """Stopped after 5 iterations and resumed across the epoch end: the same parameters and
    the same logged values as two epochs without a stop; drawing figures every iteration
    (the straight run drew none) changes nothing either."""
    out = str(tmp_path / 'run')
    train(data_dir, '--epochs', '2', '--max-iters', '5', '--vis-every', '1',
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


@on_every_python  # signals
def test_ctrl_c_saves_a_checkpoint_and_the_run_resumes_from_it(data_dir, straight_run,
                                                               tmp_path):
    out = str(tmp_path / 'run')
    env = headless_env()
    process = subprocess.Popen(
        [sys.executable, os.path.join(REPO, 'dcgan_mnist.py'), '--data-dir', data_dir,
         *RUN_FLAGS, '--epochs', '2', '--vis-every', '1', '--output-dir', out],
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
                                    data_dir, *RUN_FLAGS, '--epochs', '2', '--vis-every', '1']
    result = subprocess.run([sys.executable] + shlex.split(printed)[1:], cwd=REPO,
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert 'Done: %d iterations in all.' % TWO_EPOCHS in result.stdout
    assert os.path.exists(os.path.join(out, 'epoch001_iter0007.png'))  # the last of epoch 2
    assert_same_params(straight_run, out, TWO_EPOCHS)
    assert metric_rows(out) == metric_rows(straight_run)  # no iteration logged twice


@in_one_suite('newest')  # a run's files: the same on every Python
def test_resume_of_a_finished_run_with_more_epochs(data_dir, tmp_path):
    out = str(tmp_path / 'run')
    train(data_dir, '--max-iters', '7', '--vis-every', '100', '--output-dir', out)
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

def row(n):
    return dict({field: 0.5 for field in csv_log.FIELDS}, global_iteration=n, epoch=0,
                iteration=n)


def log_of_five_rows(path):
    log = csv_log.MetricsLog(path)
    for n in range(1, 6):
        log.append(row(n))
    log.close()


def test_metrics_log_appends_and_drops_rows_after_the_resumed_checkpoint(tmp_path):
    path = str(tmp_path / 'metrics.csv')
    log_of_five_rows(path)
    log = csv_log.MetricsLog(path, resume_after=3)
    log.append(row(4))
    log.close()
    assert list(csv_log.read_metrics(path)['global_iteration']) == [1, 2, 3, 4]
    with open(path) as f:
        assert f.readline().strip() == ','.join(csv_log.FIELDS)


def test_a_new_metrics_log_over_another_run_s_starts_anew(tmp_path):
    """A folder reused with --overwrite: the new run's log holds its own rows only."""
    path = str(tmp_path / 'metrics.csv')
    log_of_five_rows(path)
    log = csv_log.MetricsLog(path)
    log.append(row(1))
    log.close()
    assert list(csv_log.read_metrics(path)['global_iteration']) == [1]


def test_moving_average():
    np.testing.assert_allclose(curves.moving_average(np.array([2.0, 4, 6, 8]), window=2),
                               [2, 3, 5, 7])
    np.testing.assert_allclose(curves.moving_average(np.arange(5.0), window=10),
                               [0, 0.5, 1, 1.5, 2])


def test_format_duration():
    assert progress.format_duration(3725.4) == '1:02:05'
    assert progress.format_duration(0) == '0:00:00'


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_line_redraws_on_a_terminal_only():
    terminal = FakeTerminal()
    line = progress.Progress(total=100, batch_size=64, stream=terminal)
    line.started_at -= 5.0  # 10 iterations in 5 s: 0.5 s each, 45 s for the other 90
    assert line.seconds_per_iteration(10) == pytest.approx(0.5, rel=0.01)
    assert line.time_left(10) == '0:00:45'
    line.update(10)
    line.clear()
    assert terminal.getvalue().startswith('\r\033[K10/100  ')
    assert 'img/s' in terminal.getvalue() and 'left' in terminal.getvalue()
    log_file = io.StringIO()
    quiet = progress.Progress(total=100, batch_size=64, stream=log_file)
    quiet.update(10)
    quiet.clear()
    assert log_file.getvalue() == ''


def test_progress_strip_shows_evenly_spread_snapshots_ending_with_the_last(tmp_path):
    grids = tmp_path / 'fixed'
    grids.mkdir()
    for n in range(1, 13):
        batch = np.full((4, 3, 64, 64), n / 12 * 2 - 1, np.float32)
        visualize.save_grid(visualize.batch_to_grid(batch), str(grids / ('iter%07d.png' % n)))
    shown = visualize.save_progress_strip(str(grids), str(tmp_path / 'p.png'), 4, 3)
    assert shown == [1, 5, 8, 12]
    assert os.path.exists(tmp_path / 'p.png')
    assert visualize.save_progress_strip(str(tmp_path / 'none'), str(tmp_path / 'q.png'),
                                         4, 3) == []


# ============================== sampling ==============================

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
    train(data_dir, '--max-iters', '2', '--average-generator', '--output-dir', run)
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
