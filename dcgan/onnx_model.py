"""A trained generator as an ONNX model: what the file carries besides its graph, opening one
as untrusted input, and drawing digits from it with onnxruntime.

This is the path that runs where MXNet cannot (Python 3.13, a machine without it): it imports
numpy and onnxruntime only, never MXNet or onnx. dcgan/onnx_export.py writes these models.

The graph maps noise (N, Z, 1, 1) to images (N, 3, 64, 64) in [-1, 1] for any N. Its BatchNorm
layers normalise with each batch's own statistics, as the tutorial's generator does when it
draws (dcgan/sampling.py), so the digits depend on the batch they are drawn in: the model
says its batch size, and digits are drawn in full batches of it (dcgan/drawing.py), which
makes a seed give the same digits here as from the checkpoint with MXNet.
"""
import re

import onnxruntime

from dcgan import drawing, files
from dcgan.cli import Check, positive_int, seed
from dcgan.errors import SetupError

# The model file is read whole before onnxruntime sees it: a bound on what is read. The
# tutorial's generator is 50 MB; the largest noise length a run allows makes it about 9 GB.
MAX_MODEL_BYTES = 16 * 2 ** 30
# The grid written from the images is an RGB picture.
IMAGE_CHANNELS = 3
NCHW = re.compile(r'^N,(\d+),(\d+),(\d+)$')


class ModelError(SetupError):
    """A file that is not a generator this program exported, or one that does not hold
    together; the message says what, in one line."""


def _exact(expected):
    def check(text):
        if text != expected:
            raise ValueError('%r is not %r' % (text, expected))
        return text
    return check


def _choice(*allowed):
    def check(text):
        if text not in allowed:
            raise ValueError('%r is not one of %s' % (text, ', '.join(allowed)))
        return text
    return check


def _whole(check):
    def parse(text):
        if not re.fullmatch(r'\d{1,20}', text):
            raise ValueError('%r is not a whole number' % text)
        return check.value(int(text))
    return parse


def _layout(text):
    match = NCHW.match(text)
    if not match:
        raise ValueError('%r is not N,C,H,W' % text)
    return tuple(int(size) for size in match.groups())


def _labelled_draws(text):
    """'SEED:LABELS' (onnx_export.labelled_draws_text): the seed of the draws an export
    labelled for its page, and a character a draw, its digit or '.' (unsure)."""
    match = re.fullmatch(r'(\d{1,10}):([0-9.]{1,%d})' % MAX_LABELLED_DRAWS, text)
    if not match:
        raise ValueError('%r is not SEED:LABELS (a digit or . a draw, at most %d)'
                         % (text[:40], MAX_LABELLED_DRAWS))
    return seed.value(int(match.group(1))), match.group(2)


def _sha256(text):
    if not re.fullmatch(r'[0-9a-f]{64}', text):
        raise ValueError('%r is not a SHA-256 in hex' % text)
    return text


# What an exported generator carries in its metadata (ONNX metadata_props, strings all): the
# one schema, written by onnx_export.metadata_for and read back field by field here.
METADATA = {
    'dcgan.noise_dim': _whole(positive_int),         # Z, the length of a noise vector
    'dcgan.batch_size': _whole(positive_int),        # the batch digits are drawn (normalised) in
    'dcgan.output_layout': _layout,                  # N,C,H,W of the images
    'dcgan.output_range': _exact('-1,1'),            # tanh: the tutorial's pixel scale
    'dcgan.normalisation': _exact('batch statistics'),   # BatchNorm as the tutorial draws
    'dcgan.generator': _choice('plain', 'averaged'),  # the weights, or their moving average
    'dcgan.iteration': _whole(Check(int, low=0)),    # the checkpoint's global iteration
    'dcgan.params_sha256': _sha256,                  # of the parameter file it came from
}
# Fields an export may carry (older ones do not): the draws it labelled with the classifier,
# for the page's chosen digits (dcgan/digit_request.py).
OPTIONAL_METADATA = {
    'dcgan.labelled_draws': _labelled_draws,
}
MAX_LABELLED_DRAWS = 65536


