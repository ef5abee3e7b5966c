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


@pytest.fixture
def small_mnist(tmp_path):
    """A folder of small MNIST files for one test."""
    return write_small_mnist(tmp_path / 'mnist')


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
    """A folder of small MNIST files shared by a test module's runs, as a str."""
    return str(write_small_mnist(tmp_path_factory.mktemp('data') / 'mnist'))
