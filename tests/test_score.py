"""The scorer's statistics against hand-computed values, its classifier, and the command;
the generator average; the training health warnings."""
import json
import math
import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

import averaging
import metrics
import mnist
import score
from helpers import REPO, run_program


# ============================== statistics ==============================

def test_inception_score_of_uniform_predictions_is_one():
    mean, std = score.inception_score(np.full((100, 10), 0.1))
    assert mean == pytest.approx(1.0) and std == pytest.approx(0.0)


def test_inception_score_of_confident_even_predictions_is_the_class_count():
    probabilities = np.eye(10)[np.arange(1000) % 10]
    assert score.inception_score(probabilities)[0] == pytest.approx(10.0)
    assert score.inception_score(np.eye(10)[np.zeros(1000, int)])[0] == pytest.approx(1.0)


def test_inception_score_by_hand():
    # Two samples, two classes: p(y|x) = (0.9, 0.1) and (0.1, 0.9); p(y) = (0.5, 0.5).
    p = np.array([[0.9, 0.1], [0.1, 0.9]])
    kl = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)
    assert score.inception_score(p, splits=1)[0] == pytest.approx(math.exp(kl))


def test_frechet_distance_of_identical_sets_is_zero():
    features = np.random.RandomState(0).standard_normal((500, 8))
    assert score.frechet_distance(features, features) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_of_a_shift_is_its_squared_length():
    features = np.random.RandomState(1).standard_normal((400, 5))
    shift = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    assert score.frechet_distance(features, features + shift) == pytest.approx(
        np.sum(shift ** 2), rel=1e-9)


def test_frechet_distance_of_diagonal_covariances():
    # Per axis: variance a vs b gives (sqrt(a) - sqrt(b))^2.
    rng = np.random.RandomState(2)
    base = rng.standard_normal((20000, 3))
    base = (base - base.mean(0)) / base.std(0, ddof=1)  # exactly unit variance, zero mean
    base = base @ np.linalg.inv(np.linalg.cholesky(np.cov(base, rowvar=False))).T
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert score.frechet_distance(base * np.sqrt(a), base * np.sqrt(b)) == pytest.approx(
        expected, rel=1e-6)


def test_kernel_distance_by_hand():
    a = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    b = np.array([[2.0, 0.0], [0.0, 2.0], [1.0, 2.0]])

    def k(x, y):
        return (x @ y / 2 + 1) ** 3

    m = 3
    within_a = sum(k(a[i], a[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    within_b = sum(k(b[i], b[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    across = sum(k(a[i], b[j]) for i in range(m) for j in range(m)) / (m * m)
    mean, std = score.kernel_distance(a, b, subsets=1, subset_size=3)
    assert mean == pytest.approx(within_a + within_b - 2 * across)
    assert std == 0


def test_kernel_distance_is_near_zero_for_one_distribution_and_not_for_two():
    rng = np.random.RandomState(3)
    same = score.kernel_distance(rng.standard_normal((2000, 4)), rng.standard_normal((2000, 4)),
                                 subsets=10, subset_size=500)[0]
    other = score.kernel_distance(rng.standard_normal((2000, 4)),
                                  rng.standard_normal((2000, 4)) + 1, subsets=10,
                                  subset_size=500)[0]
    assert abs(same) < 0.01 and other > 0.1


def test_class_coverage():
    even = np.eye(10)[np.arange(100) % 10] * 0.8 + 0.02
    shares, kl, confidence = score.class_coverage(even)
    np.testing.assert_allclose(shares, 0.1)
    assert kl == pytest.approx(0.0) and confidence == pytest.approx(0.82)
    shares, kl, _ = score.class_coverage(np.eye(10)[np.full(50, 3)])
    assert shares[3] == 1 and kl == pytest.approx(math.log(10))


def test_precision_recall_by_hand():
    real = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]])
    assert score.precision_recall(real, real.copy(), k=1) == (1.0, 1.0)
    assert score.precision_recall(real, real + 100, k=1) == (0.0, 0.0)
    # Real balls reach 1 (each point's nearest neighbour); fakes at 0.5 and 10: one of two in.
    fake = np.array([[0.5], [10.0], [10.5], [11.0]])
    precision, recall = score.precision_recall(real, fake, k=1)
    assert precision == 0.25
    # Fake balls: 0.5 reaches 9.5 (its nearest is 10), so every real lies inside it.
    assert recall == 1.0


# ============================== images and classifier ==============================

def test_classifier_input_is_grey_28_by_28_in_the_unit_range():
    batch = np.random.RandomState(0).uniform(-1.5, 1.5, (4, 3, 64, 64)).astype(np.float32)
    inputs = score.classifier_input(batch)
    assert inputs.shape == (4, 1, 28, 28) and inputs.dtype == np.float32
    assert inputs.min() >= 0 and inputs.max() <= 1
    flat = score.classifier_input(np.zeros((1, 3, 64, 64), np.float32))
    np.testing.assert_allclose(flat, 0.5)


def test_round_trip_keeps_real_digits_close_to_themselves():
    (images, _), _ = mnist.load_mnist_sets(mnist.DEFAULT_DATA_DIR)
    back = score.round_trip(images[:50])[:, 0]
    assert np.mean(np.abs(back - images[:50] / 255.0)) < 0.05


def test_a_briefly_trained_classifier_beats_chance_on_real_digits():
    (train_images, train_labels), (test_images, test_labels) = mnist.load_mnist_sets(
        mnist.DEFAULT_DATA_DIR)
    inputs = score.round_trip(train_images[:3000])
    arg_params, aux_params = score.train_classifier(inputs, train_labels[:3000], mx.cpu(),
                                                    epochs=1)
    classifier = score.Classifier(arg_params, aux_params, mx.cpu())
    accuracy = classifier.accuracy(score.round_trip(test_images[:500]), test_labels[:500])
    assert accuracy > 0.6  # chance is 0.1
    probabilities, features = classifier.predict(score.round_trip(test_images[:3]))
    assert probabilities.shape == (3, 10) and features.shape == (3, score.FEATURE_SIZE)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)


# ============================== the command ==============================

@pytest.fixture(scope='module')
def tiny_classifier(tmp_path_factory):
    """A classifier trained for a few batches, cached where score.py can be pointed at it."""
    path = str(tmp_path_factory.mktemp('classifier') / 'lenet.params')
    (train_images, train_labels), _ = mnist.load_mnist_sets(mnist.DEFAULT_DATA_DIR)
    arg_params, aux_params = score.train_classifier(score.round_trip(train_images[:512]),
                                                    train_labels[:512], mx.cpu(), epochs=1)
    mx.nd.save(path, dict({'arg:' + k: v for k, v in arg_params.items()},
                          **{'aux:' + k: v for k, v in aux_params.items()}))
    with open(path + '.json', 'w') as f:
        json.dump({'test_accuracy': 0.5}, f)
    return path


def test_score_command_prints_a_table_and_writes_json(small_mnist, tiny_classifier, tmp_path):
    run = str(tmp_path / 'run')
    result = run_program('--data-dir', str(small_mnist), '--batch-size', '8', '--max-iters',
                         '2', '--seed', '1', '--average-generator', '--output-dir', run)
    assert result.returncode == 0, result.stderr
    out = str(tmp_path / 'score.json')
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, 'score.py'), run, '--num', '10', '--data-dir',
         str(small_mnist), '--classifier', tiny_classifier, '--json', out],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    for heading in ('iteration 2', 'averaged G', 'real digits (floor)', 'untrained G (ceiling)'):
        assert heading in result.stdout
    with open(out) as f:
        report = json.load(f)
    assert list(report['scores']) == ['iteration 2', 'averaged G', 'real digits (floor)',
                                      'untrained G (ceiling)']
    for scores in report['scores'].values():
        assert scores['num_samples'] == 10
        assert len(scores['class_shares']) == 10
        assert sum(scores['class_shares']) == pytest.approx(1.0, abs=1e-3)
        assert 1.0 <= scores['inception_score'] <= 10.0
    assert report['sampling'] == 'BatchNorm in training mode, batches of 8'


