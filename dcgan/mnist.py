"""MNIST for the DCGAN: reading the four IDX files, fetching them, and the tutorial's preparation.

The tutorial's preparation, step by step (`MnistBatches` reproduces it value for value):
all 70,000 images, training set first; shuffled with `np.random.seed(1)` and one permutation;
each 28x28 image resized to 64x64 by `cv2.resize` (bilinear, on float64 pixels 0..255);
scaled by `x / (255 / 2) - 1` to [-1, 1] in float32; copied into three equal channels.
"""
import contextlib
import gzip
import io
import os
import struct
import zlib

import cv2
import numpy as np

from dcgan import MNIST_DIR_ENV, REPOSITORY
from dcgan.batches import ORDER_SEED
from dcgan.errors import UserError

FILES = {
    'train_images': 'train-images-idx3-ubyte',
    'train_labels': 'train-labels-idx1-ubyte',
    'test_images': 't10k-images-idx3-ubyte',
    'test_labels': 't10k-labels-idx1-ubyte',
}
DEFAULT_DATA_DIR = os.path.join(REPOSITORY, 'data', 'mnist')

SOURCE_SIZE = 28          # MNIST images are 28x28
IDX_UBYTE = 0x08          # the IDX type code for unsigned bytes, the only one MNIST uses
PREPARE_CHUNK = 4096      # images prepared at a time where many are, to bound memory


class MnistDataError(UserError):
    """A data file is missing, unreadable or not what it should be; the message says which."""


def default_data_dir():
    """The `MNIST_DIR` environment variable when set, else the copy shipped in data/mnist."""
    return os.environ.get(MNIST_DIR_ENV) or DEFAULT_DATA_DIR


# ============================== IDX files ==============================

def find_file(data_dir, name):
    """The path of `name` or `name.gz` in `data_dir`, or None when neither exists."""
    for candidate in (name, name + '.gz'):
        path = os.path.join(data_dir, candidate)
        if os.path.isfile(path):
            return path
    return None


def read_idx(path):
    """Read an IDX file of unsigned bytes (raw or gzip) into a uint8 array of its shape.

    Raises MnistDataError, naming the file, for a bad gzip stream, a wrong magic number, or a
    payload that is shorter or longer than the header promises.
    """
    try:
        if path.endswith('.gz'):
            with gzip.open(path, 'rb') as f:
                raw = f.read()
        else:
            with open(path, 'rb') as f:
                raw = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise MnistDataError('%s is unreadable or not valid gzip (%s)' % (path, e)) from None

    if len(raw) < 4 or raw[0:2] != b'\x00\x00' or raw[2] != IDX_UBYTE or raw[3] == 0:
        raise MnistDataError('%s is not an IDX file of unsigned bytes (bad magic number)' % path)
    ndim = raw[3]
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise MnistDataError('%s is truncated: its header is incomplete' % path)
    shape = struct.unpack('>%dI' % ndim, raw[4:header_size])
    expected = int(np.prod(shape, dtype=np.int64))
    found = len(raw) - header_size
    if found != expected:
        raise MnistDataError('%s is %s: its header promises %d bytes of data, it holds %d'
                             % (path, 'truncated' if found < expected else 'corrupt',
                                expected, found))
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def _read_pair(data_dir, images_key, labels_key):
    images = read_idx(find_file(data_dir, FILES[images_key]))
    labels = read_idx(find_file(data_dir, FILES[labels_key]))
    name = FILES[images_key]
    if images.ndim != 3 or images.shape[1:] != (SOURCE_SIZE, SOURCE_SIZE):
        raise MnistDataError('%s holds images of shape %s, not N x 28 x 28'
                             % (name, 'x'.join(map(str, images.shape))))
    if labels.shape != (len(images),):
        raise MnistDataError('%s holds %d images but %s holds %s labels'
                             % (name, len(images), FILES[labels_key], labels.shape[0]))
    return images, labels


def missing_files(data_dir):
    """The standard names of the MNIST files absent from `data_dir` (raw or .gz)."""
    return [name for name in FILES.values() if find_file(data_dir, name) is None]


def load_mnist_sets(data_dir):
    """MNIST's two sets, ((train images, labels), (test images, labels)), images uint8 N x 28 x 28."""
    missing = missing_files(data_dir)
    if missing:
        raise MnistDataError('%s lacks %s' % (data_dir, ', '.join(missing)))
    return (_read_pair(data_dir, 'train_images', 'train_labels'),
            _read_pair(data_dir, 'test_images', 'test_labels'))


