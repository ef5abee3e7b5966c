"""How good are the digits? A LeNet classifier, and the standard GAN scores in its space.

    python score.py runs/20261123-174402            # newest checkpoint of a run, 5,000 samples
    python score.py runs/.../checkpoints/iter-0000600 --num 5000 --json score.json

Every image, generated or real, reaches the classifier the same way: 64x64x3 in [-1, 1],
the channels averaged, scaled to [0, 1] and shrunk to 28x28 with area averaging. Real
digits take the full round trip, 28x28 -> the tutorial's 64x64x3 -> 28x28, so that real and
generated images differ only in what the generator did. The classifier is trained on the
60,000 round-tripped training images (once; cached to disk) and reports its accuracy on the
10,000 round-tripped test images.

The scores (N samples; N = 5,000 unless told, the same N whenever scores are compared):

- Inception Score, over 10 splits, from the classifier's softmax (higher is better; 10 at
  most, for perfectly confident predictions spread evenly over the ten digits);
- Frechet distance (FID) and kernel distance (KID) between the penultimate-layer features
  of the samples and those of the 10,000 test images (lower is better);
- class coverage: each digit's share of the samples, the KL divergence from uniform
  shares, and the mean classifier confidence (mode collapse shows here);
- improved precision and recall (Kynkaanniemi et al., 2019) with k = 3 nearest neighbours
  in the same feature space, against N test images (precision: how many samples look real;
  recall: how much of the real variety the samples cover).

Beside the checkpoint's numbers it gives the same numbers for N real training images (the
floor: what a perfect generator would reach) and for an untrained generator (the ceiling).
Samples are drawn as everywhere in this project, BatchNorm in training mode, in batches of
the training batch size (see sample.py).
"""
# First of all: refuses a Python MXNet cannot run (in one line), sets the thread defaults
# before numpy and MXNet load, and gives numpy back the aliases MXNet uses.
import mxnet_setup

import json
import math
import os
import sys
import time

import numpy as np

try:
    import mxnet as mx
except OSError as load_error:
    sys.exit('error: ' + mxnet_setup.explain_load_failure(load_error))

import cv2

import checkpoint
import mnist
import symbols
from cli import OneLineArgumentParser, positive_int
from sample import Sampler, sampler_from_checkpoint

DEFAULT_CLASSIFIER = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data',
                                  'lenet_mnist.params')
CLASSIFIER_SIZE = 28
NUM_CLASSES = 10
FEATURE_SIZE = 256
CLASSIFIER_EPOCHS = 5
CLASSIFIER_BATCH = 128
CLASSIFIER_SEED = 0
PREDICT_BATCH = 500
IS_SPLITS = 10
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
NEIGHBOURS = 3
COVERAGE_SHARE = 0.02   # a digit counts as covered when at least 2% of the samples are it
COVERED_CLASSES = 8     # fewer covered digits than this is called collapse
NUM_SAMPLES = 5000


# ============================== images into the classifier ==============================

def classifier_input(batch):
    """(N, C, 64, 64) in [-1, 1] to (N, 1, 28, 28) float32 in [0, 1]: grey, area-shrunk."""
    grey = (np.asarray(batch, dtype=np.float32).mean(axis=1) + 1.0) / 2.0
    small = [cv2.resize(image, (CLASSIFIER_SIZE, CLASSIFIER_SIZE), interpolation=cv2.INTER_AREA)
             for image in grey]
    return np.clip(np.asarray(small, dtype=np.float32), 0, 1)[:, np.newaxis]


def round_trip(images, chunk=mnist.PREPARE_CHUNK):
    """Real uint8 digits (N, 28, 28) through the tutorial's preparation and back."""
    return np.concatenate([classifier_input(mnist.prepare_chunk(images[start:start + chunk],
                                                                symbols.IMAGE_SIZE))
                           for start in range(0, len(images), chunk)])


# ============================== the classifier ==============================

