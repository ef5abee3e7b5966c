"""Train a DCGAN on MNIST with MXNet's Module API, as the MXNet DCGAN tutorial does.

    python dcgan_mnist.py                       # one epoch, the tutorial's settings
    python dcgan_mnist.py --max-iters 200       # a quick look
    python dcgan_mnist.py --help                # every flag

Every 50 iterations it prints one status line and saves the tutorial's figure, generated
digits beside real ones, as a PNG in the output directory (and shows it when it can).
"""
import argparse
import math
import os
import random
import sys
import time
from dataclasses import dataclass

import numpy as np

import mxnet_setup  # sets the OpenMP thread default; must run before MXNet loads

try:
    import mxnet as mx
except OSError as load_error:
    sys.exit('error: ' + mxnet_setup.explain_load_failure(load_error))

import mnist
import symbols
import visualize
from rand_iter import RandIter

# The tutorial's hyper-parameters.
BATCH_SIZE = 64
EPOCHS = 1
LEARNING_RATE = 0.0002
BETA1 = 0.5
INIT_SIGMA = 0.02
VIS_EVERY = 50

REAL_LABEL = 1.0
FAKE_LABEL = 0.0
# Probabilities are clipped this far from 0 and 1 before taking logs for the printed losses.
LOG_EPS = 1e-12


# ============================== command line ==============================

