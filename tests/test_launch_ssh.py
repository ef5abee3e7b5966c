"""Several machines over ssh: `launch.py --launcher ssh` with two hosts in network namespaces
(tests/test_distributed.py makes them), each running a real sshd (Debian's openssh-server) that
lets in a key made here; this folder is at the same path on both, as the docs ask. The
launcher runs on the first host; a server and the two workers are spread over both."""
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest

import launch
from dcgan import checkpoint
from helpers import (HOSTS, JOB_FLAGS, ON_CPU, REPO, TESTS, DIST_TIMEOUT as TIMEOUT,
                     assert_workers_match_one_process, environ_of, headless_env, in_one_suite,
                     on_every_python, processes_with, write_small_mnist)

# As in test_distributed.py: the launcher's own work over ssh on every Python, each job that
# trains through MXNet's kvstore once, in one of the suites (CI's time, issue 44).
pytestmark = on_every_python

SSHD = '/usr/sbin/sshd'
SSHD_CONFIG = '''ListenAddress {address}
HostKey {keys}/host_key
AuthorizedKeysFile {keys}/user_key.pub
PidFile {keys}/sshd-{name}.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
'''
CLIENT_CONFIG = '''Host *
    User {user}
    IdentityFile {keys}/user_key
    IdentitiesOnly yes
    UserKnownHostsFile {keys}/known_hosts
'''
# Nothing answers at this address on the hosts' link.
NOBODY = '10.213.7.99'


def in_namespace(host, command):
    return ['ip', 'netns', 'exec', host] + command


def wait_for_sshd(host, address, environment, within=20):
    deadline = time.monotonic() + within
    while True:
        done = subprocess.run(in_namespace(host, ['ssh', '-o', 'BatchMode=yes', address,
                                                  'true']),
                              capture_output=True, text=True, env=environment, timeout=30)
        if done.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError('sshd on %s did not answer: %s' % (address, done.stderr))
        time.sleep(0.2)


@pytest.fixture
def ssh_hosts(two_hosts, tmp_path):
    """The two hosts, each with an sshd that accepts a key made here; yields (the environment
    whose `ssh` uses that key, the hosts file). The launcher's own ssh is the system's, run
    through a wrapper that adds a client configuration (ssh reads ~/.ssh from the user's
    home, which a test must not touch)."""
    missing = [tool for tool in (SSHD, 'ssh', 'ssh-keygen') if not shutil.which(tool)]
    if missing:
        pytest.skip('needs %s (Debian: openssh-server)' % ', '.join(missing))
    keys = tmp_path / 'ssh'
    keys.mkdir()
    for name in ('host_key', 'user_key'):
        subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', str(keys / name)],
                       check=True)
    # The hosts' key is known beforehand, as on a cluster set up for ssh.
    (keys / 'known_hosts').write_text('%s %s' % (','.join(two_hosts.values()),
                                                 (keys / 'host_key.pub').read_text()))
    (keys / 'config').write_text(CLIENT_CONFIG.format(
        user=subprocess.run(['id', '-un'], capture_output=True, text=True).stdout.strip(),
        keys=keys))
    wrapper = tmp_path / 'bin' / 'ssh'
    wrapper.parent.mkdir()
    wrapper.write_text('#!/bin/sh\nexec %s -F %s "$@"\n'
                       % (shutil.which('ssh'), keys / 'config'))
    wrapper.chmod(0o755)
    environment = headless_env(PATH='%s:%s' % (wrapper.parent, os.environ['PATH']))
    os.makedirs('/run/sshd', exist_ok=True)  # sshd's privilege-separation folder
    daemons = []
    try:
        for index, (host, address) in enumerate(two_hosts.items()):
            config = keys / ('sshd-%d.conf' % index)
            config.write_text(SSHD_CONFIG.format(address=address, keys=keys, name=index))
            daemons.append(subprocess.Popen(in_namespace(host, [SSHD, '-D', '-e', '-f',
                                                                str(config)]),
                                            stderr=open(keys / ('sshd-%d.log' % index), 'w')))
        first = next(iter(two_hosts))
        for host, address in two_hosts.items():
            wait_for_sshd(first, address, environment)
        hostfile = tmp_path / 'hosts'
        hostfile.write_text(''.join(address + '\n' for address in two_hosts.values()))
        yield environment, str(hostfile)
    finally:
        for daemon in daemons:
            daemon.terminate()
            daemon.wait()