def lenet_symbol():
    """LeNet-style: two 5x5 convolutions with max pooling, a 256-unit layer, ten outputs."""
    x = mx.sym.Variable('data')
    for index, filters in enumerate((32, 64), start=1):
        x = mx.sym.Convolution(x, name='conv%d' % index, kernel=(5, 5), num_filter=filters)
        x = mx.sym.Activation(x, act_type='relu')
        x = mx.sym.Pooling(x, pool_type='max', kernel=(2, 2), stride=(2, 2))
    x = mx.sym.FullyConnected(mx.sym.Flatten(x), name='fc1', num_hidden=FEATURE_SIZE)
    features = mx.sym.Activation(x, name='features', act_type='relu')
    logits = mx.sym.FullyConnected(features, name='fc2', num_hidden=NUM_CLASSES)
    return logits, features


class Classifier:
    """The trained LeNet: class probabilities and penultimate features of 28x28 inputs."""

    def __init__(self, arg_params, aux_params, ctx):
        logits, features = lenet_symbol()
        self.module = mx.mod.Module(mx.sym.Group([mx.sym.softmax(logits), features]),
                                    data_names=('data',), label_names=None, context=ctx)
        self.module.bind(data_shapes=[('data', (PREDICT_BATCH, 1, CLASSIFIER_SIZE,
                                                CLASSIFIER_SIZE))], for_training=False)
        self.module.set_params(arg_params, aux_params)

    def predict(self, inputs):
        """(probabilities (N, 10), features (N, 256)) for inputs (N, 1, 28, 28)."""
        probabilities, features = [], []
        for start in range(0, len(inputs), PREDICT_BATCH):
            chunk = inputs[start:start + PREDICT_BATCH]
            padded = np.zeros((PREDICT_BATCH,) + chunk.shape[1:], np.float32)
            padded[:len(chunk)] = chunk
            self.module.forward(mx.io.DataBatch([mx.nd.array(padded)]), is_train=False)
            outputs = [output.asnumpy()[:len(chunk)] for output in self.module.get_outputs()]
            probabilities.append(outputs[0])
            features.append(outputs[1])
        return (np.concatenate(probabilities).astype(np.float64),
                np.concatenate(features).astype(np.float64))

    def accuracy(self, inputs, labels):
        return float(np.mean(self.predict(inputs)[0].argmax(axis=1) == labels))


def train_classifier(inputs, labels, ctx, epochs=CLASSIFIER_EPOCHS, seed=CLASSIFIER_SEED,
                     max_batches=None):
    """Train the LeNet on (inputs (N, 1, 28, 28), labels); returns (arg_params, aux_params)."""
    mx.random.seed(seed)
    np.random.seed(seed)  # NDArrayIter shuffles with numpy's global generator
    train_iter = mx.io.NDArrayIter(inputs, labels.astype(np.float32), CLASSIFIER_BATCH,
                                   shuffle=True, label_name='softmax_label')
    logits, _ = lenet_symbol()
    module = mx.mod.Module(mx.sym.SoftmaxOutput(logits, name='softmax'), context=ctx)
    module.bind(data_shapes=train_iter.provide_data, label_shapes=train_iter.provide_label)
    module.init_params(mx.init.Xavier(magnitude=2.0))
    # Adam at 0.001, halved after every epoch: the last epochs settle the weights.
    schedule = mx.lr_scheduler.FactorScheduler(step=math.ceil(len(inputs) / CLASSIFIER_BATCH),
                                               factor=0.5, base_lr=0.001)
    module.init_optimizer(optimizer='adam', optimizer_params={'lr_scheduler': schedule})
    for _ in range(epochs):
        train_iter.reset()
        for count, batch in enumerate(train_iter):
            if max_batches is not None and count >= max_batches:
                break
            module.forward_backward(batch)
            module.update()
    mx.nd.waitall()
    return module.get_params()