def test_score_command_refuses_more_samples_than_test_digits(small_mnist, tiny_classifier,
                                                             tmp_path):
    run = str(tmp_path / 'run')
    assert run_program('--data-dir', str(small_mnist), '--batch-size', '8', '--max-iters', '1',
                       '--output-dir', run).returncode == 0
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, 'score.py'), run, '--num', '50', '--data-dir',
         str(small_mnist), '--classifier', tiny_classifier], capture_output=True, text=True,
        timeout=600)
    assert result.returncode == 1
    assert result.stderr.strip() == ('error: --num 50 is more than the 12 test digits the scores '
                                     'compare with')


# ============================== the generator average ==============================

def test_average_warm_up():
    generator = mx.mod.Module(mx.sym.FullyConnected(mx.sym.Variable('rand'), num_hidden=2,
                                                    name='fc'),
                              data_names=('rand',), label_names=None)
    generator.bind(data_shapes=[('rand', (1, 3))])
    generator.init_params(mx.init.Constant(1.0))
    average = averaging.GeneratorAverage(generator, decay=0.999)
    assert average.current_decay() == pytest.approx(0.1)
    weights = generator._exec_group.param_arrays[0][0]
    weights[:] = 3.0
    average.update(generator)   # 0.1 * 1 + 0.9 * 3
    weights[:] = 5.0
    average.update(generator)   # d = 2/11
    d = 2 / 11
    expected = d * 2.8 + (1 - d) * 5.0
    np.testing.assert_allclose(average.params['fc_weight'].asnumpy(), expected, rtol=1e-6)
    average.updates = 1094
    assert average.current_decay() == pytest.approx(1095 / 1104)
    average.updates = 10 ** 6
    assert average.current_decay() == 0.999


# ============================== health warnings ==============================

def healthy_row(n, accuracy=0.7, loss=1.0):
    return {'global_iteration': n, 'd_loss': loss, 'g_loss': 2.0, 'd_real': 0.6, 'd_fake': 0.4,
            'd_fake_after': 0.4, 'd_acc_real': accuracy, 'd_acc_fake': accuracy}


def test_nan_is_reported_once():
    check = metrics.HealthCheck()
    assert check.check(healthy_row(1)) == []
    row = dict(healthy_row(2), g_loss=float('nan'))
    assert check.check(row) == ['iteration 2: NaN or inf in the losses or in D\'s outputs; '
                                'training has diverged']
    assert check.check(dict(healthy_row(3), d_real=float('inf'))) == []


def test_a_discriminator_that_wins_outright_is_reported_once_a_stretch():
    check = metrics.HealthCheck()
    warnings = [w for n in range(1, 151) for w in check.check(healthy_row(n, accuracy=1.0))]
    assert len(warnings) == 1 and warnings[0].startswith('iterations 1-100: the discriminator '
                                                         'wins outright (accuracy 1.000')
    warnings = [w for n in range(151, 400) for w in check.check(healthy_row(n))]
    assert warnings == []
    warnings = [w for n in range(400, 520) for w in check.check(healthy_row(n, loss=0.001))]
    assert len(warnings) == 1 and warnings[0].startswith('iterations 400-499')
