"""Fixtures, and the repository (and tools/) on sys.path so tests import its modules as the
programs do."""
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, 'tools')]

# First, as in the programs: refuses an unsupported Python in one line, sets the thread
# defaults before MXNet loads, and gives numpy back the aliases MXNet uses.
from dcgan import mxnet_setup  # noqa: E402,F401

import pytest  # noqa: E402

from helpers import write_small_mnist  # noqa: E402


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


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
    """A folder of small MNIST files shared by a test module's runs, as a str."""
    return str(write_small_mnist(tmp_path_factory.mktemp('data') / 'mnist'))
