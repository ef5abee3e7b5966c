"""Several machines: MXNet's own launcher (through launch.py) with a scheduler, a server and
two workers on this machine; two "hosts" in network namespaces on a veth link; a worker
killed mid-run; a distributed run resumed from its checkpoint."""
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

from dcgan import checkpoint, mxnet_setup, watchdog
from dcgan.cli import LAUNCH_ARGV, launch_resume_command
from helpers import (JOB_FLAGS, ON_CPU, REPO, TESTS, DIST_TIMEOUT as TIMEOUT,
                     assert_same_trainable, assert_workers_match_one_process, headless_env,
                     in_one_suite, on_every_python, process_with_env, write_small_mnist)
from launch import EXIT_STOPPED, Job

# The launcher's own work (its processes, threads and signals, whose behaviour is the Python's)
# runs on every Python: the tests below with no other mark, which start real launches but no
# training. A job that trains through MXNet's kvstore is the same on every Python and takes a
# minute or two under CI's load: each such test runs once, in one of the suites, shared out
# (tests/helpers.py; CI's time is counted, issue 44).
pytestmark = on_every_python
CLEAN_UP_SECONDS = 60  # from a worker's stall exit to the job's end, at most

LAUNCH = [sys.executable, os.path.join(REPO, 'launch.py'), '-n', '2', '-s', '1',
          '--launcher', 'local']
PROGRAM = [sys.executable, os.path.join(REPO, 'dcgan_mnist.py'), '--kvstore', 'dist_sync',
           '--seed', '3', '--batch-size', '8', '--no-show'] + ON_CPU


def launch(command, **extra_env):
    """MXNet's launcher through launch.py, to its end; returns the CompletedProcess."""
    return subprocess.run(LAUNCH + command, capture_output=True, text=True, timeout=TIMEOUT,
                          env=headless_env(**extra_env))


# ============================== MXNet's launcher ==============================

@in_one_suite('machine')
def test_the_launcher_trains_two_workers_like_one_process_on_two_devices(tmp_path):
    result = launch([sys.executable, os.path.join(TESTS, 'dist_worker.py'), str(tmp_path)])
    assert result.returncode == 0, result.stderr
    assert_workers_match_one_process(str(tmp_path))


JOB_ITERATIONS = 8


@pytest.fixture(scope='module')
def straight_job(tmp_path_factory):
    """The program through the launcher for JOB_ITERATIONS iterations, every checkpoint kept:
    (its folder, its data, the launcher's CompletedProcess)."""
    folder = tmp_path_factory.mktemp('job')
    data = str(write_small_mnist(folder / 'mnist'))
    out = str(folder / 'run')
    result = launch(PROGRAM + JOB_FLAGS + ['--max-iters', str(JOB_ITERATIONS), '--vis-every',
                                           '2', '--keep-checkpoints', '10', '--data-dir', data,
                                           '--output-dir', out])
    return out, data, result


@in_one_suite('newest')
def test_the_program_through_the_launcher_and_only_the_first_worker_writes(straight_job):
    out, _, result = straight_job
    assert result.returncode == 0, result.stderr
    assert result.stdout.count('Done: %d iterations in all.' % JOB_ITERATIONS) == 2
    assert 'as worker 0 of 2' in result.stdout and 'as worker 1 of 2' in result.stdout
    # 52 images: 26 a worker, 4 batches of 8 an epoch; only the chief reports and writes
    assert result.stdout.count('epoch 0  iter 2/4') == 1
    assert os.path.isdir(checkpoint.checkpoint_dir(out, JOB_ITERATIONS))
    assert 'epoch000_iter0002.png' in os.listdir(out)


def test_the_launcher_says_in_one_line_that_a_worker_failed(tmp_path):
    script = tmp_path / 'fail.py'
    script.write_text('import os, sys\nsys.exit(3 if os.environ["DMLC_ROLE"] == "worker" '
                      'else 0)\n')
    result = launch([sys.executable, str(script)], SECRET_TOKEN='do-not-print-me')
    assert result.returncode == 1
    assert 'do-not-print-me' not in result.stdout + result.stderr  # no environment dump
    assert 'Traceback' not in result.stderr
    failures = [line for line in result.stderr.splitlines() if line.startswith('launch:')]
    assert sorted(failures) == ['launch: worker (task 0) exited with code 3',
                                'launch: worker (task 1) exited with code 3']


