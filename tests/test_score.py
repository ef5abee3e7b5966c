"""The scorer's statistics against hand-computed values, its classifier, and the command;
the generator average; the training health warnings."""
import csv
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import train_classifier
from dcgan import averaging, checkpoint, health, lenet, mnist, scoring
from dcgan.framework import mx
from helpers import ON_CPU, REPO, headless_env, in_one_suite, run_program


# ============================== statistics ==============================

def test_inception_score_of_uniform_predictions_is_one():
    mean, std = scoring.inception_score(np.full((100, 10), 0.1))
    assert mean == pytest.approx(1.0) and std == pytest.approx(0.0)


def test_inception_score_of_confident_even_predictions_is_the_class_count():
    probabilities = np.eye(10)[np.arange(1000) % 10]
    assert scoring.inception_score(probabilities)[0] == pytest.approx(10.0)
    assert scoring.inception_score(np.eye(10)[np.zeros(1000, int)])[0] == pytest.approx(1.0)


def test_inception_score_by_hand():
    # Two samples, two classes: p(y|x) = (0.9, 0.1) and (0.1, 0.9); p(y) = (0.5, 0.5).
    p = np.array([[0.9, 0.1], [0.1, 0.9]])
    kl = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)
    assert scoring.inception_score(p, splits=1)[0] == pytest.approx(math.exp(kl))


def test_frechet_distance_of_identical_sets_is_zero():
    features = np.random.RandomState(0).standard_normal((500, 8))
    assert scoring.frechet_distance(features, features) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_of_a_shift_is_its_squared_length():
    features = np.random.RandomState(1).standard_normal((400, 5))
    shift = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    assert scoring.frechet_distance(features, features + shift) == pytest.approx(
        np.sum(shift ** 2), rel=1e-9)


def test_frechet_distance_of_diagonal_covariances():
    # Per axis: variance a vs b gives (sqrt(a) - sqrt(b))^2.
    rng = np.random.RandomState(2)
    base = rng.standard_normal((20000, 3))
    base = (base - base.mean(0)) / base.std(0, ddof=1)  # exactly unit variance, zero mean
    base = base @ np.linalg.inv(np.linalg.cholesky(np.cov(base, rowvar=False))).T
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert scoring.frechet_distance(base * np.sqrt(a), base * np.sqrt(b)) == pytest.approx(
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
    mean, std = scoring.kernel_distance(a, b, subsets=1, subset_size=3)
    assert mean == pytest.approx(within_a + within_b - 2 * across)
    assert std == 0


def test_kernel_distance_is_near_zero_for_one_distribution_and_not_for_two():
    rng = np.random.RandomState(3)
    same = scoring.kernel_distance(rng.standard_normal((2000, 4)), rng.standard_normal((2000, 4)),
                                 subsets=10, subset_size=500)[0]
    other = scoring.kernel_distance(rng.standard_normal((2000, 4)),
                                  rng.standard_normal((2000, 4)) + 1, subsets=10,
                                  subset_size=500)[0]
    assert abs(same) < 0.01 and other > 0.1


def test_class_coverage():
    even = np.eye(10)[np.arange(100) % 10] * 0.8 + 0.02
    shares, kl, confidence = scoring.class_coverage(even)
    np.testing.assert_allclose(shares, 0.1)
    assert kl == pytest.approx(0.0) and confidence == pytest.approx(0.82)
    shares, kl, _ = scoring.class_coverage(np.eye(10)[np.full(50, 3)])
    assert shares[3] == 1 and kl == pytest.approx(math.log(10))


def test_precision_recall_by_hand():
    real = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]])
    assert scoring.precision_recall(real, real.copy(), k=1) == (1.0, 1.0)
    assert scoring.precision_recall(real, real + 100, k=1) == (0.0, 0.0)
    # Real balls reach 1 (each point's nearest neighbour); fakes at 0.5 and 10: one of two in.
    fake = np.array([[0.5], [10.0], [10.5], [11.0]])
    precision, recall = scoring.precision_recall(real, fake, k=1)
    assert precision == 0.25
    # Fake balls: 0.5 reaches 9.5 (its nearest is 10), so every real lies inside it.
    assert recall == 1.0


