"""The scorer's classifier: a LeNet on MNIST, shipped trained, so that scores mean the same
on every machine.

    OMP_NUM_THREADS=1 python classifier.py --train PATH   # the recipe, into a new file

FID and the other scores are measured in this network's feature space: another classifier,
even the same recipe trained with another thread count, gives other numbers. So score.py
uses the weights shipped in weights/lenet_mnist.params, checked against SHIPPED_SHA256, and
every score it writes names that hash. The command above is how they were made (seed 0, one
OpenMP thread, oneDNN 2.4 on a CPU with AVX-512; 128 s) and makes them again bit for bit on
such a machine; elsewhere the recipe gives a classifier as good but not bit-identical, whose
scores are not comparable.

Every image, generated or real, reaches the classifier the same way (PREPROCESSING): 64x64x3
in [-1, 1], the channels averaged, scaled to [0, 1] and shrunk to 28x28 with area averaging.
Real digits take the full round trip, 28x28 -> the tutorial's 64x64x3 -> 28x28, so that real
and generated images differ only in what the generator did. The classifier learns from the
60,000 round-tripped training digits; its accuracy is measured on the 10,000 test digits.
"""
# First of all: refuses a Python MXNet cannot run (in one line), sets the thread defaults
# before numpy and MXNet load, and gives numpy back the aliases MXNet uses.
import mxnet_setup

import math
import os
import sys
import time

import cv2
import numpy as np

try:
    import mxnet as mx
except OSError as load_error:
    sys.exit('error: ' + mxnet_setup.explain_load_failure(load_error))

import checkpoint
import mnist
import symbols
from cli import OneLineArgumentParser

SHIPPED = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'weights',
                       'lenet_mnist.params')
SHIPPED_SHA256 = 'ea54c89b8a3012dbab110fab7dc2e3daf880eec2d61f3249cd6bfa96dca27d2f'
SHIPPED_TEST_ACCURACY = 0.9908  # on the 10,000 round-tripped test digits
# Names the way images are turned into classifier inputs; change it whenever that changes,
# so that cached statistics of real digits (score.py) are not reused.
PREPROCESSING = 'mean of channels, [-1,1] -> [0,1], 64 -> 28 INTER_AREA; reals 28->64->28; v1'

INPUT_SIZE = 28
NUM_CLASSES = 10
FEATURE_SIZE = 256
EPOCHS = 5
BATCH = 128
SEED = 0
PREDICT_BATCH = 500


class ClassifierError(Exception):
    """The classifier's weights are missing, unreadable or not the ones expected."""


# ============================== images into the classifier ==============================

