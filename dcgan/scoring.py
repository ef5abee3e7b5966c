"""How good are the digits? The standard GAN scores, measured in the feature space of the shipped
LeNet (dcgan/lenet.py); score.py is the command, training's --score-every the other user.

The scores (N samples; the same N whenever scores are compared):

- Inception Score, over 10 splits, from the classifier's softmax (higher is better; 10 at
  most, for perfectly confident predictions spread evenly over the ten digits);
- Frechet distance (FID) and kernel distance (KID) between the penultimate-layer features
  of the samples and those of the 10,000 test images (lower is better);
- class coverage: each digit's share of the samples, the KL divergence from uniform
  shares, and the mean classifier confidence (mode collapse shows here);
- improved precision and recall (Kynkaanniemi et al., 2019) with k = 3 nearest neighbours
  in the same feature space, against N test images (precision: how many samples look real;
  recall: how much of the real variety the samples cover).

What depends only on the real digits (the test set's features and the classifier's accuracy,
the floor's numbers) is computed once and cached in data/score_cache/, in files named by
the classifier's hash, lenet.PREPROCESSING and the digits themselves: scoring again with any
of them changed computes afresh.
"""
import hashlib
import json
import os
import sys
import zipfile

import numpy as np

from dcgan import REPOSITORY, files, lenet, mnist
from dcgan.lenet import classifier_input, round_trip

NUM_SAMPLES = 5000
IS_SPLITS = 10
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
NEIGHBOURS = 3
# Fewer samples than this leave an Inception Score split empty (NaN) or no k-th neighbour.
MIN_SAMPLES = max(IS_SPLITS, NEIGHBOURS + 1)
COVERAGE_SHARE = 0.02   # a digit counts as covered when at least 2% of the samples are it
COVERED_CLASSES = 8     # fewer covered digits than this is called collapse
CACHE_DIR = os.path.join(REPOSITORY, 'data', 'score_cache')


# ============================== the statistics ==============================

def inception_score(probabilities, splits=IS_SPLITS):
    """exp(E[KL(p(y|x) || p(y))]) in each of `splits` parts; returns (mean, std)."""
    scores = []
    for part in np.array_split(probabilities, splits):
        marginal = part.mean(axis=0, keepdims=True)
        terms = part * (np.log(np.maximum(part, 1e-12)) - np.log(np.maximum(marginal, 1e-12)))
        scores.append(np.exp(terms.sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


def _sqrt_psd(matrix):
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(features_a, features_b):
    """|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)) of two feature sets."""
    mu_a, mu_b = features_a.mean(axis=0), features_b.mean(axis=0)
    cov_a = np.cov(features_a, rowvar=False)
    cov_b = np.cov(features_b, rowvar=False)
    root_a = _sqrt_psd(cov_a)
    # tr((S_a S_b)^(1/2)) = tr((S_a^(1/2) S_b S_a^(1/2))^(1/2)), a symmetric PSD form.
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ cov_b @ root_a), 0, None)).sum()
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * cross)


def _polynomial_kernel(a, b):
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def kernel_distance(features_a, features_b, subsets=KID_SUBSETS, subset_size=KID_SUBSET_SIZE,
                    seed=0):
    """KID: the unbiased squared MMD with the cubic polynomial kernel, averaged over random
    subsets of `subset_size` from each set; returns (mean, std)."""
    rng = np.random.RandomState(seed)
    m = min(subset_size, len(features_a), len(features_b))
    estimates = []
    for _ in range(subsets):
        a = features_a[rng.choice(len(features_a), m, replace=False)]
        b = features_b[rng.choice(len(features_b), m, replace=False)]
        k_aa, k_bb, k_ab = _polynomial_kernel(a, a), _polynomial_kernel(b, b), \
            _polynomial_kernel(a, b)
        estimates.append((k_aa.sum() - np.trace(k_aa)) / (m * (m - 1))
                         + (k_bb.sum() - np.trace(k_bb)) / (m * (m - 1))
                         - 2 * k_ab.mean())
    return float(np.mean(estimates)), float(np.std(estimates))