def launch_over_ssh(environment, hostfile, command, **popen):
    """launch.py on the first host, the scheduler there, over ssh to both."""
    first = next(iter(HOSTS))
    return subprocess.Popen(
        in_namespace(first, [sys.executable, os.path.join(REPO, 'launch.py'), '-n', '2', '-s',
                             '1', '-H', hostfile, '--launcher', 'ssh', '--host-ip',
                             HOSTS[first]] + command),
        cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        **popen)


def namespace_of(pid):
    """The network namespace of a process, as the kernel names it."""
    return os.readlink('/proc/%d/ns/net' % pid)


# The child's words appear whole: written beside, then renamed (a file created and then
# written could be read empty in between, as CI once did under load).
CHILD = '''
import os, pathlib, signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(7))
pathlib.Path(sys.argv[1] + '.partial').write_text(' '.join(sys.argv[2:]))
os.replace(sys.argv[1] + '.partial', sys.argv[1])
time.sleep(120)
'''


@pytest.mark.parametrize('ask, status', [(b'stop\n', 7), (None, 128 + signal.SIGKILL)],
                         ids=['a line: SIGTERM', 'the end of the input: SIGKILL'])
def test_a_remote_process_is_stopped_through_its_sessions_input(tmp_path, ask, status):
    """The shell command a host runs over ssh, run here by sh: in the launcher's folder, with
    its words quoted, a line on its input is SIGTERM to the process, the end of its input
    SIGKILL, and the shell ends with the process's status."""
    folder = tmp_path / 'a folder'
    folder.mkdir()
    command = [sys.executable, '-c', CHILD, 'ready', 'two words', '$HOME']
    shell = subprocess.Popen(['sh', '-c', launch.remote_command(command, {}, str(folder))],
                             stdin=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (folder / 'ready').exists():
        assert shell.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    assert (folder / 'ready').read_text() == 'two words $HOME'
    if ask:
        shell.stdin.write(ask)
        shell.stdin.flush()
    else:
        shell.stdin.close()
    assert shell.wait(timeout=30) == status


@in_one_suite('newest')
def test_two_workers_over_ssh_train_like_one_process_on_two_devices(ssh_hosts, tmp_path):
    environment, hostfile = ssh_hosts
    job = launch_over_ssh(environment, hostfile, [
        sys.executable, os.path.join(TESTS, 'dist_worker.py'), str(tmp_path)])
    stdout, stderr = job.communicate(timeout=TIMEOUT)
    assert job.returncode == 0, stderr
    assert_workers_match_one_process(str(tmp_path))


def test_an_unreachable_host_ends_the_launch_in_one_line(ssh_hosts, tmp_path):
    environment, _ = ssh_hosts
    hostfile = tmp_path / 'unreachable'
    hostfile.write_text('%s\n%s\n' % (HOSTS[next(iter(HOSTS))], NOBODY))
    started = time.monotonic()
    job = launch_over_ssh(environment, str(hostfile), [sys.executable, '-c', 'pass'])
    stdout, stderr = job.communicate(timeout=120)
    assert time.monotonic() - started < 60  # ssh's ConnectTimeout, not a hang
    assert job.returncode == 1 and stdout == ''
    assert stderr.startswith('launch: cannot reach %s over ssh (port 22): ' % NOBODY), stderr
    assert stderr.count('\n') == 1, stderr


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return str(write_small_mnist(tmp_path_factory.mktemp('data') / 'mnist'))


PROGRAM = [sys.executable, os.path.join(REPO, 'dcgan_mnist.py'), '--kvstore', 'dist_sync',
           '--seed', '3', '--batch-size', '8', '--no-show'] + ON_CPU


def start_job(ssh_hosts, run, data, *flags):
    """The program over ssh, marked so that its processes can be found on both hosts."""
    environment, hostfile = ssh_hosts
    marker = 'DCGAN_TEST_JOB=%s' % uuid.uuid4().hex
    environment = dict(environment, **dict([marker.split('=')]))
    job = launch_over_ssh(environment, hostfile, PROGRAM + JOB_FLAGS + list(flags) + [
        '--data-dir', data, '--output-dir', run], start_new_session=True)
    return job, marker


def wait_for_checkpoint(job, run, iteration):
    deadline = time.monotonic() + TIMEOUT
    while not os.path.isdir(checkpoint.checkpoint_dir(run, iteration)):
        assert job.poll() is None and time.monotonic() < deadline, job.stderr.read()
        time.sleep(0.1)


def roles_with(marker):
    """{pid: DMLC_ROLE} of the Python processes whose environment holds `marker` (the
    launcher's role is None)."""
    roles = {}
    for pid in processes_with(marker):
        roles[pid] = next((variable.split('=', 1)[1] for variable in environ_of(pid)[0] or ()
                           if variable.startswith('DMLC_ROLE=')), None)
    return roles


def kill_what_is_left(job, marker):
    """After a test, whatever happened: no process of the job left to outlive it."""
    if job.poll() is None:
        os.killpg(job.pid, signal.SIGKILL)
    for pid in processes_with(marker):
        os.kill(pid, signal.SIGKILL)


def gone_within(marker, seconds):
    deadline = time.monotonic() + seconds
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    return processes_with(marker)


# The same stop reached two ways.
@pytest.mark.parametrize('to_the_group', [
    pytest.param(False, id='the launcher', marks=in_one_suite('machine')),
    pytest.param(True, id='its group', marks=in_one_suite('newest'))])
def test_sigterm_on_the_launching_host_keeps_the_work_and_ends_every_host(
        ssh_hosts, data, tmp_path, to_the_group):
    """A cluster stops the job on the launching host, the launcher alone or its process group
    (with the scheduler and the ssh clients): the workers, one on each host, stop after the
    same iteration, the chief saves it and prints the launch line with --resume, and no
    process of the job is left on either host."""
    run = str(tmp_path / 'run')
    job, marker = start_job(ssh_hosts, run, data, '--max-iters', '400')
    try:
        wait_for_checkpoint(job, run, 2)
        roles = roles_with(marker)
        assert sorted(map(str, roles.values())) == ['None', 'scheduler', 'server', 'worker',
                                                    'worker'], roles
        workers = [pid for pid, role in roles.items() if role == 'worker']
        assert namespace_of(workers[0]) != namespace_of(workers[1])  # one on each host
        (os.killpg if to_the_group else os.kill)(job.pid, signal.SIGTERM)
        signalled = time.monotonic()
        stdout, stderr = job.communicate(timeout=TIMEOUT)
        took = time.monotonic() - signalled
        left = gone_within(marker, 15)
    finally:
        kill_what_is_left(job, marker)
    assert not left, left
    assert took < 30, took
    assert job.returncode == 130, stderr
    assert 'Traceback' not in stdout + stderr, stdout + stderr
    _, state = checkpoint.open_checkpoint(run, str)
    reached = state['global_iteration']
    stopped = [line for line in stdout.splitlines() if line.startswith('Stopped at')]
    assert len(stopped) == 1, stdout
    assert stopped[0].startswith('Stopped at iteration %d; checkpoint saved. Continue with: '
                                 'python launch.py -n 2 -s 1 -H %s --launcher ssh --host-ip %s '
                                 % (reached, ssh_hosts[1], HOSTS[next(iter(HOSTS))]))
    assert '--resume %s' % run in stopped[0]


@in_one_suite('machine')
def test_a_killed_worker_leaves_no_server_on_either_host(ssh_hosts, data, tmp_path):
    run = str(tmp_path / 'run')
    job, marker = start_job(ssh_hosts, run, data, '--max-iters', '400', '--stall-timeout', '10')
    try:
        wait_for_checkpoint(job, run, 2)
        roles = roles_with(marker)
        victim = next(pid for pid, role in roles.items() if role == 'worker')
        os.kill(victim, signal.SIGKILL)
        stdout, stderr = job.communicate(timeout=TIMEOUT)
        left = gone_within(marker, 15)
    finally:
        kill_what_is_left(job, marker)
    assert job.returncode == 1, stderr
    assert 'was killed by SIGKILL' in stderr or 'exited with code 137' in stderr, stderr
    assert not left, left
