"""The scorer's classifier: its inputs, its recipe, and the shipped weights."""
import os
import subprocess
import sys

import numpy as np
import pytest

import train_classifier
from dcgan import checkpoint, lenet, mnist
from dcgan.framework import mx
from helpers import REPO, in_one_suite

pytestmark = in_one_suite('gpu-box')  # MXNet's arithmetic


def test_classifier_input_is_grey_28_by_28_in_the_unit_range():
    batch = np.random.RandomState(0).uniform(-1.5, 1.5, (4, 3, 64, 64)).astype(np.float32)
    inputs = lenet.classifier_input(batch)
    assert inputs.shape == (4, 1, 28, 28) and inputs.dtype == np.float32
    assert inputs.min() >= 0 and inputs.max() <= 1
    flat = lenet.classifier_input(np.zeros((1, 3, 64, 64), np.float32))
    np.testing.assert_allclose(flat, 0.5)


def test_round_trip_keeps_real_digits_close_to_themselves():
    (images, _), _ = mnist.load_mnist_sets(mnist.DEFAULT_DATA_DIR)
    back = lenet.round_trip(images[:50])[:, 0]
    assert np.mean(np.abs(back - images[:50] / 255.0)) < 0.05


def test_a_briefly_trained_classifier_beats_chance_on_real_digits():
    (train_images, train_labels), (test_images, test_labels) = mnist.load_mnist_sets(
        mnist.DEFAULT_DATA_DIR)
    arg_params, aux_params = train_classifier.train_classifier(
        lenet.round_trip(train_images[:3000]), train_labels[:3000], mx.cpu(), epochs=1)
    classifier = lenet.Classifier(arg_params, aux_params, mx.cpu())
    accuracy = classifier.accuracy(lenet.round_trip(test_images[:500]), test_labels[:500])
    assert accuracy > 0.6  # chance is 0.1
    probabilities, features = classifier.predict(lenet.round_trip(test_images[:3]))
    assert probabilities.shape == (3, 10) and features.shape == (3, lenet.FEATURE_SIZE)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)


def test_the_shipped_classifier_has_its_recorded_hash_and_accuracy():
    classifier = lenet.load_classifier(lenet.SHIPPED, mx.cpu())
    assert classifier.sha256 == lenet.SHIPPED_SHA256
    _, (test_images, test_labels) = mnist.load_mnist_sets(mnist.DEFAULT_DATA_DIR)
    assert len(test_labels) == 10000
    assert classifier.accuracy(lenet.round_trip(test_images), test_labels) == \
        lenet.SHIPPED_TEST_ACCURACY


def test_weights_that_are_not_the_shipped_ones_are_refused(tmp_path):
    changed = tmp_path / 'lenet_mnist.params'
    data = bytearray(open(lenet.SHIPPED, 'rb').read())
    data[-1] ^= 1
    changed.write_bytes(bytes(data))
    with pytest.raises(lenet.ClassifierError) as refused:
        lenet.load_classifier(str(changed), mx.cpu())
    assert str(refused.value).startswith(
        '%s is not the shipped classifier (its SHA-256 is %s, the shipped one\'s %s); restore '
        'it with: git checkout -- ' % (changed, checkpoint.sha256_of(str(changed)),
                                       lenet.SHIPPED_SHA256))


def test_weights_of_another_network_are_refused_by_name(tmp_path):
    path = str(tmp_path / 'other.params')
    checkpoint.save_params(path, {'conv1_weight': mx.nd.zeros((32, 1, 3, 3))})
    with pytest.raises(lenet.ClassifierError) as refused:
        lenet.load_classifier(path, mx.cpu(), expected_sha256=None)
    assert 'lacks' in str(refused.value) and path in str(refused.value)


def test_the_recipe_never_overwrites_a_file(tmp_path):
    existing = tmp_path / 'lenet.params'
    existing.write_bytes(b'mine')
    recipe = os.path.join(REPO, 'tools', 'train_classifier.py')
    result = subprocess.run([sys.executable, recipe, '--train', str(existing)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == ('error: %s exists; give a new path (nothing is '
                                     'overwritten)' % existing)
    assert existing.read_bytes() == b'mine'

