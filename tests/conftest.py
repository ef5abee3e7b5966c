"""Fixtures, and the repository on sys.path so tests import its modules as the program does."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# First, as in the programs: refuses an unsupported Python in one line, sets the thread
# defaults before MXNet loads, and gives numpy back the aliases MXNet uses.
import mxnet_setup  # noqa: E402,F401

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