def load_or_train_classifier(path, data_dir, ctx, log=print):
    """The cached classifier at `path` and its test accuracy; trained and cached if missing."""
    info_path = path + '.json'
    if os.path.exists(path) and os.path.exists(info_path):
        arg_params, aux_params = checkpoint.load_params(path)
        with open(info_path) as f:
            return Classifier(arg_params, aux_params, ctx), json.load(f)['test_accuracy']
    log('Training the LeNet scorer on the 60,000 MNIST training digits (once; cached in %s) ...'
        % path)
    started = time.perf_counter()
    (train_x, train_y), (test_x, test_y) = load_round_tripped(data_dir)
    arg_params, aux_params = train_classifier(train_x, train_y, ctx)
    classifier = Classifier(arg_params, aux_params, ctx)
    accuracy = classifier.accuracy(test_x, test_y)
    temporary = path + '.partial'
    mx.nd.save(temporary, dict({'arg:' + k: v for k, v in arg_params.items()},
                               **{'aux:' + k: v for k, v in aux_params.items()}))
    mx.nd.waitall()
    os.replace(temporary, path)
    with open(info_path, 'w') as f:
        json.dump({'test_accuracy': accuracy, 'epochs': CLASSIFIER_EPOCHS}, f)
    log('LeNet scorer: %.2f%% on the 10,000 test digits, trained in %.0f s'
        % (100 * accuracy, time.perf_counter() - started))
    return classifier, accuracy


def load_round_tripped(data_dir):
    """((train inputs, labels), (test inputs, labels)) of real MNIST, round-tripped."""
    return tuple((round_trip(images), labels)
                 for images, labels in mnist.load_mnist_sets(data_dir))


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
    shares = np.bincount(predicted, minlength=NUM_CLASSES) / len(predicted)
    nonzero = shares[shares > 0]
    kl = float(np.sum(nonzero * np.log(nonzero * NUM_CLASSES)))
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

class Reference:
    """The real side of every comparison: the test set's features, computed once."""

    def __init__(self, classifier, test_inputs, num):
        _, self.features = classifier.predict(test_inputs)
        self.pr_features = self.features[:num]  # as many real as generated images for P&R


def score_inputs(classifier, inputs, reference, kid_subsets=KID_SUBSETS):
    """Every score for classifier inputs (N, 1, 28, 28) as a dict."""
    probabilities, features = classifier.predict(inputs)
    is_mean, is_std = inception_score(probabilities)
    kid_mean, kid_std = kernel_distance(features, reference.features, subsets=kid_subsets)
    shares, kl, confidence = class_coverage(probabilities)
    precision, recall = precision_recall(reference.pr_features[:len(features)], features)
    return {'num_samples': len(inputs), 'inception_score': is_mean, 'inception_score_std': is_std,
            'fid': frechet_distance(features, reference.features),
            'kid': kid_mean, 'kid_std': kid_std,
            'classes_covered': int(np.sum(shares >= COVERAGE_SHARE)),
            'class_shares': [round(float(share), 4) for share in shares],
            'kl_to_uniform': kl, 'mean_confidence': confidence,
            'precision': precision, 'recall': recall}


def collapsed(scores):
    return scores['classes_covered'] < COVERED_CLASSES


class TrainingScorer:
    """Scores taken during training: fewer samples and KID subsets, the same statistics."""

    KID_SUBSETS = 10

    def __init__(self, classifier_path, data_dir, ctx, num, seed, log=print):
        self.classifier, _ = load_or_train_classifier(classifier_path, data_dir, ctx, log)
        _, (test_images, _) = mnist.load_mnist_sets(data_dir)
        self.reference = Reference(self.classifier, round_trip(test_images), num)
        self.num, self.seed = num, seed

    def score(self, sampler):
        images, _ = sampler.sample(self.num, self.seed)
        if not np.isfinite(images).all():
            raise FloatingPointError('the generator produced NaN or inf')
        return score_inputs(self.classifier, classifier_input(images), self.reference,
                            kid_subsets=self.KID_SUBSETS)


def untrained_generator_params(batch_size, noise_dim, seed, ctx):
    """A freshly initialised generator's parameters, as training starts from."""
    mx.random.seed(seed)
    module = mx.mod.Module(symbols.generator_symbol(), data_names=('rand',), label_names=None,
                           context=ctx)
    module.bind(data_shapes=[('rand', (batch_size, noise_dim, 1, 1))], for_training=False)
    module.init_params(initializer=mx.init.Normal(0.02))
    return module.get_params()


