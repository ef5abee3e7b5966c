"""MNIST: reading IDX files, their errors, fetching, and the tutorial's preparation."""
import gzip
import hashlib
import os

import numpy as np
import pytest

import benchmark_contenders
from dcgan import mnist
from helpers import REPO, SHARED_MNIST, digit_like_images, idx_bytes, write_idx


# ============================== reading ==============================

@pytest.mark.parametrize('name', ['images-idx3-ubyte', 'images-idx3-ubyte.gz'])
def test_read_idx_roundtrip_raw_and_gzip(tmp_path, name):
    images = digit_like_images(5, seed=3)
    path = write_idx(str(tmp_path / name), images)
    read = mnist.read_idx(path)
    assert read.dtype == np.uint8
    np.testing.assert_array_equal(read, images)


def test_read_idx_of_labels(tmp_path):
    path = write_idx(str(tmp_path / 'labels'), np.array([3, 1, 4, 1, 5]))
    np.testing.assert_array_equal(mnist.read_idx(path), [3, 1, 4, 1, 5])


def write_bytes(path, data):
    with open(path, 'wb') as f:
        f.write(data)
    return str(path)


@pytest.mark.parametrize('data, message', [
    (idx_bytes(np.zeros((3, 28, 28)))[:-10], 'truncated: its header promises 2352 bytes of data, '
                                             'it holds 2342'),
    (idx_bytes(np.zeros((3, 28, 28))) + b'\x00', 'corrupt: its header promises 2352 bytes'),
    (idx_bytes(np.zeros((3, 28, 28)))[:10], 'truncated: its header is incomplete'),
    (b'\x00\x00\x0d\x03' + bytes(100), 'not an IDX file of unsigned bytes'),
    (b'PK\x03\x04 a zip file', 'not an IDX file of unsigned bytes'),
    (b'', 'not an IDX file of unsigned bytes'),
])
def test_bad_raw_files_name_the_file_and_the_problem(tmp_path, data, message):
    path = write_bytes(tmp_path / 'train-images-idx3-ubyte', data)
    with pytest.raises(mnist.MnistDataError) as error:
        mnist.read_idx(path)
    assert str(error.value).startswith(path + ' is ')
    assert message in str(error.value)


