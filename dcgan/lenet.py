"""The scorer's classifier: a LeNet on MNIST, shipped trained, so that scores mean the same
on every machine.

FID and the other scores are measured in this network's feature space: another classifier,
even the same recipe trained with another thread count, gives other numbers. So score.py
uses the weights shipped in weights/lenet_mnist.params, checked against SHIPPED_SHA256, and
every score it writes names that hash. tools/train_classifier.py is the recipe that made them
(and makes them again, bit for bit, on a machine like this one).

Every image, generated or real, reaches the classifier the same way (PREPROCESSING): 64x64x3
in [-1, 1], the channels averaged, scaled to [0, 1] and shrunk to 28x28 with area averaging.
Real digits take the full round trip, 28x28 -> the tutorial's 64x64x3 -> 28x28, so that real
and generated images differ only in what the generator did. The classifier learns from the
60,000 round-tripped training digits; its accuracy is measured on the 10,000 test digits.
"""
import os

import cv2
import numpy as np

import symbols
from dcgan import REPOSITORY, checkpoint, mnist
from dcgan.errors import UserError
from dcgan.framework import mx

SHIPPED = os.path.join(REPOSITORY, 'weights', 'lenet_mnist.params')
SHIPPED_SHA256 = 'ea54c89b8a3012dbab110fab7dc2e3daf880eec2d61f3249cd6bfa96dca27d2f'
SHIPPED_TEST_ACCURACY = 0.9908  # on the 10,000 round-tripped test digits
# Names the way images are turned into classifier inputs; change it whenever that changes,
# so that cached statistics of real digits (score.py) are not reused.
PREPROCESSING = 'mean of channels, [-1,1] -> [0,1], 64 -> 28 INTER_AREA; reals 28->64->28; v1'

INPUT_SIZE = 28
NUM_CLASSES = 10
FEATURE_SIZE = 256
PREDICT_BATCH = 500


class ClassifierError(UserError):
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
        arg_params, aux_params = checkpoint.load_checked_params(path, expected_shapes())
    except checkpoint.CheckpointError as e:
        raise ClassifierError(str(e)) from None
    return Classifier(arg_params, aux_params, ctx, sha256)