# ============================== the command ==============================

@pytest.fixture(scope='module')
def scored_run(tmp_path_factory, data_dir):
    """A 2-iteration run with the averaged generator, on the small data."""
    run = str(tmp_path_factory.mktemp('scored') / 'run')
    result = run_program('--data-dir', data_dir, '--batch-size', '8', '--max-iters', '2',
                         '--seed', '1', '--average-generator', '--output-dir', run)
    assert result.returncode == 0, result.stderr
    return run


def run_score(*args, env=None):
    return subprocess.run([sys.executable, os.path.join(REPO, 'score.py')] + list(args) + ON_CPU,
                          capture_output=True, text=True, timeout=600,
                          env=headless_env(**(env or {})))


def test_score_command_uses_the_shipped_classifier_and_names_it(scored_run, data_dir,
                                                                tmp_path):
    out = str(tmp_path / 'score.json')
    result = run_score(scored_run, '--num', '10', '--data-dir', data_dir, '--cache-dir',
                       str(tmp_path / 'cache'), '--json', out)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ''
    assert 'Classifier %s:' % lenet.SHIPPED_SHA256[:12] in result.stdout
    for heading in ('iteration 2', 'averaged G', 'real digits (floor)', 'untrained G (ceiling)'):
        assert heading in result.stdout
    with open(out) as f:
        report = json.load(f)
    assert report['classifier_sha256'] == lenet.SHIPPED_SHA256
    assert report['classifier_shipped'] is True
    assert list(report['scores']) == ['iteration 2', 'averaged G', 'real digits (floor)',
                                      'untrained G (ceiling)']
    for scores in report['scores'].values():
        assert scores['num_samples'] == 10
        assert len(scores['class_shares']) == 10
        assert sum(scores['class_shares']) == pytest.approx(1.0, abs=1e-3)
        assert 1.0 <= scores['inception_score'] <= 10.0
    assert report['sampling'] == 'BatchNorm in training mode, batches of 8'


def accuracy_line(stdout):
    return next(line for line in stdout.splitlines() if line.startswith('Classifier '))


def test_the_real_digits_statistics_are_cached_and_a_damaged_entry_recomputed(
        scored_run, data_dir, tmp_path):
    cache = tmp_path / 'cache'
    args = (scored_run, '--num', '10', '--data-dir', data_dir, '--cache-dir', str(cache),
            '--json', str(tmp_path / 'score.json'))
    first = run_score(*args)
    assert first.returncode == 0, first.stderr
    entries = sorted(path.name for path in cache.iterdir())
    assert len(entries) == 2
    features_entry, floor_entry = (cache / entries[1]), (cache / entries[0])
    assert features_entry.name.endswith('-test-features.npz')
    assert floor_entry.name.endswith('-floor-n10-seed0.json')
    # Plant other numbers in the cache: the next run must show them, not recompute.
    with np.load(str(features_entry), allow_pickle=False) as arrays:
        features = arrays['features']
    np.savez(str(features_entry), features=features, accuracy=0.25)
    floor = json.loads(floor_entry.read_text())
    floor_entry.write_text(json.dumps(dict(floor, fid=12345.0)))
    second = run_score(*args)
    assert second.returncode == 0, second.stderr
    assert accuracy_line(second.stdout).endswith(': 25.00% on the test digits')
    assert '12345.00' in second.stdout
    # A damaged entry (cut short) is computed again, and rewritten.
    features_entry.write_bytes(features_entry.read_bytes()[:100])
    third = run_score(*args)
    assert third.returncode == 0, third.stderr
    assert accuracy_line(third.stdout) == accuracy_line(first.stdout)
    with np.load(str(features_entry), allow_pickle=False) as arrays:
        np.testing.assert_array_equal(arrays['features'], features)
    assert not [path for path in cache.iterdir() if path.name.endswith('.partial')]