def class_coverage(probabilities):
    """(each digit's share of the predictions, KL(shares || uniform), mean confidence)."""
    predicted = probabilities.argmax(axis=1)
    shares = np.bincount(predicted, minlength=lenet.NUM_CLASSES) / len(predicted)
    nonzero = shares[shares > 0]
    kl = float(np.sum(nonzero * np.log(nonzero * lenet.NUM_CLASSES)))
    return shares, kl, float(probabilities.max(axis=1).mean())


def _squared_distances(a, b):
    return np.maximum((a ** 2).sum(1)[:, None] + (b ** 2).sum(1)[None, :] - 2 * a @ b.T, 0)


def _kth_neighbour_radii(features, k, chunk=1000):
    """Squared distance from each point to its k-th nearest other point of the same set."""
    radii = np.empty(len(features))
    for start in range(0, len(features), chunk):
        distances = _squared_distances(features[start:start + chunk], features)
        radii[start:start + chunk] = np.partition(distances, k, axis=1)[:, k]  # [:, 0] is self
    return radii


def _share_inside(points, centres, radii, chunk=1000):
    """The share of `points` inside at least one ball (centre, squared radius)."""
    inside = 0
    for start in range(0, len(points), chunk):
        distances = _squared_distances(points[start:start + chunk], centres)
        inside += np.count_nonzero((distances <= radii[None, :]).any(axis=1))
    return inside / len(points)


def precision_recall(real, fake, k=NEIGHBOURS):
    """Improved precision (fakes inside the real manifold) and recall (reals inside the fake
    one), each manifold the union of balls reaching every point's k-th nearest neighbour."""
    return (_share_inside(fake, real, _kth_neighbour_radii(real, k)),
            _share_inside(real, fake, _kth_neighbour_radii(fake, k)))


# ============================== scoring ==============================

def digits_digest(sets):
    """SHA-256 of MNIST's arrays ((images, labels) pairs), whatever files they came from."""
    digest = hashlib.sha256()
    for images, labels in sets:
        for array in (images, labels):
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _read_cached(path, read):
    """What `read(path)` gives, or None when the file is missing or unreadable (a cache
    entry cut short is computed again)."""
    try:
        return read(path)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def _read_json(path):
    with open(path) as f:
        return json.load(f)