# ============================== the command ==============================

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
    for digit in range(NUM_CLASSES):
        rows.append(['share of digit %d' % digit,
                     *('%.1f%%' % (100 * scores['class_shares'][digit]) for _, scores in columns)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return '\n'.join('  '.join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i])
                               for i, cell in enumerate(row)) for row in rows)


def parse_args(argv=None):
    parser = OneLineArgumentParser(prog='score.py', description='Score the digits of a '
                                   'generator checkpoint against MNIST with a LeNet classifier.')
    parser.add_argument('checkpoint', help='a checkpoint folder, or a run folder (its newest '
                                           'checkpoint is used)')
    parser.add_argument('--num', type=positive_int, default=NUM_SAMPLES,
                        help='samples to score (default: %(default)s; compare only equal N)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the sample noise and of the subsets (default: 0)')
    parser.add_argument('--json', default=None,
                        help='where to write the numbers (default: score-nN.json in the '
                             'checkpoint folder)')
    parser.add_argument('--no-baselines', action='store_true',
                        help='skip the floor (real digits) and ceiling (untrained generator)')
    parser.add_argument('--classifier', default=DEFAULT_CLASSIFIER,
                        help='the cached LeNet (trained there when missing; default: '
                             'data/lenet_mnist.params)')
    parser.add_argument('--data-dir', default=None,
                        help='MNIST folder (default: $%s, else data/mnist)' % mnist.DATA_DIR_ENV)
    parser.add_argument('--context', choices=('auto', 'cpu', 'gpu'), default='auto')
    args = parser.parse_args(argv)
    args.data_dir = args.data_dir or mnist.default_data_dir()
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        ctx, _ = mxnet_setup.choose_context(mx, args.context)
        found, state = checkpoint.open_checkpoint(args.checkpoint, 'python score.py %s')
        sampler = sampler_from_checkpoint(found, state, ctx)
        averaged = None
        if os.path.exists(os.path.join(found, checkpoint.AVERAGE)):
            averaged = sampler_from_checkpoint(found, state, ctx, averaged=True)
        classifier, accuracy = load_or_train_classifier(args.classifier, args.data_dir, ctx)
        (train_images, _), (test_images, _) = mnist.load_mnist_sets(args.data_dir)
    except (checkpoint.CheckpointError, mnist.MnistDataError, mxnet_setup.ContextError) as e:
        sys.exit('error: %s' % e)
    if args.num > len(test_images):
        sys.exit('error: --num %d is more than the %d test digits the scores compare with'
                 % (args.num, len(test_images)))
    print('Classifier accuracy on the test digits: %.2f%%' % (100 * accuracy))
    reference = Reference(classifier, round_trip(test_images), args.num)

    def score_sampler(s):
        images, _ = s.sample(args.num, args.seed)
        return score_inputs(classifier, classifier_input(images), reference)

    columns = [('iteration %d' % state['global_iteration'], score_sampler(sampler))]
    if averaged:
        columns.append(('averaged G', score_sampler(averaged)))
    if not args.no_baselines:
        picks = np.random.RandomState(args.seed).choice(len(train_images), args.num,
                                                        replace=False)
        columns.append(('real digits (floor)',
                        score_inputs(classifier, round_trip(train_images[picks]), reference)))
        untrained = Sampler(ctx, state['batch_size'], state['noise_dim'])
        untrained.set_params(*untrained_generator_params(state['batch_size'],
                                                         state['noise_dim'], args.seed, ctx))
        columns.append(('untrained G (ceiling)', score_sampler(untrained)))
    print('%d samples from %s:' % (args.num, found))
    print(format_table(columns))
    json_path = args.json or os.path.join(found, 'score-n%d.json' % args.num)
    with open(json_path, 'w') as f:
        json.dump({'checkpoint': found, 'classifier_test_accuracy': accuracy,
                   'seed': args.seed, 'sampling': 'BatchNorm in training mode, batches of %d'
                   % state['batch_size'], 'scores': dict(columns)}, f, indent=2)
    print('Wrote %s' % json_path)


if __name__ == '__main__':
    main()
