"""Checkpoints under attack and under faults: pickles planted in them, an old format, a flipped
byte, a failed write, a really full disk, and SIGKILL at many moments of a save.

Runs train the full networks on 52 small images in batches of 8, as in test_runs.py.
"""
import ast
import csv
import glob
import json
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import dcgan_mnist
import sample
import score
from dcgan import checkpoint, run_state
from dcgan.framework import mx
from helpers import (ON_CPU, REPO, assert_same_checkpoint_params, headless_env, in_one_suite,
                     metric_rows, run_program)

pytestmark = in_one_suite('newest')  # checkpoint files: the same on every Python

RUN_FLAGS = ON_CPU + ['--batch-size', '8', '--seed', '5', '--no-show', '--vis-every', '100']
ITERATIONS = 6


def train(data_dir, out, *flags):
    return run_program('--data-dir', data_dir, *RUN_FLAGS, '--output-dir', out, *flags)


@pytest.fixture(scope='module')
def reference_run(data_dir, tmp_path_factory):
    """ITERATIONS iterations without a stop, with every checkpoint (and an averaged G)."""
    out = str(tmp_path_factory.mktemp('reference') / 'run')
    result = train(data_dir, out, '--max-iters', str(ITERATIONS), '--checkpoint-every', '1',
                   '--keep-checkpoints', str(ITERATIONS), '--average-generator')
    assert result.returncode == 0, result.stderr
    return out


def metric_iterations(run_dir):
    with open(os.path.join(run_dir, 'metrics.csv'), newline='') as f:
        return [int(row['global_iteration']) for row in csv.DictReader(f)]


def copy_run(reference_run, destination, iteration):
    """A run folder holding only checkpoint `iteration` of the reference run (hard links: the
    tests that change a file replace it, never write into it)."""
    source = checkpoint.checkpoint_dir(reference_run, iteration)
    target = checkpoint.checkpoint_dir(str(destination), iteration)
    os.makedirs(target)
    for name in os.listdir(source):
        os.link(os.path.join(source, name), os.path.join(target, name))
    shutil.copy(os.path.join(reference_run, 'metrics.csv'), str(destination))
    return target


def reseal(folder):
    """Record the current sums of a checkpoint's files in its state.json, as someone who
    crafts a checkpoint would: verification then passes and only the loaders stand guard."""
    path = os.path.join(folder, checkpoint.STATE)
    with open(path) as f:
        state = json.load(f)
    state['files'] = {name: checkpoint.sha256_of(os.path.join(folder, name))
                      for name in os.listdir(folder) if name != checkpoint.STATE}
    state['state_sha256'] = checkpoint.state_digest(state)
    os.remove(path)
    with open(path, 'w') as f:
        json.dump(state, f)


# ============================== no code runs on load ==============================

# Loaders that may unpickle (MXNet's load_optimizer_states, set_states and load_checkpoint do)
# and the owners whose loaders are known not to (onnx.load parses a protobuf: the export reads
# back the model MXNet's exporter has just written).
PICKLE_CALLS = {'load', 'loads', 'Unpickler', 'load_optimizer_states', 'set_states',
                'load_checkpoint'}

SAFE_LOADERS = {'json', 'mx.nd', 'onnx'}


def test_no_project_code_can_unpickle():
    """No pickle import, no MXNet loader that unpickles, and every np.load refuses pickles."""
    for path in [path for folder in ('', 'dcgan', 'tools')
                 for path in glob.glob(os.path.join(REPO, folder, '*.py'))]:
        with open(path) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [alias.name for alias in node.names] + [getattr(node, 'module', '')]
                assert not any(name and 'pickle' in name for name in names), path
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner, call = ast.unparse(node.func.value), ast.unparse(node)
                if owner in ('np', 'numpy') and node.func.attr == 'load':
                    keywords = {k.arg: ast.unparse(k.value) for k in node.keywords}
                    assert keywords.get('allow_pickle') == 'False', (path, call)
                else:
                    assert node.func.attr not in PICKLE_CALLS or owner in SAFE_LOADERS, \
                        (path, call)