def _write_cached(path, write):
    """`write(file)` into `path` whole or not at all; a cache that cannot be written (a
    read-only or full disk) costs only time, so that is a warning."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # A temporary name of its own: two scorers may fill the same entry at once.
        with files.written_whole(path) as temporary, open(temporary, 'wb') as f:
            write(f)
    except OSError as e:
        print('warning: could not cache %s (%s); it will be computed again next time'
              % (path, e.strerror), file=sys.stderr)


class RealDigits:
    """The real side of every comparison: the test digits' features, the classifier's test
    accuracy, and the floor's scores, each computed once per classifier, preprocessing and
    data set, and cached in `cache_dir`."""

    def __init__(self, classifier, data_dir, cache_dir=CACHE_DIR):
        self.classifier = classifier
        self.sets = mnist.load_mnist_sets(data_dir)
        self.key = hashlib.sha256(json.dumps(
            [classifier.sha256, lenet.PREPROCESSING, digits_digest(self.sets)]).encode()
        ).hexdigest()[:16]
        self.cache_dir = cache_dir
        path = self.cache_path('test-features.npz')
        cached = _read_cached(path, self._read_features)
        if cached is None:
            cached = self._compute_features()
            _write_cached(path, lambda f: np.savez(f, features=cached[0], accuracy=cached[1]))
        features, self.test_accuracy = cached
        self.features = features.astype(np.float64)

    def cache_path(self, name):
        return os.path.join(self.cache_dir, '%s-%s' % (self.key, name))

    @staticmethod
    def _read_features(path):
        with np.load(path, allow_pickle=False) as arrays:
            return arrays['features'], float(arrays['accuracy'])

    def _compute_features(self):
        _, (test_images, test_labels) = self.sets
        probabilities, features = self.classifier.predict(round_trip(test_images))
        accuracy = float(np.mean(probabilities.argmax(axis=1) == test_labels))
        return features.astype(np.float32), accuracy  # the network's own float32: no loss

    @property
    def num_test(self):
        return len(self.features)

    def floor(self, num, seed):
        """The scores of `num` real training digits (drawn with `seed`): what a perfect
        generator would reach."""
        path = self.cache_path('floor-n%d-seed%d.json' % (num, seed))
        scores = _read_cached(path, _read_json)
        if scores is None:
            (train_images, _), _ = self.sets
            picks = np.random.RandomState(seed).choice(len(train_images), num, replace=False)
            scores = score_inputs(self.classifier, round_trip(train_images[picks]), self)
            _write_cached(path, lambda f: f.write(json.dumps(scores).encode()))
        return scores


def score_inputs(classifier, inputs, real, kid_subsets=KID_SUBSETS):
    """Every score for classifier inputs (N, 1, 28, 28) as a dict, against `real` (a
    RealDigits)."""
    probabilities, features = classifier.predict(inputs)
    is_mean, is_std = inception_score(probabilities)
    kid_mean, kid_std = kernel_distance(features, real.features, subsets=kid_subsets)
    shares, kl, confidence = class_coverage(probabilities)
    # as many real as generated images for precision and recall
    precision, recall = precision_recall(real.features[:len(features)], features)
    return {'num_samples': len(inputs), 'inception_score': is_mean, 'inception_score_std': is_std,
            'fid': frechet_distance(features, real.features),
            'kid': kid_mean, 'kid_std': kid_std,
            'classes_covered': int(np.sum(shares >= COVERAGE_SHARE)),
            'class_shares': [round(float(share), 4) for share in shares],
            'kl_to_uniform': kl, 'mean_confidence': confidence,
            'precision': precision, 'recall': recall}


def collapsed(scores):
    return scores['classes_covered'] < COVERED_CLASSES


class TrainingScorer:
    """Scores taken during training: fewer samples and KID subsets, the same statistics, the
    shipped classifier."""

    KID_SUBSETS = 10

    def __init__(self, data_dir, ctx, num, seed):
        self.classifier = lenet.load_classifier(lenet.SHIPPED, ctx)
        self.real = RealDigits(self.classifier, data_dir)
        self.num, self.seed = num, seed

    def score(self, sampler):
        images, _ = sampler.sample(self.num, self.seed)
        if not np.isfinite(images).all():
            raise FloatingPointError('the generator produced NaN or inf')
        return dict(score_inputs(self.classifier, classifier_input(images), self.real,
                                 kid_subsets=self.KID_SUBSETS),
                    classifier_sha256=self.classifier.sha256)


# ============================== the table ==============================

ROWS = [('Inception Score (10 splits)', 'inception_score', '%.2f', 'inception_score_std'),
        ('Frechet distance (FID)', 'fid', '%.2f', None),
        ('Kernel distance (KID)', 'kid', '%.3f', 'kid_std'),
        ('digits covered (>= 2%)', 'classes_covered', '%d', None),
        ('KL(digit shares || uniform)', 'kl_to_uniform', '%.4f', None),
        ('mean classifier confidence', 'mean_confidence', '%.3f', None),
        ('precision (k=3)', 'precision', '%.3f', None),
        ('recall (k=3)', 'recall', '%.3f', None)]


def _cell(scores, key, fmt, spread):
    text = fmt % scores[key]
    if spread:
        text += ' +- ' + fmt % scores[spread]
    return text


def format_table(columns):
    """`columns`: list of (heading, scores). One row a statistic, then the digit shares."""
    rows = [['', *(heading for heading, _ in columns)]]
    for label, key, fmt, spread in ROWS:
        rows.append([label, *(_cell(scores, key, fmt, spread) for _, scores in columns)])
    for digit in range(lenet.NUM_CLASSES):
        rows.append(['share of digit %d' % digit,
                     *('%.1f%%' % (100 * scores['class_shares'][digit]) for _, scores in columns)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return '\n'.join('  '.join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i])
                               for i, cell in enumerate(row)) for row in rows)
