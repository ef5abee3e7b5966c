"""Ctrl-C and a wrong Python in every command, as a user meets them: real processes, real
signals. Each ends in one line, with the shell's code for an interrupted program (130) or 1,
never a traceback, and leaves nothing half-made behind (dcgan/interrupts.py,
dcgan/stopping.py, dcgan/mxnet_setup.py)."""
import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time

import pytest

from dcgan import checkpoint, interrupts, mxnet_setup
from dcgan.framework import mx
from dcgan.stopping import StopRequested
from helpers import ON_CPU, REPO, headless_env, in_one_suite, on_every_python, run_program

pytestmark = on_every_python  # signals and a process's start: the Python's, not the build's

FLAGS = ON_CPU + ['--batch-size', '8', '--seed', '2', '--no-show']
ENDS = (interrupts.WHILE_STARTING, 'Interrupted: no file is left half-written.',
        'Interrupted before training began: nothing was saved.')


@pytest.fixture(scope='module')
def trained(data_dir, tmp_path_factory):
    """A run of one iteration, to sample and score."""
    run = str(tmp_path_factory.mktemp('trained') / 'run')
    done = run_program('--data-dir', data_dir, *FLAGS, '--max-iters', '1', '--output-dir', run)
    assert done.returncode == 0, done.stderr
    return run


def start(command, *args, cwd, stderr=subprocess.PIPE):
    return subprocess.Popen([sys.executable, os.path.join(REPO, command), *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=stderr, text=True,
                            env=headless_env())


def wait_until_loading_mxnet(process, timeout=60):
    """Until MXNet's library is mapped into `process`: it is inside `import mxnet`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            with open('/proc/%d/maps' % process.pid) as f:
                if 'libmxnet' in f.read():
                    return
        except FileNotFoundError:
            pass
        time.sleep(0.01)
    raise AssertionError('MXNet did not load within %d s' % timeout)


@pytest.mark.parametrize('command, args', [
    ('dcgan_mnist.py', ['--output-dir', 'new']),
    ('score.py', ['RUN']),
    ('sample.py', ['RUN', '--out', 'new.png']),
])
def test_ctrl_c_while_a_command_loads_mxnet_is_one_line(trained, tmp_path, command, args):
    process = start(command, *[trained if arg == 'RUN' else arg for arg in args],
                    cwd=str(tmp_path))
    wait_until_loading_mxnet(process)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == interrupts.EXIT_INTERRUPTED
    assert err in [end + '\n' for end in ENDS]
    assert os.listdir(tmp_path) == []


def test_ctrl_c_while_setting_up_leaves_no_folder(data_dir, tmp_path):
    """After the data is read, while the networks are built: the new folder goes again."""
    run = str(tmp_path / 'run')
    process = start('dcgan_mnist.py', '--data-dir', data_dir, *FLAGS, '--output-dir', run,
                    cwd=str(tmp_path))
    for line in process.stdout:
        if line.startswith('MNIST: '):
            process.send_signal(signal.SIGINT)
            break
    out, err = process.communicate(timeout=60)
    assert process.returncode == interrupts.EXIT_INTERRUPTED, err
    assert err == 'Interrupted before training began: nothing was saved.\n'
    assert not os.path.exists(run)


def test_a_refusal_after_the_folder_was_made_leaves_no_folder(data_dir, tmp_path):
    """--score-samples is checked against the test digits once they are read, after the folder
    is made: the folder goes again, and the same --output-dir can be used at once."""
    run = str(tmp_path / 'run')
    done = run_program('--data-dir', data_dir, *FLAGS, '--output-dir', run, '--score-every',
                       '1', '--score-samples', '100')
    assert done.returncode == 1
    assert done.stderr == ('error: --score-samples 100 is more than the 12 test digits the '
                           'scores compare with\n')
    assert not os.path.exists(run)


def test_two_ctrl_c_while_mxnet_computes_are_two(tmp_path):
    """Both arrive while the main thread waits inside MXNet, where Python runs no handler: the
    second stops at once all the same."""
    a = mx.nd.ones((2000, 2000))
    mx.nd.waitall()
    pid = os.getpid()
    with StopRequested() as stop:
        timers = [threading.Timer(delay, os.kill, (pid, signal.SIGINT)) for delay in (0.1, 0.3)]
        started = time.monotonic()
        for timer in timers:
            timer.start()
        with pytest.raises(KeyboardInterrupt):
            result = a
            for _ in range(40):
                result = mx.nd.dot(result, a) / 2000
            result.wait_to_read()
        assert time.monotonic() - started > 0.3, 'the work ended before both signals came'
        assert stop.requested
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_handler_before_its_signal_s_byte_waits_for_it_and_counts_it_once():
    """The thread that takes a signal writes its byte just after Python is told of it: the
    handler may run first (a Jupyter kernel's threads, a busy machine). That Ctrl-C asks to
    stop once, not twice; a second one stops at once."""
    with StopRequested() as stop:
        late = threading.Timer(0.02, os.write, (stop.writer, bytes([signal.SIGINT])))
        late.start()
        stop._handle(signal.SIGINT, None)  # before its byte
        late.join()
        assert stop.requested
        assert select.select([stop.arrivals], [], [], 0)[0] == []  # the byte was read
        os.write(stop.writer, bytes([signal.SIGINT]))
        with pytest.raises(KeyboardInterrupt):
            stop._handle(signal.SIGINT, None)


def test_a_byte_later_than_the_wait_is_not_a_second_ctrl_c():
    """Later than WAKEUP_WAIT (its thread descheduled on a busy machine: seen in CI, where the
    launcher's SIGTERM then read it and the job stopped at once, saving nothing)."""
    with StopRequested() as stop:
        stop._handle(signal.SIGINT, None)  # no byte within the wait
        assert stop.requested
        # The late byte, then the launcher's SIGTERM.
        os.write(stop.writer, bytes([signal.SIGINT, signal.SIGTERM]))
        stop._handle(signal.SIGTERM, None)  # no KeyboardInterrupt
        os.write(stop.writer, bytes([signal.SIGINT]))  # a real second Ctrl-C
        with pytest.raises(KeyboardInterrupt):
            stop._handle(signal.SIGINT, None)


def test_a_handler_inside_a_handler_leaves_the_counting_to_it():
    with StopRequested() as stop:
        stop.reading = True
        os.write(stop.writer, bytes([signal.SIGINT]))
        stop._handle(signal.SIGINT, None)  # as if started inside the running one
        assert not stop.requested
        stop.reading = False
        stop._handle(signal.SIGINT, None)
        assert stop.requested


def test_one_ctrl_c_and_a_sigterm_are_one_request(tmp_path):
    """As a distributed job's Ctrl-C reaches a worker: from the terminal, and from the launcher
    as SIGTERM, in either order (CI saw SIGTERM's byte first on a busy machine)."""
    with StopRequested() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert stop.requested
        os.kill(os.getpid(), signal.SIGTERM)  # SIGTERM never stops at once
        time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)  # the first Ctrl-C: the same request
        time.sleep(0.05)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # the second
            time.sleep(0.05)


@pytest.fixture(scope='module')
def bare_python(tmp_path_factory):
    """A Python of the same version with none of the requirements: a fresh venv."""
    folder = tmp_path_factory.mktemp('bare') / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(folder)], check=True)
    return str(folder / 'bin' / 'python')