def test_distributed_needs_a_seed_and_the_launcher(small_mnist, tmp_path):
    from helpers import run_program
    result = run_program('--kvstore', 'dist_sync', '--data-dir', str(small_mnist))
    assert result.returncode == 1
    assert result.stderr.strip() == ('error: --kvstore dist_sync needs --seed: every worker '
                                     'must start from the same weights')
    result = subprocess.run([sys.executable, os.path.join(REPO, 'dcgan_mnist.py'), '--kvstore',
                             'dist_sync', '--seed', '1', '--data-dir', str(small_mnist)],
                            capture_output=True, text=True, env=headless_env(), timeout=120)
    assert result.returncode == 1
    assert 'start the workers with MXNet\'s launcher' in result.stderr


# ============================== a worker dies ==============================

def listening_sockets():
    """{socket inode: 'address:port'} of every TCP socket in LISTEN state (IPv4 and IPv6)."""
    found = {}
    for table, width in (('/proc/net/tcp', 8), ('/proc/net/tcp6', 32)):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] == '0A':  # LISTEN
                    address, port = fields[1].split(':')
                    if width == 8:
                        address = socket.inet_ntoa(bytes.fromhex(address)[::-1])
                    found[fields[9]] = '%s:%d' % (address, int(port, 16))
    return found


def processes_of_group(group):
    """The pids of the processes in process group `group`."""
    found = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open('/proc/%s/stat' % pid) as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:
            found.append(int(pid))
    return found


def sockets_of(pids, listening):
    """{(pid, address)} of the listening sockets that `pids` hold."""
    held = set()
    for pid in pids:
        try:
            for fd in os.listdir('/proc/%d/fd' % pid):
                target = os.readlink('/proc/%d/fd/%s' % (pid, fd))
                inode = target[len('socket:['):-1] if target.startswith('socket:[') else None
                if inode in listening:
                    held.add((pid, listening[inode]))
        except OSError:  # the process ended meanwhile
            continue
    return held


