"""The recipe of the scorer's classifier (weights/lenet_mnist.params), into a new file:

    OMP_NUM_THREADS=1 python tools/train_classifier.py --train PATH

Seed 0, one OpenMP thread, oneDNN 2.4 on a CPU with AVX-512: 128 s, and the shipped weights
bit for bit on such a machine (it says so). Elsewhere the recipe gives a classifier as good but
not bit-identical, whose scores are not comparable with the shipped one's (dcgan/lenet.py).
"""
import on_path  # noqa: F401  (first: the repository on sys.path, for dcgan/)
# Then MXNet with its setup, or one line saying why not (dcgan/framework.py).
from dcgan.framework import mx

import math
import os
import sys
import time

import numpy as np

from dcgan import checkpoint, command_flags, mnist
from dcgan.cli import OneLineArgumentParser, UserError, fail
from dcgan.lenet import SHIPPED_SHA256, load_classifier, lenet_symbol, round_trip

EPOCHS = 5
BATCH = 128
SEED = 0


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
    parser = OneLineArgumentParser(prog='train_classifier.py', description='Train the scorer\'s '
                                   'LeNet by the shipped recipe (see the docstring).')
    parser.add_argument('--train', metavar='PATH', required=True,
                        help='where to write the weights (a new file)')
    command_flags.add_mnist_folder(parser)
    args = parser.parse_args(argv)
    if os.path.exists(args.train):
        sys.exit('error: %s exists; give a new path (nothing is overwritten)' % args.train)
    try:
        classifier, _ = train_and_save(args.train, args.data_dir or mnist.default_data_dir(),
                                       mx.cpu())
    except UserError as e:  # dcgan/errors.py
        fail(e)
    if classifier.sha256 == SHIPPED_SHA256:
        print('These are the shipped weights, bit for bit.')
    else:
        print('warning: these weights differ from the shipped classifier (SHA-256 %s): scores '
              'measured with them are NOT comparable with the README\'s or with anyone '
              'else\'s' % SHIPPED_SHA256)


if __name__ == '__main__':
    main()