def read_metadata(properties, path):
    """{key without 'dcgan.': value} from a model's metadata {key: text}, each field checked;
    ModelError naming the first that is missing or wrong."""
    values = {}
    for key, parse in list(METADATA.items()) + list(OPTIONAL_METADATA.items()):
        if key not in properties:
            if key in OPTIONAL_METADATA:
                values[key[len('dcgan.'):]] = None
                continue
            raise ModelError('%s is not a generator exported by sample.py --export (its '
                             'metadata has no %s)' % (path, key))
        try:
            values[key[len('dcgan.'):]] = parse(properties[key])
        except ValueError as e:
            raise ModelError('%s: metadata %s: %s' % (path, key, e)) from None
    labelled = values['labelled_draws']
    if labelled and len(labelled[1]) % values['batch_size']:
        raise ModelError('%s: metadata dcgan.labelled_draws labels %d draws, not whole batches '
                         'of %d' % (path, len(labelled[1]), values['batch_size']))
    return values


def read_model_bytes(path):
    """The bytes of the model file `path`: a regular file (a FIFO or a device is refused
    without blocking) of at most MAX_MODEL_BYTES."""
    try:
        return files.read_regular(path, MAX_MODEL_BYTES,
                                  too_large='more than any generator of this program')
    except files.FileRefused as e:
        raise ModelError(str(e)) from None


def _free_or(dimension, expected):
    """An ONNX dimension is free (a name or unknown) or the number `expected`."""
    return not isinstance(dimension, int) or dimension == expected


class OnnxGenerator:
    """An exported generator, checked, ready to draw digits on the CPU with onnxruntime."""

    def __init__(self, path, threads=None):
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: onnxruntime's notes are not the user's
        if threads:
            options.intra_op_num_threads = threads
        # From bytes, not from the path: a model that points at external data files (other
        # files, anywhere) then cannot load them, and is refused.
        data = read_model_bytes(path)
        try:
            self.session = onnxruntime.InferenceSession(
                data, options, providers=['CPUExecutionProvider'])
        except Exception as e:  # onnxruntime raises its own classes for every kind of bad file
            raise ModelError('%s is not an ONNX model onnxruntime can run (%s)'
                             % (path, str(e).strip().splitlines()[0] if str(e) else
                                type(e).__name__)) from None
        self.metadata = read_metadata(self.session.get_modelmeta().custom_metadata_map, path)
        self.noise_dim = self.metadata['noise_dim']
        self.batch_size = self.metadata['batch_size']
        self.image_shape = self.metadata['output_layout']
        self._check_graph(path)

    def _check_graph(self, path):
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError('%s has %d inputs and %d outputs; a generator has one of each'
                             % (path, len(inputs), len(outputs)))
        noise, images = inputs[0], outputs[0]
        expected_noise = [self.batch_size, self.noise_dim, 1, 1]
        if noise.type != 'tensor(float)' or len(noise.shape) != 4 or not all(
                _free_or(d, e) for d, e in zip(noise.shape, expected_noise)):
            raise ModelError('%s takes %s %s; its metadata says noise (N, %d, 1, 1) float'
                             % (path, noise.type, _shape_words(noise.shape), self.noise_dim))
        expected_images = [self.batch_size] + list(self.image_shape)
        if images.type != 'tensor(float)' or len(images.shape) != 4 or not all(
                _free_or(d, e) for d, e in zip(images.shape, expected_images)):
            raise ModelError('%s gives %s %s; its metadata says images (N, %d, %d, %d) float'
                             % ((path, images.type, _shape_words(images.shape))
                                + self.image_shape))
        if self.image_shape[0] != IMAGE_CHANNELS:
            raise ModelError('%s draws %d-channel images; the PNG grid needs %d (RGB)'
                             % (path, self.image_shape[0], IMAGE_CHANNELS))
        self.input_name = noise.name

    def generate(self, noise):
        """Images (B, C, H, W) in [-1, 1] for one batch of noise (B, Z, 1, 1)."""
        return self.session.run(None, {self.input_name: noise})[0]

    def sample(self, count, seed, progress=None):
        """`count` images and their noise, for `seed`: the digits sample.py draws from the
        checkpoint this model came from (dcgan/drawing.py, as is `progress`)."""
        return drawing.draw(self.generate, count, seed, self.batch_size, self.noise_dim,
                            progress)

    def describe(self):
        return '%s generator of iteration %d' % (self.metadata['generator'],
                                                 self.metadata['iteration'])


def _shape_words(shape):
    return '(%s)' % ', '.join(str(d) if isinstance(d, int) else 'N' for d in shape)