@in_one_suite('other')
def test_a_killed_worker_ends_the_run_with_its_checkpoint_named(small_mnist, tmp_path):
    data = str(small_mnist)
    run = str(tmp_path / 'run')
    marker = 'DCGAN_TEST_JOB=%s' % uuid.uuid4().hex
    flags = JOB_FLAGS + ['--max-iters', '400', '--stall-timeout', '10', '--data-dir', data,
                         '--output-dir', run]
    job = subprocess.Popen(LAUNCH + PROGRAM + flags,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=headless_env(**dict([marker.split('=')])),
                           start_new_session=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not os.path.isdir(checkpoint.checkpoint_dir(run, 4)):  # two checkpoints in
            assert job.poll() is None and time.monotonic() < deadline, job.stderr.read()
            time.sleep(0.1)
        victim = process_with_env(marker, 'worker', 1)
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        stdout, stderr = job.communicate(timeout=TIMEOUT)
        took = time.monotonic() - killed_at
    finally:  # a hang must not outlive the test
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
    assert job.returncode == 1
    stalled = [line for line in stderr.splitlines() if line.startswith('error: worker ')]
    assert len(stalled) == 1, stderr
    # The stall limit (10 s here, or 10 median iterations: longer on a loaded machine, so read
    # from what the worker said), then the clean-up: the job does not hang on.
    limit = int(re.search(r'\(the limit is (\d+) s\)', stalled[0]).group(1))
    assert took < limit + CLEAN_UP_SECONDS, (took, limit)
    assert re.match(r'error: worker \d of 2: no iteration finished in \d+ s \(the limit is \d+ '
                    r's\): another worker or a parameter server stopped responding; the newest '
                    r'checkpoint is \S+; continue with: %s$'
                    % re.escape(printed_resume_command(run, flags[:-2])), stalled[0])
    assert 'launch: worker (task 1) was killed by SIGKILL' in stderr
    assert 'launch: worker (task 0) exited with code 1' in stderr
    newest, state = checkpoint.open_checkpoint(run, str)  # whole: it reads back
    assert newest in stalled[0]
    assert 4 <= state['global_iteration'] < JOB_ITERATIONS
    # That the printed command resumes a job's checkpoint to the unstopped job's end is
    # test_a_stop_signal_keeps_the_work's: the checkpoint is the same kind, and CI's time counts.


def printed_resume_command(run, flags):
    """The resume command the chief of a job launched here (LAUNCH + PROGRAM + `flags` +
    --output-dir RUN) prints: the launch line, its --output-dir become --resume."""
    return ' '.join(['python launch.py'] + LAUNCH[2:] + PROGRAM[:2] + ['--resume', run]
                    + PROGRAM[2:] + list(flags))


def job_is_gone(group, within):
    """Whether no process of process group `group` is left within `within` seconds."""
    deadline = time.monotonic() + within
    while processes_of_group(group) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not processes_of_group(group)


# The resume is run for the first (a cluster's stop) only: the three stop the same way, and
# CI's time is counted; the straight job it is held against is made for it alone.
@pytest.mark.parametrize('how, resume', [
    pytest.param('SIGTERM to the job', True, marks=in_one_suite('newest')),
    pytest.param('SIGTERM to the launcher', False, marks=in_one_suite('machine')),
    pytest.param('SIGINT to the job', False, marks=in_one_suite('machine'))])
def test_a_stop_signal_keeps_the_work(request, small_mnist, tmp_path, how, resume):
    """A job stopped with a signal (as a cluster's scheduler stops it, or Ctrl-C): the workers
    stop after the same iteration, the chief saves it, every process ends within seconds with
    no traceback, exit status 130, and the printed command resumes it to where the job that was
    never stopped ended, equal to it. Before the signal, while the job trains, every listening
    socket of every one of its processes (sampled from /proc) is on 127.0.0.1."""
    data = str(small_mnist)  # the straight job's images (write_small_mnist is deterministic)
    run = str(tmp_path / 'run')
    flags = JOB_FLAGS + ['--max-iters', str(JOB_ITERATIONS), '--vis-every', '1',
                         '--data-dir', data, '--output-dir', run]
    job = subprocess.Popen(LAUNCH + PROGRAM + flags, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=headless_env(),
                           start_new_session=True)
    try:
        deadline, listening = time.monotonic() + TIMEOUT, set()
        while not os.path.isdir(checkpoint.checkpoint_dir(run, 2)):
            assert job.poll() is None and time.monotonic() < deadline, job.stderr.read()
            listening |= sockets_of(processes_of_group(job.pid), listening_sockets())
            time.sleep(0.05)
        number = signal.SIGINT if how.startswith('SIGINT') else signal.SIGTERM
        if how.endswith('the job'):
            os.killpg(job.pid, number)
        else:
            os.kill(job.pid, number)
        signalled = time.monotonic()
        stdout, stderr = job.communicate(timeout=TIMEOUT)
        took = time.monotonic() - signalled
        gone = job_is_gone(job.pid, within=15)
    finally:
        if processes_of_group(job.pid):
            os.killpg(job.pid, signal.SIGKILL)
    assert len({pid for pid, _ in listening}) >= 4, listening  # scheduler, server, 2 workers
    assert {address.rsplit(':', 1)[0] for _, address in listening} == {'127.0.0.1'}, listening
    assert gone, 'processes of the job were left running'
    assert took < 30, (took, stdout, stderr)
    assert job.returncode == 130, stderr
    assert 'Traceback' not in stdout + stderr, stdout + stderr
    newest, state = checkpoint.open_checkpoint(run, str)
    reached = state['global_iteration']
    assert 2 <= reached < JOB_ITERATIONS
    stopped = [line for line in stdout.splitlines() if line.startswith('Stopped at')]
    command = printed_resume_command(run, flags[:-2])
    assert stopped == ['Stopped at iteration %d; checkpoint saved. Continue with: %s'
                       % (reached, command)], stdout + stderr

    if not resume:
        return
    # The printed command, as it is (with this Python), resumes the run to its end.
    words = command.split()
    resumed = subprocess.run([sys.executable] + words[1:], capture_output=True, text=True,
                             timeout=TIMEOUT, env=headless_env(), cwd=REPO)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.count('Resuming %s at iteration %d' % (newest, reached)) == 2
    straight, _, _ = request.getfixturevalue('straight_job')
    assert_same_trainable(checkpoint.checkpoint_dir(run, JOB_ITERATIONS),
                          checkpoint.checkpoint_dir(straight, JOB_ITERATIONS))


def tgkill(pid, tid, number):
    """Signal `number` to thread `tid` of process `pid` (glibc's tgkill)."""
    assert ctypes.CDLL(None, use_errno=True).tgkill(pid, tid, number) == 0, ctypes.get_errno()


def to_the_process(pid, number):
    os.kill(pid, number)


def to_another_thread(pid, number):
    """As the kernel may deliver a signal to a process: to one of its threads other than the
    main one (then only the main thread's waking runs Python's handler)."""
    tgkill(pid, next(int(tid) for tid in os.listdir('/proc/%d/task' % pid) if int(tid) != pid),
           number)


@pytest.mark.parametrize('send', [to_the_process, to_another_thread])
def test_a_stop_before_training_began_ends_the_job_with_nothing_to_save(tmp_path, send):
    """SIGTERM to the launcher while both workers are still starting: every process of the job
    ends, exit 130, one line saying nothing was saved, no traceback; also when the signal is
    handed to a thread of the launcher other than the main one (once, a stop waited there
    for dmlc_tracker's 100-second join: launch.wait_wakefully). The job's command stands
    in for a program that is slow to start (two minutes before it would take the signal over):
    with the real program the signal could land after its training began, as it did once in
    CI with three suites side by side."""
    marker = 'DCGAN_TEST_JOB=%s' % uuid.uuid4().hex
    slow_start = tmp_path / 'slow_start.py'
    slow_start.write_text('import time\ntime.sleep(120)\n')
    job = subprocess.Popen(LAUNCH + [sys.executable, str(slow_start)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=headless_env(**dict([marker.split('=')])),
                           start_new_session=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not all(process_with_env(marker, 'worker', task) for task in (0, 1)):
            assert job.poll() is None and time.monotonic() < deadline, job.stderr.read()
            time.sleep(0.02)
        send(job.pid, signal.SIGTERM)
        stdout, stderr = job.communicate(timeout=60)
        gone = job_is_gone(job.pid, within=15)
    finally:
        if processes_of_group(job.pid):
            os.killpg(job.pid, signal.SIGKILL)
    assert gone, 'processes of the job were left running'
    assert job.returncode == 130, stdout + stderr
    assert stderr.splitlines()[-1] == 'launch: stopped before training began: nothing to save', (
        stdout + stderr)
    assert 'Traceback' not in stdout + stderr, stdout + stderr


@pytest.mark.parametrize('code', [-signal.SIGTERM, 128 + signal.SIGTERM])
def test_workers_ended_by_sigterm_when_asked_to_stop_are_stopped_not_failed(capsys, code):
    """Ended by SIGTERM before training, as a local process (-15) or through the shell that
    runs it on another host (143): stopped, and said so; ended so unasked: failed."""
    ended = ('import os, signal; os.kill(os.getpid(), signal.SIGTERM)' if code < 0
             else 'raise SystemExit(%d)' % code)
    for asked in (False, True):
        job = Job()
        assert job.run('worker', 0, [sys.executable, '-c', ended]) == code
        if asked:
            job.ask_workers_to_stop()
        assert job.report(expected=1) == (EXIT_STOPPED if asked else 1)
        assert capsys.readouterr().err.splitlines()[-1] == (
            'launch: stopped before training began: nothing to save' if asked else
            'launch: worker (task 0) %s' % ('was killed by SIGTERM' if code < 0
                                            else 'exited with code 143'))


def test_what_a_stopping_job_has_not_started_never_starts(capsys):
    job = Job()
    job.ask_workers_to_stop()
    started = [job.run(role, task, [sys.executable, '-c', 'raise SystemExit(3)'])
               for role, task in (('scheduler', 0), ('server', 0), ('worker', 0))]
    assert started == [0, 0, 0] and job.processes == []
    assert job.workers_done(expected=2)
    assert job.report(expected=2) == EXIT_STOPPED
    assert capsys.readouterr().err == 'launch: stopped before training began: nothing to save\n'


def test_the_stall_limit_is_the_floor_or_ten_median_iterations():
    now = [0.0]
    guard = watchdog.StallWatchdog(30, on_stall=None, clock=lambda: now[0])
    assert guard.stalled_for() is None  # not watching yet
    guard.last = 0.0
    # The first iteration, one-time work in it, has FIRST_ITERATION_SECONDS at least.
    now[0] = watchdog.FIRST_ITERATION_SECONDS
    assert guard.limit() == watchdog.FIRST_ITERATION_SECONDS and guard.stalled_for() is None
    now[0] += 1
    assert guard.stalled_for() == watchdog.FIRST_ITERATION_SECONDS + 1
    now[0] = 0.0
    for _ in range(5):
        now[0] += 2.0
        guard.iteration_done()
    now[0] += 29
    assert guard.limit() == 30 and guard.stalled_for() is None
    now[0] += 2
    assert guard.stalled_for() == 31
    for _ in range(20):
        now[0] += 5.0
        guard.iteration_done()
    assert guard.limit() == 50  # 10 x the median of 5 s
    with guard.paused():
        now[0] += 500  # this worker's own work (a checkpoint): no hang
        assert guard.stalled_for() is None
    assert guard.stalled_for() is None


# ============================== two hosts ==============================

@in_one_suite()  # ps-lite between network namespaces: Linux's and MXNet's, not the Python's
def test_two_hosts_on_a_veth_link(two_hosts, tmp_path):
    """Scheduler, server and worker on host a, a worker on host b: the result is that of one
    process on two devices, as on one machine."""
    a, b = two_hosts
    env = headless_env(DMLC_PS_ROOT_URI=two_hosts[a], DMLC_PS_ROOT_PORT='9391',
                       DMLC_NUM_SERVER='1', DMLC_NUM_WORKER='2', PS_VERBOSE='0')
    worker = [sys.executable, os.path.join(TESTS, 'dist_worker.py'), str(tmp_path)]
    placed = [(a, 'scheduler', [sys.executable, '-c', 'from dcgan.framework import mx']),
              (a, 'server', [sys.executable, '-c', 'from dcgan.framework import mx']),
              (a, 'worker', worker), (b, 'worker', worker)]
    processes = [subprocess.Popen(['ip', 'netns', 'exec', host] + command, cwd=REPO,
                                  env=dict(env, DMLC_ROLE=role, DMLC_NODE_HOST=two_hosts[host]),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for host, role, command in placed]
    try:
        for process in processes:
            _, stderr = process.communicate(timeout=TIMEOUT)
            assert process.returncode == 0, stderr
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    assert_workers_match_one_process(str(tmp_path))


def test_the_resume_command_is_the_launch_line_with_resume():
    launched = ['-n', '2', '-s', '1', '--launcher', 'local', 'python', 'dcgan_mnist.py',
                '--kvstore', 'dist_sync', '--output-dir', 'runs/a b', '--overwrite', '--seed',
                '1']
    environ = {LAUNCH_ARGV: json.dumps(launched)}
    assert launch_resume_command('runs/a b', environ) == (
        "python launch.py -n 2 -s 1 --launcher local python dcgan_mnist.py --resume 'runs/a b' "
        "--kvstore dist_sync --seed 1")
    resumed = launched[:8] + ['--resume=runs/old', '--kvstore', 'dist_sync']
    assert launch_resume_command('runs/old', {LAUNCH_ARGV: json.dumps(resumed)}) == (
        'python launch.py -n 2 -s 1 --launcher local python dcgan_mnist.py --resume runs/old '
        '--kvstore dist_sync')
    for broken in ({}, {LAUNCH_ARGV: 'not json'}, {LAUNCH_ARGV: '{"a": 1}'}):
        assert launch_resume_command('runs/x', broken) is None


@pytest.mark.parametrize('role, ignored', [('server', True), ('scheduler', True),
                                           ('worker', False), (None, False)])
def test_servers_and_the_scheduler_ignore_stop_signals(role, ignored):
    """They serve inside `import mxnet` until the workers end: a signal to the job must not end
    them first (the chief is saving through them)."""
    handlers = {}
    environ = {'DMLC_ROLE': role} if role else {}
    assert mxnet_setup.serve_until_the_workers_end(environ, handlers.__setitem__) == ignored
    assert handlers == ({signal.SIGINT: signal.SIG_IGN, signal.SIGTERM: signal.SIG_IGN}
                        if ignored else {})


@pytest.mark.parametrize('flags', [['--help'], ['-h'], ['-h', '-n', '2'],
                                   ['-n', '2', '--launcher', 'local', '--help']])
def test_the_launcher_shows_its_flags_on_help(flags):
    result = subprocess.run([sys.executable, os.path.join(REPO, 'launch.py')] + flags,
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (0, '')
    assert result.stdout.startswith('usage: python launch.py -n WORKERS')
    for flag in ('--num-workers', '--num-servers', '--launcher', '--hostfile', '--host-ip'):
        assert flag in result.stdout


def test_a_help_flag_after_the_command_is_the_command_s():
    from launch import launcher_parser, own_words
    parser = launcher_parser()
    assert own_words(['-n', '2', '--launcher', 'local', 'python', 'dcgan_mnist.py',
                      '--help'], parser) == ['-n', '2', '--launcher', 'local']
    assert own_words(['--help'], parser) == ['--help']
