"""One writer per run folder (dcgan/run_lock.py), with real processes: a second training, a
resume and an --overwrite of a folder in use are refused in one line naming the holder, and
the run that holds it ends exactly as a run alone; a killed run leaves nothing to clean up."""
import errno
import os
import signal
import subprocess
import sys
import time

import pytest

from dcgan import checkpoint, run_lock
from helpers import (ON_CPU, REPO, assert_same_checkpoint_params, headless_env, in_one_suite,
                     metric_rows, run_program)

pytestmark = in_one_suite('gpu-box')  # flock(2): the same on every Python

FLAGS = ON_CPU + ['--batch-size', '8', '--seed', '3', '--no-show', '--max-iters', '6',
                  '--checkpoint-every', '2']


def start_training(data_dir, out, *flags):
    return subprocess.Popen([sys.executable, os.path.join(REPO, 'dcgan_mnist.py'),
                             '--data-dir', data_dir, *FLAGS, *flags, '--output-dir', out],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=headless_env())


def wait_for_rows(run, rows, process, timeout=300):
    """Wait until `run`'s metrics.csv has `rows` rows (the process is in its loop)."""
    deadline = time.monotonic() + timeout
    path = os.path.join(run, 'metrics.csv')
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if os.path.exists(path):
            with open(path) as f:
                if len(f.readlines()) > rows:
                    return
        time.sleep(0.05)
    raise AssertionError('the run wrote no row in %d s' % timeout)


def test_a_second_writer_is_refused_and_the_first_is_unharmed(data_dir, tmp_path):
    """The first run is paused (SIGSTOP) inside its loop, holding the lock and before its first
    checkpoint, while a resume and an --overwrite with another seed try the folder; then it
    goes on. Its checkpoints and metrics.csv are those of the same run alone."""
    run = str(tmp_path / 'run')
    late_checkpoints = ['--checkpoint-every', '5']
    first = start_training(data_dir, run, *late_checkpoints)
    try:
        wait_for_rows(run, 1, first)
        os.kill(first.pid, signal.SIGSTOP)
        assert checkpoint.list_checkpoints(run) == []
        others = [run_program('--data-dir', data_dir, '--resume', run),
                  run_program('--data-dir', data_dir, '--batch-size', '8', '--seed', '4',
                              '--no-show', '--max-iters', '6', '--output-dir', run,
                              '--overwrite')]
    finally:
        os.kill(first.pid, signal.SIGCONT)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    for other, advice in zip(others, (run_lock.FOR_A_RESUME, run_lock.FOR_A_NEW_RUN)):
        assert other.returncode == 1
        assert other.stdout.count('\n') <= 4  # what it said while it set up
        assert other.stderr.startswith('error: %s is in use: process %d on %s (since '
                                       % (run, first.pid, os.uname().nodename))
        assert other.stderr.endswith('is training into it; %s\n' % advice)
    alone = str(tmp_path / 'alone')
    assert run_program('--data-dir', data_dir, *FLAGS, *late_checkpoints,
                       '--output-dir', alone).returncode == 0
    assert metric_rows(run) == metric_rows(alone)
    assert_same_checkpoint_params(checkpoint.checkpoint_dir(run, 6),
                                  checkpoint.checkpoint_dir(alone, 6))
    assert sorted(os.listdir(os.path.join(run, 'checkpoints'))) == sorted(
        os.listdir(os.path.join(alone, 'checkpoints')))


def test_a_killed_run_leaves_nothing_to_clean_up(data_dir, tmp_path):
    """SIGKILL in the loop: the lock goes with the process, and the resume trains."""
    run = str(tmp_path / 'run')
    first = start_training(data_dir, run)
    wait_for_rows(run, 3, first)  # past its checkpoint of iteration 2
    first.kill()
    first.communicate(timeout=60)
    assert os.path.exists(os.path.join(run, run_lock.LOCK_FILE))
    again = run_program('--data-dir', data_dir, '--resume', run, '--max-iters', '6')
    assert again.returncode == 0, again.stderr
    assert [int(row['global_iteration']) for row in metric_rows(run)] == [1, 2, 3, 4, 5, 6]


def test_the_lock_is_released_for_the_next_writer_in_the_same_process(tmp_path):
    """As in a notebook kernel, where one process trains one run after another."""
    lock = run_lock.RunLock(str(tmp_path)).acquire()
    with pytest.raises(run_lock.RunInUse, match='process %d on ' % os.getpid()):
        run_lock.RunLock(str(tmp_path)).acquire()
    lock.close()
    run_lock.RunLock(str(tmp_path)).acquire().release()


def test_a_file_system_without_locks_is_warned_of(tmp_path, monkeypatch):
    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))
    monkeypatch.setattr(run_lock.fcntl, 'flock', no_locks)
    said = []
    run_lock.RunLock(str(tmp_path)).acquire(warn=said.append).release()
    assert said == ['warning: cannot lock %s (No locks available): nothing keeps a second '
                    'training out of this folder' % (tmp_path / run_lock.LOCK_FILE)]


def test_a_lock_whose_file_its_holder_removed_meanwhile_is_taken_anew(tmp_path, monkeypatch):
    """The holder ends (removing the file) between another's open and its lock: that other
    must not hold a lock on the removed file, which a third could not see."""
    holder = run_lock.RunLock(str(tmp_path)).acquire()
    real_flock, calls = run_lock.fcntl.flock, []

    def holder_ends_first(fd, operation):
        calls.append(fd)
        if len(calls) == 1:
            holder.release()
        return real_flock(fd, operation)
    monkeypatch.setattr(run_lock.fcntl, 'flock', holder_ends_first)
    second = run_lock.RunLock(str(tmp_path)).acquire()
    assert len(calls) == 2  # the removed file's lock given up, the new file's taken
    monkeypatch.setattr(run_lock.fcntl, 'flock', real_flock)
    with pytest.raises(run_lock.RunInUse, match='process %d on ' % os.getpid()):
        run_lock.RunLock(str(tmp_path)).acquire()
    second.release()
    assert not os.path.exists(os.path.join(str(tmp_path), run_lock.LOCK_FILE))