@pytest.mark.parametrize('command, args', [
    ('dcgan_mnist.py', []), ('score.py', ['RUN']), ('sample.py', ['RUN']),
    ('launch.py', ['-n', '1', '--launcher', 'local', 'python', 'x']),
])
def test_a_python_without_the_requirements_is_told_in_one_line(bare_python, trained, tmp_path,
                                                                command, args):
    done = subprocess.run([bare_python, os.path.join(REPO, command),
                           *[trained if arg == 'RUN' else arg for arg in args]],
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr == 'error: %s\n' % mxnet_setup.missing_requirements_problem(
        lambda name: None).replace(sys.executable, bare_python)
    assert 'numpy, mxnet' in done.stderr and 'requirements-cpu.txt' in done.stderr


@in_one_suite()  # a pseudo-terminal's output: the same on every Python
def test_sampling_shows_a_progress_line_on_a_terminal(trained, tmp_path):
    """On a terminal (a pty here) drawing shows the training command's progress line, with a
    time estimate, and clears it; in a log nothing of it appears (the other tests)."""
    parent, child = pty.openpty()
    process = start('sample.py', trained, '--num', '400', '--out', 'd.png', cwd=str(tmp_path),
                    stderr=child)
    os.close(child)
    shown = b''
    while True:
        try:
            chunk = os.read(parent, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        shown += chunk
    process.wait(timeout=300)
    os.close(parent)
    assert process.returncode == 0
    lines = shown.decode().split('\r\x1b[K')
    assert '50/50  ' in shown.decode() and ' left' in lines[-2]
    assert lines[-1] == ''  # cleared at the end
    assert os.path.isfile(tmp_path / 'd.png')
    assert checkpoint.find_checkpoint(trained)