class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line instead of usage text plus a line."""

    def error(self, message):
        self.exit(2, '%s: error: %s (see --help)\n' % (self.prog, message))


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError('%r is not a whole number' % text) from None
    if value < 1:
        raise argparse.ArgumentTypeError('%r must be at least 1' % text)
    return value


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError('%r is not a number' % text) from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError('%r must be a finite number above 0' % text)
    return value


def unit_interval(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError('%r is not a number' % text) from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError('%r must be at least 0 and below 1' % text)
    return value


def default_output_dir():
    return os.path.join('runs', time.strftime('%Y%m%d-%H%M%S'))


def parse_args(argv=None):
    parser = OneLineArgumentParser(description='Train the MXNet Module-API DCGAN on MNIST.')
    run = parser.add_argument_group('run')
    run.add_argument('--epochs', type=positive_int, default=EPOCHS,
                     help='passes over the 70,000 images (default: %(default)s)')
    run.add_argument('--max-iters', type=positive_int, default=None,
                     help='stop after this many iterations in all, for quick runs')
    run.add_argument('--data-dir', default=None,
                     help='folder with the four MNIST IDX files, raw or .gz; downloaded there '
                          'when missing (default: $%s, else the copy in data/mnist)'
                          % mnist.DATA_DIR_ENV)
    run.add_argument('--no-download', action='store_true',
                     help='fail instead of downloading MNIST when the files are missing')
    run.add_argument('--output-dir', default=None,
                     help='where figures go (default: a new runs/YYYYmmdd-HHMMSS)')
    run.add_argument('--overwrite', action='store_true',
                     help='allow writing into an output directory that already has files')
    run.add_argument('--context', choices=('auto', 'cpu', 'gpu'), default='auto',
                     help='device: auto takes gpu(0) when MXNet sees a GPU, else the CPU '
                          '(default: %(default)s)')
    run.add_argument('--seed', type=int, default=None,
                     help='seed for MXNet\'s weight initialisation and noise '
                          '(default: a random one, printed so the run can be repeated)')
    run.add_argument('--vis-every', type=positive_int, default=VIS_EVERY,
                     help='iterations between status lines and figures (default: %(default)s)')
    run.add_argument('--no-show', action='store_true',
                     help='only save figures, never open a window')
    model = parser.add_argument_group('model (the tutorial\'s values by default)')
    model.add_argument('--batch-size', type=positive_int, default=BATCH_SIZE,
                       help='images per batch (default: %(default)s)')
    model.add_argument('--lr', type=positive_float, default=LEARNING_RATE,
                       help='Adam learning rate, both networks (default: %(default)s)')
    model.add_argument('--beta1', type=unit_interval, default=BETA1,
                       help='Adam beta1, both networks (default: %(default)s)')
    model.add_argument('--init-sigma', type=positive_float, default=INIT_SIGMA,
                       help='standard deviation of the normal weight initialisation '
                            '(default: %(default)s)')
    model.add_argument('--noise-dim', type=positive_int, default=symbols.NOISE_DIM,
                       help='length Z of the generator\'s noise vector (default: %(default)s)')
    args = parser.parse_args(argv)
    args.data_dir = args.data_dir or mnist.default_data_dir()
    args.output_dir = args.output_dir or default_output_dir()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(2 ** 31)
    return args


class SetupError(Exception):
    """Something the user can fix (data, output directory, device); the message says what."""


def prepare_output_dir(path, overwrite):
    """Create `path`; refuse one that already holds files unless `overwrite` is set."""
    if os.path.isdir(path) and os.listdir(path) and not overwrite:
        raise SetupError('output directory %s already has files; choose another --output-dir '
                         'or pass --overwrite' % path)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise SetupError('cannot create output directory %s (%s)' % (path, e.strerror)) from None


# ============================== data ==============================

def load_image_iter(data_dir, batch_size, download=True):
    """The tutorial's real-image iterator: all of MNIST, shuffled, 64x64x3 in [-1, 1].

    The prepared array (3.4 GB for the full set) is written straight into an MXNet NDArray,
    which NDArrayIter then uses without a second copy.
    """
    images, _ = mnist.load_or_download_mnist(data_dir, download)
    if batch_size > len(images):
        raise SetupError('--batch-size %d is larger than the %d images in %s'
                         % (batch_size, len(images), data_dir))
    size = symbols.IMAGE_SIZE
    prepared = mx.nd.empty((len(images), symbols.IMAGE_CHANNELS, size, size))
    mnist.prepare_images(images, size, prepared)
    # The default last_batch_handle='pad' completes the last batch from the start of the
    # data, as in the tutorial: ceil(70000 / 64) = 1094 iterations per epoch.
    return mx.io.NDArrayIter(prepared, batch_size=batch_size)


# ============================== networks ==============================

def build_generator(ctx, batch_size, noise_dim, lr, beta1, sigma):
    generator = mx.mod.Module(symbol=symbols.generator_symbol(), data_names=('rand',),
                              label_names=None, context=ctx)
    generator.bind(data_shapes=[('rand', (batch_size, noise_dim, 1, 1))])
    _init(generator, lr, beta1, sigma)
    return generator


def build_discriminator(ctx, batch_size, lr, beta1, sigma):
    discriminator = mx.mod.Module(symbol=symbols.discriminator_symbol(), data_names=('data',),
                                  label_names=('label',), context=ctx)
    size = symbols.IMAGE_SIZE
    # inputs_need_grad: the generator learns from the gradient with respect to D's input.
    discriminator.bind(data_shapes=[('data', (batch_size, symbols.IMAGE_CHANNELS, size, size))],
                       label_shapes=[('label', (batch_size,))],
                       inputs_need_grad=True)
    _init(discriminator, lr, beta1, sigma)
    return discriminator


def _init(module, lr, beta1, sigma):
    # Normal(sigma) draws the weights; MXNet's initialiser sets BatchNorm gamma to 1 and beta
    # to 0 by name. init_optimizer sets rescale_grad = 1 / batch_size itself.
    module.init_params(initializer=mx.init.Normal(sigma))
    module.init_optimizer(optimizer='adam',
                          optimizer_params={'learning_rate': lr, 'beta1': beta1})


# ============================== training ==============================

@dataclass
class StepResult:
    """What one iteration's discriminator said, as numpy arrays of probabilities (B,)."""
    d_real: np.ndarray        # D(x) on the real batch
    d_fake: np.ndarray        # D(G(z)) before D's update (D's own step)
    d_fake_after: np.ndarray  # D(G(z)) after D's update (the generator's step)

    @property
    def d_loss(self):
        return bce(self.d_real, REAL_LABEL) + bce(self.d_fake, FAKE_LABEL)

    @property
    def g_loss(self):
        return bce(self.d_fake_after, REAL_LABEL)


def bce(probabilities, label):
    """Mean binary cross-entropy of `probabilities` against one label for the whole batch."""
    p = np.clip(probabilities.astype(np.float64), LOG_EPS, 1 - LOG_EPS)
    return float(-np.mean(np.log(p) if label == REAL_LABEL else np.log1p(-p)))