def load_mnist(data_dir):
    """All of MNIST as (images uint8 (N, 28, 28), labels uint8 (N,)), training set first."""
    (train_images, train_labels), (test_images, test_labels) = load_mnist_sets(data_dir)
    return (np.concatenate([train_images, test_images]),
            np.concatenate([train_labels, test_labels]))


# ============================== fetching ==============================

def download_mnist(data_dir):
    """Fetch the four gzip files into `data_dir` with MXNet's gluon MNIST dataset.

    Gluon checks each file's SHA-1. Its retry chatter is swallowed: on failure the caller gets
    one MnistDataError that says where to put the files by hand.
    """
    import mxnet as mx  # only needed here, and importing it is slow
    chatter = io.StringIO()
    try:
        with contextlib.redirect_stdout(chatter):
            for train in (True, False):
                mx.gluon.data.vision.MNIST(root=data_dir, train=train)
    except Exception as e:  # gluon raises whatever requests or the file system raised
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise MnistDataError(
            'MNIST is not in %s and could not be downloaded (%s: %s). Put the four files %s '
            '(raw or .gz) there, or point --data-dir or %s at a folder that has them'
            % (data_dir, type(e).__name__, reason[:200], ', '.join(FILES.values()),
               MNIST_DIR_ENV)) from None


def load_or_download_mnist(data_dir, download=True):
    """`load_mnist(data_dir)`, first downloading the files when any of them is missing."""
    if download and missing_files(data_dir):
        download_mnist(data_dir)
    return load_mnist(data_dir)


# ============================== the tutorial's preparation ==============================

def shuffle_order(count, seed=ORDER_SEED):
    """The tutorial's image order: the permutation `np.random.seed(seed)` would be followed by.

    A private RandomState gives the same permutation without resetting numpy's global state.
    """
    return np.random.RandomState(seed).permutation(count)


def prepare_chunk(images, size):
    """uint8 (n, 28, 28) to float32 (n, 3, size, size) in [-1, 1], exactly as the tutorial.

    The tutorial holds the pixels as float64 when it resizes, so this does too: resizing the
    uint8 pixels would round the bilinear values and change the data.
    """
    resized = np.asarray([cv2.resize(image.astype(np.float64), (size, size)) for image in images])
    scaled = resized.astype(np.float32) / (255.0 / 2) - 1.0
    return np.repeat(scaled[:, np.newaxis], 3, axis=1)


# ============================== batches on demand ==============================

class MnistBatches:
    """The tutorial's `NDArrayIter(X, batch_size)` over the prepared images, without X: a
    batches.Batches.

    The tutorial prepares all 70,000 images up front: a 3.4 GB float32 array and about 20 s.
    This keeps the 55 MB of 28x28 bytes and prepares each batch of 64 when it is asked for
    (about 20 ms), with the same per-image arithmetic, so every batch equals the tutorial's
    value for value. The order is the tutorial's permutation and, as NDArrayIter's default
    `last_batch_handle='pad'` does, the last batch is completed from the start of the data
    and says so in its `pad`.
    """

    def __init__(self, images, batch_size, size, seed=ORDER_SEED, shard=(0, 1)):
        from dcgan.framework import mx  # this module's readers and preparation do not need it
        self._mx = mx
        self.images = images
        self.batch_size = batch_size
        self.size = size
        # Worker k of n (distributed training) takes every n-th image of the order from the
        # k-th on, all workers the same number, so that they run the same number of batches.
        worker, workers = shard
        self.order = shuffle_order(len(images), seed)[worker::workers][:len(images) // workers]
        self.num_data = len(self.order)
        self.provide_data = [mx.io.DataDesc('data', (batch_size, 3, size, size))]
        self.provide_label = []
        self.cursor = 0

    def __iter__(self):
        return self

    def reset(self):
        self.cursor = 0

    def skip(self, batches):
        """Move past `batches` batches without preparing them (a resumed run's way back)."""
        self.cursor += batches * self.batch_size

    def __next__(self):
        if self.cursor >= self.num_data:
            raise StopIteration
        indices = self.order[self.cursor:self.cursor + self.batch_size]
        pad = self.batch_size - len(indices)
        if pad:
            indices = np.concatenate([indices, self.order[:pad]])
        self.cursor += self.batch_size
        batch = prepare_chunk(self.images[indices], self.size)
        return self._mx.io.DataBatch(data=[self._mx.nd.array(batch)], label=[], pad=pad)

    next = __next__