def classifier_input(batch):
    """(N, C, 64, 64) in [-1, 1] to (N, 1, 28, 28) float32 in [0, 1]: grey, area-shrunk."""
    grey = (np.asarray(batch, dtype=np.float32).mean(axis=1) + 1.0) / 2.0
    small = [cv2.resize(image, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
             for image in grey]
    return np.clip(np.asarray(small, dtype=np.float32), 0, 1)[:, np.newaxis]


def round_trip(images, chunk=mnist.PREPARE_CHUNK):
    """Real uint8 digits (N, 28, 28) through the tutorial's preparation and back."""
    return np.concatenate([classifier_input(mnist.prepare_chunk(images[start:start + chunk],
                                                                symbols.IMAGE_SIZE))
                           for start in range(0, len(images), chunk)])


# ============================== the network ==============================

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
    """The trained LeNet: class probabilities and penultimate features of 28x28 inputs.
    `sha256` names the weights it was loaded from."""

    def __init__(self, arg_params, aux_params, ctx, sha256=None):
        self.sha256 = sha256
        logits, features = lenet_symbol()
        self.module = mx.mod.Module(mx.sym.Group([mx.sym.softmax(logits), features]),
                                    data_names=('data',), label_names=None, context=ctx)
        self.module.bind(data_shapes=[('data', (PREDICT_BATCH, 1, INPUT_SIZE, INPUT_SIZE))],
                         for_training=False)
        self.module.set_params(arg_params, aux_params)

    def predict(self, inputs):
        """(probabilities (N, 10), features (N, 256)) for inputs (N, 1, 28, 28), float64."""
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


def expected_shapes():
    logits, _ = lenet_symbol()
    arg_shapes, _, aux_shapes = logits.infer_shape(data=(1, 1, INPUT_SIZE, INPUT_SIZE))
    return dict(zip(logits.list_arguments()[1:], arg_shapes[1:]),
                **dict(zip(logits.list_auxiliary_states(), aux_shapes)))


def load_classifier(path, ctx, expected_sha256=SHIPPED_SHA256):
    """The Classifier in `path`, refused (ClassifierError) unless its SHA-256 is
    `expected_sha256` (None: any weights of the right shapes)."""
    if not os.path.isfile(path):
        raise ClassifierError('%s is missing' % path)
    sha256 = checkpoint.sha256_of(path)
    if expected_sha256 is not None and sha256 != expected_sha256:
        raise ClassifierError('%s is not the shipped classifier (its SHA-256 is %s, the '
                              'shipped one\'s %s); restore it with: git checkout -- %s'
                              % (path, sha256, expected_sha256, os.path.relpath(path)))
    try:
        arg_params, aux_params = checkpoint.load_params(path)
        checkpoint.check_shapes(path, dict(arg_params, **aux_params), expected_shapes())
    except checkpoint.CheckpointError as e:
        raise ClassifierError(str(e)) from None
    return Classifier(arg_params, aux_params, ctx, sha256)


# ============================== the recipe ==============================

def train_classifier(inputs, labels, ctx, epochs=EPOCHS, seed=SEED, max_batches=None):
    """Train the LeNet on (inputs (N, 1, 28, 28), labels); returns (arg_params, aux_params)."""
    mx.random.seed(seed)
    np.random.seed(seed)  # NDArrayIter shuffles with numpy's global generator
    train_iter = mx.io.NDArrayIter(inputs, labels.astype(np.float32), BATCH, shuffle=True,
                                   label_name='softmax_label')
    logits, _ = lenet_symbol()
    module = mx.mod.Module(mx.sym.SoftmaxOutput(logits, name='softmax'), context=ctx)
    module.bind(data_shapes=train_iter.provide_data, label_shapes=train_iter.provide_label)
    module.init_params(mx.init.Xavier(magnitude=2.0))
    # Adam at 0.001, halved after every epoch: the last epochs settle the weights.
    schedule = mx.lr_scheduler.FactorScheduler(step=math.ceil(len(inputs) / BATCH),
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


def train_and_save(path, data_dir, ctx, log=print):
    """Train by the recipe on the real MNIST in `data_dir`, save to `path` (a new file);
    returns the Classifier and its test accuracy."""
    started = time.perf_counter()
    (train_images, train_labels), (test_images, test_labels) = mnist.load_mnist_sets(data_dir)
    arg_params, aux_params = train_classifier(round_trip(train_images), train_labels, ctx)
    checkpoint.save_params(path, arg_params, aux_params)
    classifier = load_classifier(path, ctx, expected_sha256=None)
    accuracy = classifier.accuracy(round_trip(test_images), test_labels)
    log('Trained in %.0f s with %s OpenMP thread(s): %.2f%% on the %d test digits; '
        'SHA-256 %s' % (time.perf_counter() - started, os.environ.get('OMP_NUM_THREADS', '?'),
                        100 * accuracy, len(test_labels), classifier.sha256))
    return classifier, accuracy


def main(argv=None):
    parser = OneLineArgumentParser(prog='classifier.py', description='Train the scorer\'s '
                                   'LeNet by the shipped recipe (see the docstring).')
    parser.add_argument('--train', metavar='PATH', required=True,
                        help='where to write the weights (a new file)')
    parser.add_argument('--data-dir', default=None,
                        help='MNIST folder (default: $%s, else data/mnist)' % mnist.DATA_DIR_ENV)
    args = parser.parse_args(argv)
    if os.path.exists(args.train):
        sys.exit('error: %s exists; give a new path (nothing is overwritten)' % args.train)
    try:
        classifier, _ = train_and_save(args.train, args.data_dir or mnist.default_data_dir(),
                                       mx.cpu())
    except (mnist.MnistDataError, checkpoint.CheckpointError, ClassifierError) as e:
        sys.exit('error: %s' % e)
    if classifier.sha256 == SHIPPED_SHA256:
        print('These are the shipped weights, bit for bit.')
    else:
        print('warning: these weights differ from the shipped classifier (SHA-256 %s): scores '
              'measured with them are NOT comparable with the README\'s or with anyone '
              'else\'s' % SHIPPED_SHA256)


if __name__ == '__main__':
    main()
