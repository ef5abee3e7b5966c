"""Fixtures, and the repository (and tools/) on sys.path so tests import its modules as the
programs do."""
import importlib.metadata
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
import zipfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, 'tools')]

# First, as in the programs: refuses an unsupported Python in one line, sets the thread
# defaults before MXNet loads, and gives numpy back the aliases MXNet uses.
from dcgan import mxnet_setup  # noqa: E402,F401

import pytest  # noqa: E402

from dcgan import gpu_code  # noqa: E402
from helpers import HOSTS, VETH, processes_with, write_small_mnist  # noqa: E402


@pytest.fixture(scope='session', autouse=True)
def image_cache(tmp_path_factory):
    """Folders the tests train on are packed here (and by the programs they run), not in the
    repository's data/image_cache."""
    from dcgan import own_images
    folder = str(tmp_path_factory.mktemp('image_cache'))
    os.environ[own_images.CACHE_ENV] = folder
    return folder


@pytest.fixture
def small_mnist(tmp_path):
    """A folder of small MNIST files for one test."""
    return write_small_mnist(tmp_path / 'mnist')


@pytest.fixture(scope='session')
def straight_run(tmp_path_factory):
    """Two epochs of a small run without a stop (helpers.train_small), once a suite: the
    reference resumed runs must equal, and a run to sample from."""
    from helpers import train_small
    data = str(write_small_mnist(tmp_path_factory.mktemp('straight-data') / 'mnist'))
    out = str(tmp_path_factory.mktemp('straight') / 'run')
    train_small(data, '--epochs', '2', '--vis-every', '100', '--output-dir', out)
    return out


@pytest.fixture(scope='session')
def small_export(tmp_path_factory):
    """(run, model): helpers.run_and_export once a suite, for the modules that only read them
    (the looks inside, projection, the page)."""
    from helpers import run_and_export
    data = str(write_small_mnist(tmp_path_factory.mktemp('export-data') / 'mnist'))
    return run_and_export(data, tmp_path_factory.mktemp('export'))


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
    """A folder of small MNIST files shared by a test module's runs, as a str."""
    return str(write_small_mnist(tmp_path_factory.mktemp('data') / 'mnist'))


GPU_WHEEL = 'mxnet-cu112==1.9.1'


def installed_gpu_wheel_library():
    """The installed libmxnet.so when the installed MXNet is mxnet-cu112 1.9.1 (a GPU box's
    requirements.txt), else None."""
    name, version = GPU_WHEEL.split('==')
    try:
        installed = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    return gpu_code.installed_library() if installed == version else None


@pytest.fixture(scope='session')
def gpu_wheel_library(tmp_path_factory):
    """libmxnet.so of the real mxnet-cu112 1.9.1 wheel (891 MB): the one CI names
    (DCGAN_GPU_LIBRARY, its GPU-box venv's), the installed one on a GPU box, or out of the
    wheel pip downloads here (skipped when pip cannot)."""
    given = os.environ.get('DCGAN_GPU_LIBRARY') or installed_gpu_wheel_library()
    if given:
        yield given
        return
    folder = tmp_path_factory.mktemp('gpu-wheel')
    got = subprocess.run([sys.executable, '-m', 'pip', 'download', '--quiet', '--no-deps',
                          '--dest', str(folder), GPU_WHEEL], capture_output=True, text=True,
                         timeout=1200)
    wheels = [name for name in os.listdir(folder) if name.endswith('.whl')]
    if got.returncode != 0 or not wheels:
        why = (got.stderr.strip() or 'no wheel').splitlines()[-1]
        pytest.skip('pip could not download %s: %s' % (GPU_WHEEL, why))
    library = folder / 'libmxnet.so'
    with zipfile.ZipFile(folder / wheels[0]) as archive, \
            archive.open('mxnet/libmxnet.so') as packed, open(library, 'wb') as unpacked:
        shutil.copyfileobj(packed, unpacked, 1 << 24)
    os.remove(folder / wheels[0])
    yield str(library)
    os.remove(library)


# ============================== two hosts ==============================

def ip(*args):
    return subprocess.run(['ip'] + list(args), capture_output=True, text=True)


def remove_namespaces(names):
    """Kill whatever still runs inside the namespaces `names` (a test's scheduler waits for
    ever once its workers are gone, and ignores SIGTERM), then delete them."""
    for name in names:
        pids = ip('netns', 'pids', name).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        ip('netns', 'del', name)


@pytest.fixture
def two_hosts():
    """Two network namespaces joined by a veth pair, each with its own address: two hosts
    on one machine. Traffic between them stays on this private link. Nothing started inside
    them outlives the test."""
    a, b = HOSTS
    remove_namespaces(HOSTS)
    va, vb = VETH
    steps = [('netns', 'add', a), ('netns', 'add', b),
             ('link', 'add', va, 'type', 'veth', 'peer', 'name', vb),
             ('link', 'set', va, 'netns', a), ('link', 'set', vb, 'netns', b),
             ('-n', a, 'addr', 'add', HOSTS[a] + '/24', 'dev', va),
             ('-n', b, 'addr', 'add', HOSTS[b] + '/24', 'dev', vb),
             ('-n', a, 'link', 'set', va, 'up'), ('-n', b, 'link', 'set', vb, 'up'),
             ('-n', a, 'link', 'set', 'lo', 'up'), ('-n', b, 'link', 'set', 'lo', 'up')]
    for step in steps:
        done = ip(*step)
        if done.returncode != 0:
            remove_namespaces(HOSTS)
            pytest.skip('cannot make network namespaces here (ip %s: %s)'
                        % (' '.join(step), done.stderr.strip()))
    yield HOSTS
    remove_namespaces(HOSTS)


# ============================== no process left behind ==============================

# Every process the tests start inherits this variable (set here, before any starts), so that
# whatever is still alive when the suite ends can be found, named and ended: a test that
# leaves a process behind fails the suite. Processes started over ssh do not inherit it; they
# run in the two hosts' namespaces, which end with their fixture.
TEST_RUN = 'DCGAN_TEST_RUN'
LINGER_SECONDS = 10  # a process killed by a teardown may take a moment to be gone


def pytest_configure(config):
    os.environ[TEST_RUN] = uuid.uuid4().hex
    # Started in the background by a shell without job control (CI's suites side by side),
    # Python inherits SIGINT ignored, and so would every process a test starts: the tests run
    # as from a terminal, where Ctrl-C is Python's KeyboardInterrupt.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def left_behind():
    marker = '%s=%s' % (TEST_RUN, os.environ[TEST_RUN])
    return [pid for pid in processes_with(marker, python_only=False) if pid != os.getpid()]


def pytest_sessionfinish(session, exitstatus):
    deadline = time.monotonic() + LINGER_SECONDS
    while left_behind() and time.monotonic() < deadline:
        time.sleep(0.2)
    left = left_behind()
    if not left:
        return
    for pid in left:
        try:
            with open('/proc/%d/cmdline' % pid, 'rb') as f:
                command = f.read().replace(b'\0', b' ').decode(errors='replace').strip()
            os.kill(pid, signal.SIGKILL)
        except OSError:
            continue
        print('\nleft behind by the tests, now killed: pid %d: %s' % (pid, command[:200]),
              file=sys.stderr)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