def test_truncated_gzip_names_the_file(tmp_path):
    compressed = gzip.compress(idx_bytes(np.zeros((3, 28, 28))))
    path = write_bytes(tmp_path / 'train-images-idx3-ubyte.gz', compressed[:len(compressed) // 2])
    with pytest.raises(mnist.MnistDataError, match='train-images-idx3-ubyte.gz is unreadable or '
                                                   'not valid gzip'):
        mnist.read_idx(path)


def test_corrupt_gzip_names_the_file(tmp_path):
    compressed = bytearray(gzip.compress(idx_bytes(np.arange(2000) % 256)))
    compressed[20:40] = b'\xff' * 20
    path = write_bytes(tmp_path / 't10k-labels-idx1-ubyte.gz', bytes(compressed))
    with pytest.raises(mnist.MnistDataError, match='t10k-labels-idx1-ubyte.gz is unreadable'):
        mnist.read_idx(path)


def test_not_gzip_at_all_names_the_file(tmp_path):
    path = write_bytes(tmp_path / 'train-labels-idx1-ubyte.gz', b'plain text, not gzip')
    with pytest.raises(mnist.MnistDataError, match='train-labels-idx1-ubyte.gz is unreadable'):
        mnist.read_idx(path)


# ============================== loading a folder ==============================

def test_load_mnist_puts_training_images_first(small_mnist):
    images, labels = mnist.load_mnist(str(small_mnist))
    assert images.shape == (52, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[:40], digit_like_images(40, seed=0))
    np.testing.assert_array_equal(images[40:], digit_like_images(12, seed=1))
    np.testing.assert_array_equal(labels, np.concatenate([np.arange(40), np.arange(12)]) % 10)


def test_load_mnist_accepts_raw_files(small_mnist):
    path = str(small_mnist / 't10k-images-idx3-ubyte.gz')
    with gzip.open(path) as f:
        write_bytes(path[:-3], f.read())
    os.remove(path)
    images, _ = mnist.load_mnist(str(small_mnist))
    assert images.shape == (52, 28, 28)


def test_missing_files_are_listed(small_mnist):
    os.remove(small_mnist / 'train-labels-idx1-ubyte.gz')
    os.remove(small_mnist / 't10k-images-idx3-ubyte.gz')
    with pytest.raises(mnist.MnistDataError) as error:
        mnist.load_mnist(str(small_mnist))
    assert str(error.value) == '%s lacks train-labels-idx1-ubyte, t10k-images-idx3-ubyte' % (
        small_mnist)


def test_images_and_labels_must_agree(small_mnist):
    write_idx(str(small_mnist / 'train-labels-idx1-ubyte.gz'), np.zeros(39))
    with pytest.raises(mnist.MnistDataError, match='holds 40 images but '
                                                   'train-labels-idx1-ubyte holds 39 labels'):
        mnist.load_mnist(str(small_mnist))


def test_images_must_be_28_by_28(small_mnist):
    write_idx(str(small_mnist / 't10k-images-idx3-ubyte.gz'), np.zeros((12, 32, 32)))
    with pytest.raises(mnist.MnistDataError, match='shape 12x32x32, not N x 28 x 28'):
        mnist.load_mnist(str(small_mnist))


def test_default_data_dir_prefers_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv('MNIST_DIR', raising=False)
    assert mnist.default_data_dir() == os.path.join(REPO, 'data', 'mnist')
    monkeypatch.setenv('MNIST_DIR', str(tmp_path))
    assert mnist.default_data_dir() == str(tmp_path)


# ============================== fetching ==============================

def test_download_happens_when_files_are_missing(monkeypatch, tmp_path, small_mnist):
    target = tmp_path / 'empty'

    def fake_download(data_dir):
        os.makedirs(data_dir)
        for name in os.listdir(small_mnist):
            os.link(small_mnist / name, os.path.join(data_dir, name))

    monkeypatch.setattr(mnist, 'download_mnist', fake_download)
    images, _ = mnist.load_or_download_mnist(str(target))
    assert images.shape == (52, 28, 28)


def test_no_download_when_files_are_there(monkeypatch, small_mnist):
    monkeypatch.setattr(mnist, 'download_mnist', lambda data_dir: pytest.fail('downloaded'))
    assert mnist.load_or_download_mnist(str(small_mnist))[0].shape == (52, 28, 28)


def test_failed_download_says_where_to_put_the_files(monkeypatch, tmp_path):
    # Port 9 on loopback refuses at once: no traffic leaves the machine.
    monkeypatch.setenv('MXNET_GLUON_REPO', 'http://127.0.0.1:9/')
    target = str(tmp_path / 'nowhere')
    with pytest.raises(mnist.MnistDataError) as error:
        mnist.load_or_download_mnist(target)
    message = str(error.value)
    assert message.startswith('MNIST is not in %s and could not be downloaded' % target)
    assert 'Put the four files train-images-idx3-ubyte, train-labels-idx1-ubyte, ' \
           't10k-images-idx3-ubyte, t10k-labels-idx1-ubyte' in message
    assert '\n' not in message


# ============================== preparation ==============================

def all_batches(batches):
    return [(batch.data[0].asnumpy(), batch.pad) for batch in batches]


def test_batches_equal_the_tutorials_value_for_value():
    """The tutorial's NDArrayIter over its fully prepared array (as the benchmark's tutorial
    as shipped prepares it), batch for batch, pad included, against batches prepared on
    demand."""
    images = np.random.RandomState(5).randint(0, 256, size=(150, 28, 28)).astype(np.uint8)
    tutorial = all_batches(benchmark_contenders.tutorial_preparation(images, 32))
    ours = all_batches(mnist.MnistBatches(images, 32, 64))
    assert len(ours) == len(tutorial) == 5
    for (data, pad), (expected, expected_pad) in zip(ours, tutorial):
        assert data.dtype == np.float32 and data.shape == (32, 3, 64, 64)
        assert pad == expected_pad
        np.testing.assert_array_equal(data, expected)
    assert ours[-1][1] == 10  # 150 = 4 * 32 + 22: the last batch takes 10 from the start


def test_batches_shape_range_channels_and_order():
    images = digit_like_images(20, seed=2)
    images[:, 0, 0] = np.arange(20) * 10  # a marker pixel to follow each image
    batches = mnist.MnistBatches(images, 20, 64)
    assert batches.provide_data == [('data', (20, 3, 64, 64))] and batches.provide_label == []
    (prepared, pad), = all_batches(batches)
    assert pad == 0 and prepared.min() == -1.0 and prepared.max() <= 1.0
    np.testing.assert_array_equal(prepared[:, 0], prepared[:, 1])
    np.testing.assert_array_equal(prepared[:, 0], prepared[:, 2])
    order = np.random.RandomState(1).permutation(20)
    np.testing.assert_allclose(prepared[:, 0, 0, 0], images[order, 0, 0] / 127.5 - 1, atol=1e-6)


def test_batches_reset_and_skip():
    images = digit_like_images(40, seed=4)
    batches = mnist.MnistBatches(images, 8, 64)
    first_pass = all_batches(batches)
    assert len(first_pass) == 5 and len(all_batches(batches)) == 0
    batches.reset()
    batches.skip(3)
    np.testing.assert_array_equal(batches.next().data[0].asnumpy(), first_pass[3][0])


def test_order_is_the_tutorials_seeded_permutation():
    np.random.seed(1)
    expected = np.random.permutation(70000)
    np.testing.assert_array_equal(mnist.shuffle_order(70000), expected)


# ============================== the real data ==============================

def md5_of_uncompressed(path):
    with gzip.open(path) as f:
        return hashlib.md5(f.read()).hexdigest()


def test_shipped_copy_is_the_real_mnist():
    """data/mnist holds the standard files; the sums are those published with MNIST."""
    expected = {
        'train-images-idx3-ubyte': '6bbc9ace898e44ae57da46a324031adb',
        'train-labels-idx1-ubyte': 'a25bea736e30d166cdddb491f175f624',
        't10k-images-idx3-ubyte': '2646ac647ad5339dbf082846283269ea',
        't10k-labels-idx1-ubyte': '27ae3e4e09519cfbb04c329615203637',
    }
    for name, digest in expected.items():
        assert md5_of_uncompressed(os.path.join(mnist.DEFAULT_DATA_DIR, name + '.gz')) == digest


@pytest.mark.skipif(not os.path.isdir(SHARED_MNIST), reason='../shared/data/mnist is absent')
def test_real_mnist_loads_as_70000_images():
    images, labels = mnist.load_mnist(SHARED_MNIST)
    assert images.shape == (70000, 28, 28) and labels.shape == (70000,)
    assert set(np.unique(labels)) == set(range(10))
    assert images.max() == 255 and images.min() == 0