class CreatesAFile:
    """Unpickling this opens (so creates) `path`: the proof that a loader ran a pickle."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return open, (self.path, 'w')


def plant_pickle(path, marker):
    with open(path, 'wb') as f:
        pickle.dump(CreatesAFile(str(marker)), f)


def run_every_loader(run, data_dir, tmp_path):
    """Resume the run for one more iteration, sample from it and score it, in this process
    (each may refuse: a planted file is not a valid one)."""
    commands = [
        (dcgan_mnist.main, ['--resume', run, '--max-iters', '3', '--data-dir', data_dir,
                            '--no-show', *ON_CPU]),
        (sample.main, [run, '--num', '4', '--out', str(tmp_path / 'digits.png'),
                       '--overwrite', *ON_CPU]),
        (score.main, [run, '--num', '10', '--no-baselines', '--data-dir', data_dir,
                      '--cache-dir', str(tmp_path / 'cache'), *ON_CPU]),
    ]
    for main, argv in commands:
        try:
            main(argv)
        except SystemExit:
            pass


def test_pickles_planted_under_every_name_never_run(reference_run, data_dir, tmp_path):
    names = sorted(os.listdir(checkpoint.checkpoint_dir(reference_run, 2)))
    # and the optimizer pickles of format 1, which an older program wrote and read
    names += ['generator.optimizer', 'discriminator.optimizer']
    for name in names:
        run = tmp_path / name
        folder = copy_run(reference_run, run, 2)
        marker = tmp_path / ('ran-' + name)
        target = os.path.join(folder, name)
        if os.path.exists(target):
            os.remove(target)
        plant_pickle(target, marker)
        if name != checkpoint.STATE:
            reseal(folder)
        run_every_loader(str(run), data_dir, tmp_path)
        assert not marker.exists(), 'a pickle planted as %s was run' % name


def test_pickles_planted_as_the_scorer_s_files_never_run(reference_run, data_dir, tmp_path,
                                                         capsys):
    """The cached statistics of real digits, and classifier weights a user was given."""
    cache = tmp_path / 'cache'
    args = [reference_run, '--num', '10', '--data-dir', data_dir, '--cache-dir', str(cache),
            '--json', str(tmp_path / 'score.json')]
    score.main(args)
    entries = sorted(cache.iterdir())
    assert len(entries) == 2  # the test digits' features, the floor's scores
    marker = tmp_path / 'ran'
    for entry in entries:
        plant_pickle(entry, marker)
    score.main(args)  # computes both again
    weights = tmp_path / 'lenet.params'
    plant_pickle(weights, marker)
    with pytest.raises(SystemExit) as stop:
        score.main(args + ['--classifier', str(weights)])
    assert str(stop.value).startswith('error: %s is missing or not an MXNet parameter file'
                                      % weights)
    assert not marker.exists()


def test_checkpoints_of_the_old_format_are_refused_in_one_line(reference_run, tmp_path):
    folder = copy_run(reference_run, tmp_path / 'old', 2)
    path = os.path.join(folder, checkpoint.STATE)
    with open(path) as f:
        state = json.load(f)
    os.remove(path)
    with open(path, 'w') as f:
        json.dump(dict(state, format=1), f)
    expected = ('error: %s is a checkpoint of the old format 1, whose optimizer files are '
                'pickles that could run code when loaded; this program loads no pickles' % folder)
    for command in ([sys.executable, os.path.join(REPO, 'dcgan_mnist.py'), '--resume'],
                    [sys.executable, os.path.join(REPO, 'sample.py')]):
        result = subprocess.run(command + [str(tmp_path / 'old')], capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 1
        assert result.stderr.count('\n') == 1 and result.stderr.startswith(expected)


# ============================== damage ==============================

def flip_a_byte(path, offset=-100):
    with open(path, 'r+b') as f:
        f.seek(offset, os.SEEK_END)
        byte = f.read(1)
        f.seek(offset, os.SEEK_END)
        f.write(bytes([byte[0] ^ 0x01]))


def test_a_flipped_byte_is_refused_and_the_intact_checkpoint_named(reference_run, data_dir,
                                                                    tmp_path):
    run = tmp_path / 'run'
    older = copy_run(reference_run, run, 3)
    newer = copy_run(reference_run, run, 4)
    damaged = os.path.join(newer, 'generator.params')
    shutil.copy(damaged, damaged + '.copy')  # a file of its own, not the reference's link
    os.replace(damaged + '.copy', damaged)
    flip_a_byte(damaged)

    result = run_program('--resume', str(run), '--data-dir', data_dir)
    assert result.returncode == 1
    assert result.stderr == (
        'error: %s is damaged: its SHA-256 is not the one state.json recorded; the newest '
        'intact checkpoint is %s: python dcgan_mnist.py --resume %s --data-dir %s --context '
        'cpu\n' % (damaged, older, older, data_dir))
    sampled = subprocess.run([sys.executable, os.path.join(REPO, 'sample.py'), str(run)],
                             capture_output=True, text=True, timeout=300)
    assert sampled.returncode == 1
    assert sampled.stderr.startswith('error: %s is damaged' % damaged)
    assert sampled.stderr.endswith('python sample.py %s\n' % older)
    # Naming the damaged checkpoint itself gets the refusal, no pointer: it was asked for.
    result = run_program('--resume', newer, '--data-dir', data_dir)
    assert result.stderr == 'error: %s is damaged: its SHA-256 is not the one state.json ' \
                            'recorded\n' % damaged

    # The advice works, and the resumed run saves a good checkpoint 4 beside the damaged one.
    result = run_program('--resume', older, '--max-iters', str(ITERATIONS), '--data-dir',
                         data_dir, '--checkpoint-every', '1', '--keep-checkpoints', '9')
    assert result.returncode == 0, result.stderr
    assert os.path.isdir(newer + '.damaged')  # the user's file is kept, never loaded
    assert_same_checkpoint_params(checkpoint.checkpoint_dir(str(run), ITERATIONS),
                                  checkpoint.checkpoint_dir(reference_run, ITERATIONS))
    assert metric_rows(str(run)) == metric_rows(reference_run)


def test_a_changed_state_file_is_refused(reference_run, tmp_path):
    folder = copy_run(reference_run, tmp_path / 'run', 2)
    path = os.path.join(folder, checkpoint.STATE)
    with open(path) as f:
        text = f.read()
    os.remove(path)
    with open(path, 'w') as f:
        f.write(text.replace('"global_iteration": 2', '"global_iteration": 3'))
    with pytest.raises(checkpoint.CheckpointError, match='state.json is damaged: its content'):
        checkpoint.open_checkpoint(folder, str)


# ============================== failed writes ==============================

def small_modules():
    """Two tiny bound Modules with Adam, one step taken, as save_checkpoint takes them."""
    modules = {}
    for name in checkpoint.NETWORKS:
        module = mx.mod.Module(mx.sym.LinearRegressionOutput(
            mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=3, name=name + '_fc'),
            name=name + '_out'), data_names=('data',), label_names=(name + '_out_label',))
        module.bind(data_shapes=[('data', (2, 4))], label_shapes=[(name + '_out_label', (2, 3))])
        module.init_params()
        module.init_optimizer(optimizer='adam')
        module.forward_backward(mx.io.DataBatch([mx.nd.ones((2, 4))], [mx.nd.zeros((2, 3))]))
        module.update()
        modules[name] = module
    return modules


def small_state(iteration):
    state = dict.fromkeys(run_state.RESUME_FIELDS, 0)
    state.update(global_iteration=iteration, average_decay=None)
    return state


def test_a_failed_write_removes_its_partial_folder_and_keeps_the_others(tmp_path,
                                                                         monkeypatch):
    modules, run = small_modules(), str(tmp_path)
    noise = np.zeros((2, 1), np.float32)
    first = checkpoint.save_checkpoint(run, modules, small_state(1), noise)
    calls = []

    def failing_save(path, arrays):
        calls.append(path)
        if len(calls) == 3:  # the generator's files are written, then this fails
            raise OSError(28, 'No space left on device', path)
        mx.nd.save(path, arrays)

    monkeypatch.setattr(checkpoint, '_save_arrays', failing_save)
    with pytest.raises(checkpoint.SaveError) as error:
        checkpoint.save_checkpoint(run, modules, small_state(2), noise, keep=1)
    assert str(error.value) == ('saving checkpoint %s failed: No space left on device (%s)'
                                % (checkpoint.checkpoint_dir(run, 2), calls[-1]))
    assert os.listdir(os.path.join(run, 'checkpoints')) == ['iter-0000001']
    assert checkpoint.open_checkpoint(run, str) == (first, checkpoint.load_state(first))


def test_optimizer_state_round_trips_through_data_only(tmp_path):
    modules = small_modules()
    saved = checkpoint.save_checkpoint(str(tmp_path), modules, small_state(1),
                                       np.zeros(1, np.float32))
    fresh = small_modules()  # one step each, but other states: the restore must replace them
    for name, module in fresh.items():
        module._updater.optimizer._all_index_update_counts[0][0] = 99
        checkpoint.restore_optimizer(module, saved, name)
    for name in checkpoint.NETWORKS:
        original, restored = modules[name]._updater, fresh[name]._updater
        assert restored.optimizer._all_index_update_counts == \
            original.optimizer._all_index_update_counts
        assert restored.optimizer.num_update == original.optimizer.num_update
        assert sorted(restored.states) == sorted(original.states)
        for index, (mean, variance) in original.states.items():
            np.testing.assert_array_equal(restored.states[index][0].asnumpy(), mean.asnumpy())
            np.testing.assert_array_equal(restored.states[index][1].asnumpy(),
                                          variance.asnumpy())


def test_an_optimizer_with_other_settings_is_refused(tmp_path):
    modules = small_modules()
    saved = checkpoint.save_checkpoint(str(tmp_path), modules, small_state(1),
                                       np.zeros(1, np.float32))
    other = small_modules()['generator']
    other._updater.optimizer.lr = 0.5
    with pytest.raises(checkpoint.CheckpointError, match=r"has lr 0.01, this run's optimizer "
                                                         r"0.5"):
        checkpoint.restore_optimizer(other, saved, 'generator')


# ============================== a real full disk ==============================

CHECKPOINT_MB = 280  # one checkpoint of the full networks (measured: 272 MB)


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of room for one checkpoint and a half, mounted for this test (needs root)."""
    mount_point = tmp_path / 'disk'
    mount_point.mkdir()
    size = '%dm' % (CHECKPOINT_MB * 3 // 2)
    done = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=' + size, 'tmpfs',
                           str(mount_point)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip('cannot mount a small tmpfs here (%s)' % done.stderr.strip())
    yield mount_point
    subprocess.run(['umount', '-l', str(mount_point)], check=False)


def test_a_full_disk_stops_the_run_in_one_line_and_it_resumes(reference_run, data_dir,
                                                              small_disk):
    run = str(small_disk / 'run')
    result = train(data_dir, run, '--max-iters', str(ITERATIONS), '--checkpoint-every', '1',
                   '--keep-checkpoints', '9', '--average-generator')
    first, second = checkpoint.checkpoint_dir(run, 1), checkpoint.checkpoint_dir(run, 2)
    assert result.returncode == 1
    assert result.stderr.count('\n') == 1
    assert result.stderr.startswith('error: saving checkpoint %s failed: No space left on '
                                    'device (%s/' % (second, second + '.partial'))
    assert result.stderr.endswith(
        '; the newest checkpoint is %s; continue with: python dcgan_mnist.py --resume %s '
        '--data-dir %s %s --max-iters %d --checkpoint-every 1 --keep-checkpoints 9 '
        '--average-generator\n' % (first, run, data_dir, ' '.join(RUN_FLAGS), ITERATIONS))
    assert os.listdir(os.path.join(run, 'checkpoints')) == ['iter-0000001']
    checkpoint.open_checkpoint(run, str)  # intact
    assert metric_iterations(run) == [1, 2]

    # Room is made; the run resumes from the intact checkpoint and ends as if never stopped.
    subprocess.run(['mount', '-o', 'remount,size=%dm' % (3 * CHECKPOINT_MB), str(small_disk)],
                   check=True)
    result = run_program('--resume', run, '--data-dir', data_dir, '--max-iters',
                         str(ITERATIONS), '--keep-checkpoints', '1')
    assert result.returncode == 0, result.stderr
    assert_same_checkpoint_params(checkpoint.checkpoint_dir(run, ITERATIONS),
                                  checkpoint.checkpoint_dir(reference_run, ITERATIONS))
    assert metric_rows(run) == metric_rows(reference_run)


# ============================== SIGKILL during a save ==============================

KILL_TRIALS = 3


def start_training(data_dir, run, *flags):
    return subprocess.Popen(
        [sys.executable, os.path.join(REPO, 'dcgan_mnist.py'), '--data-dir', data_dir,
         *RUN_FLAGS, '--output-dir', run, *flags], env=headless_env(), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)


def kill_during_save(process, run, save_number, delay):
    """SIGKILL `process` `delay` seconds after its save number `save_number` (from 1) began
    (its .partial folder appeared); returns whether the save was still under way."""
    root = os.path.join(run, 'checkpoints')
    seen = set()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        partial = [n for n in (os.listdir(root) if os.path.isdir(root) else [])
                   if n.endswith(checkpoint.PARTIAL)]
        seen.update(partial)
        if len(seen) >= save_number:
            time.sleep(delay)
            still_saving = os.path.isdir(os.path.join(root, sorted(seen)[-1]))
            process.send_signal(signal.SIGKILL)
            process.wait()
            return still_saving
        time.sleep(0.002)
    raise AssertionError('the run ended before save %d: %s' % (save_number,
                                                              process.stderr.read()))


def test_sigkill_at_many_moments_of_a_save_then_resume_equals_an_unstopped_run(
        reference_run, data_dir, tmp_path):
    rng = random.Random(2024)
    mid_save = 0
    for trial in range(KILL_TRIALS):
        run = str(tmp_path / ('run%d' % trial))
        process = start_training(data_dir, run, '--max-iters', str(ITERATIONS),
                                 '--checkpoint-every', '1', '--keep-checkpoints', '2',
                                 '--average-generator')
        mid_save += kill_during_save(process, run, save_number=rng.randint(2, 4),
                                     delay=rng.uniform(0.0, 0.6))
        assert process.returncode == -signal.SIGKILL
        newest = checkpoint.find_checkpoint(run)
        checkpoint.open_checkpoint(run, str)  # the newest complete one is intact

        result = run_program('--resume', run, '--data-dir', data_dir, '--max-iters',
                             str(ITERATIONS))
        assert result.returncode == 0, (newest, result.stderr)
        assert_same_checkpoint_params(checkpoint.checkpoint_dir(run, ITERATIONS),
                                      checkpoint.checkpoint_dir(reference_run, ITERATIONS))
        assert metric_rows(run) == metric_rows(reference_run)  # none missing or doubled
        leftovers = [n for n in os.listdir(os.path.join(run, 'checkpoints'))
                     if not checkpoint._NAME.match(n)]
        assert leftovers == []
    assert mid_save >= 1  # at least one kill landed inside a save
