"""RandIter: shapes, dtype, iteration protocol, reproducibility and the noise's statistics."""
import numpy as np

from dcgan.framework import mx
from rand_iter import RandIter


def test_provides_rand_with_no_label():
    noise = RandIter(64, 100)
    assert noise.provide_data == [('rand', (64, 100, 1, 1))]
    assert noise.provide_data[0].name == 'rand'
    assert noise.provide_label == []


def test_next_gives_a_float32_batch_of_the_declared_shape():
    batch = RandIter(5, 7).next()
    assert len(batch.data) == 1
    assert batch.data[0].shape == (5, 7, 1, 1)
    assert batch.data[0].dtype == np.float32
    assert batch.label == [] and batch.pad == 0


def test_batches_differ_from_each_other():
    noise = RandIter(4, 10)
    first, second = noise.next().data[0].asnumpy(), noise.next().data[0].asnumpy()
    assert not np.array_equal(first, second)


def test_is_endless_by_default():
    noise = RandIter(2, 3)
    for _ in range(1000):
        noise.next()
    assert noise.batches_served == 1000


def test_for_loop_stops_after_num_batches_and_reset_starts_again():
    noise = RandIter(2, 3, num_batches=3)
    assert len([batch for batch in noise]) == 3
    assert len(list(noise)) == 0
    noise.reset()
    shapes = [batch.data[0].shape for batch in noise]
    assert shapes == [(2, 3, 1, 1)] * 3


def test_reproducible_under_mx_random_seed():
    def draw(seed):
        mx.random.seed(seed)
        noise = RandIter(3, 5)
        return [noise.next().data[0].asnumpy() for _ in range(2)]

    first, again, other = draw(42), draw(42), draw(43)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])


def test_noise_is_standard_normal_on_a_large_draw():
    mx.random.seed(7)
    sample = RandIter(1000, 100).next().data[0].asnumpy().ravel()  # 100,000 values
    assert abs(sample.mean()) < 0.02        # standard error 0.003
    assert abs(sample.std() - 1.0) < 0.02
    assert abs(np.mean(np.abs(sample) < 1.0) - 0.6827) < 0.01


def test_noise_lands_on_the_requested_context():
    batch = RandIter(2, 3, ctx=mx.cpu(1)).next()
    assert batch.data[0].context == mx.cpu(1)
