"""Fixtures, and the repository on sys.path so tests import its modules as the program does."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# First, as in the programs: refuses an unsupported Python in one line, sets the thread
# defaults before MXNet loads, and gives numpy back the aliases MXNet uses.
import mxnet_setup  # noqa: E402,F401

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers import digit_like_images, write_idx  # noqa: E402


@pytest.fixture
def small_mnist(tmp_path):
    """A folder with the four MNIST files, gzip, holding 40 training and 12 test images."""
    folder = tmp_path / 'mnist'
    folder.mkdir()
    sets = {'train': digit_like_images(40, seed=0), 't10k': digit_like_images(12, seed=1)}
    for prefix, images in sets.items():
        write_idx(str(folder / ('%s-images-idx3-ubyte.gz' % prefix)), images)
        write_idx(str(folder / ('%s-labels-idx1-ubyte.gz' % prefix)),
                  np.arange(len(images)) % 10)
    return folder