@in_one_suite()  # MXNet's arithmetic, the same on every Python and build
def test_scores_are_the_same_with_one_or_two_threads(scored_run, tmp_path):
    """The real test digits, 256 samples: each run computes everything afresh."""
    outputs = []
    for threads in ('1', '2'):
        result = run_score(scored_run, '--num', '256', '--cache-dir',
                           str(tmp_path / ('cache' + threads)), '--json',
                           str(tmp_path / ('score%s.json' % threads)),
                           env={'OMP_NUM_THREADS': threads})
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout.replace('score%s.json' % threads, 'score.json'))
    assert 'Classifier %s: %.2f%%' % (lenet.SHIPPED_SHA256[:12],
                                      100 * lenet.SHIPPED_TEST_ACCURACY) in outputs[0]
    assert outputs[0] == outputs[1]


def test_other_classifier_weights_are_used_only_with_a_loud_warning(scored_run, data_dir,
                                                                   tmp_path):
    weights = str(tmp_path / 'lenet.params')
    (train_images, train_labels), _ = mnist.load_mnist_sets(data_dir)
    checkpoint.save_params(weights, *train_classifier.train_classifier(
        lenet.round_trip(train_images), train_labels, mx.cpu(), epochs=1))
    out = str(tmp_path / 'score.json')
    result = run_score(scored_run, '--num', '10', '--data-dir', data_dir, '--cache-dir',
                       str(tmp_path / 'cache'), '--classifier', weights, '--json', out)
    assert result.returncode == 0, result.stderr
    sha256 = checkpoint.sha256_of(weights)
    assert result.stderr.strip() == (
        'warning: scoring with %s (SHA-256 %s), not the shipped classifier: these scores are '
        'NOT comparable with the README\'s or with anyone else\'s' % (weights, sha256))
    with open(out) as f:
        report = json.load(f)
    assert (report['classifier_sha256'], report['classifier_shipped']) == (sha256, False)


def test_score_command_refuses_more_samples_than_test_digits(scored_run, data_dir, tmp_path):
    result = run_score(scored_run, '--num', '50', '--data-dir', data_dir, '--cache-dir',
                       str(tmp_path / 'cache'))
    assert result.returncode == 1
    assert result.stderr.strip() == ('error: --num 50 is more than the 12 test digits the scores '
                                     'compare with')


def test_scores_taken_during_training_name_the_classifier(data_dir, tmp_path):
    run = str(tmp_path / 'run')
    result = run_program('--data-dir', data_dir, '--batch-size', '8', '--max-iters', '2',
                         '--score-every', '2', '--score-samples', '10', '--average-generator',
                         '--output-dir', run)
    assert result.returncode == 0, result.stderr
    with open(os.path.join(run, 'scores.csv'), newline='') as f:
        rows = list(csv.DictReader(f))
    assert [(row['global_iteration'], row['generator']) for row in rows] == [
        ('2', 'plain'), ('2', 'averaged')]
    assert {row['classifier_sha256'] for row in rows} == {lenet.SHIPPED_SHA256}
    assert 'score  iter 2  plain  IS ' in result.stdout


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
    check = health.HealthCheck()
    assert check.check(healthy_row(1)) == []
    row = dict(healthy_row(2), g_loss=float('nan'))
    assert check.check(row) == ['iteration 2: NaN or inf in the losses or in D\'s outputs; '
                                'training has diverged']
    assert check.check(dict(healthy_row(3), d_real=float('inf'))) == []


def test_a_discriminator_that_wins_outright_is_reported_once_a_stretch():
    check = health.HealthCheck()
    warnings = [w for n in range(1, 151) for w in check.check(healthy_row(n, accuracy=1.0))]
    assert len(warnings) == 1 and warnings[0].startswith('iterations 1-100: the discriminator '
                                                         'wins outright (accuracy 1.000')
    warnings = [w for n in range(151, 400) for w in check.check(healthy_row(n))]
    assert warnings == []
    warnings = [w for n in range(400, 520) for w in check.check(healthy_row(n, loss=0.001))]
    assert len(warnings) == 1 and warnings[0].startswith('iterations 400-499')