def train_step(generator, discriminator, real, noise):
    """One iteration of the tutorial: update D on fakes and reals, then G through D.

    `real` is a batch of images (B, 3, 64, 64) and `noise` a batch (B, Z, 1, 1), both NDArrays.
    Returns a StepResult; reading it back is the iteration's sync point, so the asynchronous
    engine never runs more than one iteration ahead.
    """
    batch_size = real.shape[0]
    fake_labels = mx.nd.full((batch_size,), FAKE_LABEL, ctx=real.context)
    real_labels = mx.nd.full((batch_size,), REAL_LABEL, ctx=real.context)

    # 1. The generator turns noise into fakes.
    generator.forward(mx.io.DataBatch([noise], []), is_train=True)
    fake = generator.get_outputs()[0]

    # 2. D learns that the fakes are fake; keep its gradients for step 4.
    discriminator.forward(mx.io.DataBatch([fake], [fake_labels]), is_train=True)
    discriminator.backward()
    d_fake = discriminator.get_outputs()[0].copy()
    fake_grads = [[grad.copy() for grad in grads]
                  for grads in discriminator._exec_group.grad_arrays]

    # 3. D learns that the real batch is real.
    discriminator.forward(mx.io.DataBatch([real], [real_labels]), is_train=True)
    discriminator.backward()
    d_real = discriminator.get_outputs()[0].copy()

    # 4. D steps once on the sum of both gradients.
    for grads, kept in zip(discriminator._exec_group.grad_arrays, fake_grads):
        for grad, kept_grad in zip(grads, kept):
            grad += kept_grad
    discriminator.update()

    # 5. The updated D judges the same fakes against the *real* label; the gradient with
    #    respect to its input tells G how to make them look more real.
    discriminator.forward(mx.io.DataBatch([fake], [real_labels]), is_train=True)
    discriminator.backward()
    d_fake_after = discriminator.get_outputs()[0]
    generator.backward(discriminator.get_input_grads())
    generator.update()

    return StepResult(d_real=d_real.asnumpy().ravel(), d_fake=d_fake.asnumpy().ravel(),
                      d_fake_after=d_fake_after.asnumpy().ravel())


def status_line(epoch, iteration, iterations_per_epoch, result, seconds_per_iter):
    return ('epoch %d  iter %d/%d  loss_D %.4f  loss_G %.4f  D(x) %.3f  D(G(z)) %.3f  '
            '%.2f s/iter' % (epoch, iteration, iterations_per_epoch, result.d_loss,
                             result.g_loss, result.d_real.mean(), result.d_fake.mean(),
                             seconds_per_iter))


def figure_path(output_dir, epoch, iteration):
    return os.path.join(output_dir, 'epoch%03d_iter%04d.png' % (epoch, iteration))


def train(args, generator, discriminator, image_iter, rand_iter, figure):
    """The tutorial's loop over epochs and batches; returns the iterations run."""
    iterations_per_epoch = math.ceil(image_iter.num_data / args.batch_size)
    total = args.epochs * iterations_per_epoch
    if args.max_iters is not None:
        total = min(total, args.max_iters)
    done = 0
    window_start, window_iters = time.perf_counter(), 0
    for epoch in range(args.epochs):
        image_iter.reset()
        for iteration, batch in enumerate(image_iter, start=1):
            noise = rand_iter.next().data[0]
            result = train_step(generator, discriminator, batch.data[0], noise)
            done += 1
            window_iters += 1
            if iteration % args.vis_every == 0 or done == total:
                seconds = (time.perf_counter() - window_start) / window_iters
                print(status_line(epoch, iteration, iterations_per_epoch, result, seconds),
                      flush=True)
                figure.update(generator.get_outputs()[0].asnumpy(), batch.data[0].asnumpy(),
                              'epoch %d, iteration %d' % (epoch, iteration),
                              figure_path(args.output_dir, epoch, iteration))
                window_start, window_iters = time.perf_counter(), 0
            if done == total:
                return done
    return done


# ============================== main ==============================

def main(argv=None):
    args = parse_args(argv)
    try:
        ctx, notice = mxnet_setup.choose_context(mx, args.context)
        if notice:
            print(notice)
        prepare_output_dir(args.output_dir, args.overwrite)
        print('Loading MNIST from %s ...' % args.data_dir, flush=True)
        image_iter = load_image_iter(args.data_dir, args.batch_size, not args.no_download)
    except (SetupError, mnist.MnistDataError, mxnet_setup.ContextError) as e:
        sys.exit('error: %s' % e)

    mx.random.seed(args.seed)
    rand_iter = RandIter(args.batch_size, args.noise_dim, ctx=ctx)
    generator = build_generator(ctx, args.batch_size, args.noise_dim, args.lr, args.beta1,
                                args.init_sigma)
    discriminator = build_discriminator(ctx, args.batch_size, args.lr, args.beta1,
                                        args.init_sigma)
    figure = visualize.ComparisonFigure(show=not args.no_show)
    print('Training on %s with seed %d; figures go to %s' % (ctx, args.seed, args.output_dir),
          flush=True)
    try:
        done = train(args, generator, discriminator, image_iter, rand_iter, figure)
    except KeyboardInterrupt:
        sys.exit('Interrupted.')
    finally:
        figure.close()
    print('Done: %d iterations.' % done)


if __name__ == '__main__':
    main()
