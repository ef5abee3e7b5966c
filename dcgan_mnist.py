"""Train a DCGAN on MNIST with MXNet's Module API, as the MXNet DCGAN tutorial does.

    python dcgan_mnist.py                           # one epoch, the tutorial's settings
    python dcgan_mnist.py --max-iters 200           # a quick look
    python dcgan_mnist.py --resume runs/RUN         # continue a run where it stopped
    python dcgan_mnist.py --help                    # every flag

Every 50 iterations it prints one status line and saves the tutorial's figure (generated
digits beside real ones, and the generator's output for one fixed noise batch) as a PNG,
showing it live when it can. A run's folder holds:

    epoch000_iter0050.png ...   the figures
    fixed/iter0000050.png ...   the fixed-noise grids alone, comparable from one to the next
    progress.png                the fixed-noise samples over the whole run, one row a snapshot
    metrics.csv, curves.png     every iteration's losses and D's outputs, and their plot
    scores.csv                  the scores taken with --score-every (see score.py)
    checkpoints/iter-NNNNNNN/   everything needed to resume (see checkpoint.py)
"""
# First of all: refuses a Python MXNet cannot run (in one line), sets the thread defaults
# before numpy and MXNet load, and gives numpy back the aliases MXNet uses.
import mxnet_setup

import functools
import math
import os
import random
import signal
import sys
import time
from dataclasses import dataclass

import numpy as np

try:
    import mxnet as mx
except OSError as load_error:
    sys.exit('error: ' + mxnet_setup.explain_load_failure(load_error))

import averaging
import checkpoint
import metrics
import mnist
import notebook
import score
import symbols
import visualize
import watchdog
from cli import (OneLineArgumentParser, context_spec, gpu_list, positive_float, positive_int,
                 unit_interval)
from rand_iter import RandIter
from sample import Sampler

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

CHECKPOINT_EVERY = 500
KEEP_CHECKPOINTS = 3
PROGRESS_SNAPSHOTS = 10  # rows of progress.png
PROGRESS_SAMPLES = 16    # fixed-noise samples in each row
EXIT_INTERRUPTED = 130   # the shell's code for a program stopped by Ctrl-C
RESUME_COMMAND = 'python dcgan_mnist.py --resume %s'
EXIT_STALLED = 1
STALL_TIMEOUT = 120      # seconds without an iteration before a distributed worker gives up
SCORE_SAMPLES = 1000

# Settings that define a run's training: fixed when it starts, kept when it resumes.
RUN_SETTINGS = {'batch_size': BATCH_SIZE, 'lr': LEARNING_RATE, 'beta1': BETA1,
                'init_sigma': INIT_SIGMA, 'noise_dim': symbols.NOISE_DIM, 'seed': None,
                'average_decay': None}


# ============================== command line ==============================

def default_output_dir():
    return os.path.join('runs', time.strftime('%Y%m%d-%H%M%S'))


def parse_args(argv=None):
    parser = OneLineArgumentParser(description='Train the MXNet Module-API DCGAN on MNIST.')
    run = parser.add_argument_group('run')
    run.add_argument('--epochs', type=positive_int, default=EPOCHS,
                     help='passes over the 70,000 images (default: %(default)s)')
    run.add_argument('--max-iters', type=positive_int, default=None,
                     help='stop when this many iterations are done in all, for quick runs')
    run.add_argument('--data-dir', default=None,
                     help='folder with the four MNIST IDX files, raw or .gz; downloaded there '
                          'when missing (default: $%s, else the copy in data/mnist)'
                          % mnist.DATA_DIR_ENV)
    run.add_argument('--no-download', action='store_true',
                     help='fail instead of downloading MNIST when the files are missing')
    run.add_argument('--output-dir', default=None,
                     help='the run\'s folder (default: a new runs/YYYYmmdd-HHMMSS)')
    run.add_argument('--overwrite', action='store_true',
                     help='allow an output directory that already has files')
    run.add_argument('--resume', metavar='RUN', default=None,
                     help='continue the run in folder RUN (or from one of its checkpoints) '
                          'with its own settings; it goes on writing there')
    run.add_argument('--checkpoint-every', type=positive_int, default=CHECKPOINT_EVERY,
                     help='iterations between checkpoints, besides those at every epoch end, '
                          'at the end and on Ctrl-C (default: %(default)s)')
    run.add_argument('--keep-checkpoints', type=positive_int, default=KEEP_CHECKPOINTS,
                     help='how many of the newest checkpoints to keep (default: %(default)s)')
    run.add_argument('--context', type=context_spec, default='auto',
                     help='device: auto takes gpu(0) when MXNet sees a GPU, else the CPU; '
                          'cpu; gpu; or a list such as gpu:0,1 to split every batch across '
                          'devices (default: auto)')
    run.add_argument('--gpus', type=gpu_list, default=None, metavar='LIST',
                     help='the same as --context gpu:LIST, e.g. --gpus 0,1')
    run.add_argument('--kvstore', choices=('local', 'dist_sync'), default='local',
                     help='local: one process; dist_sync: one of several workers started by '
                          'MXNet\'s launcher (python launch.py ..., see the README), each on its '
                          'own share of the data, gradients summed by the parameter servers '
                          '(default: local)')
    run.add_argument('--stall-timeout', type=positive_float, default=STALL_TIMEOUT,
                     metavar='SECONDS',
                     help='with dist_sync: a worker that finishes no iteration for this long '
                          '(or 10 times its median iteration, if longer) stops, saying '
                          'that a peer stopped responding (default: %(default)s)')
    run.add_argument('--vis-every', type=positive_int, default=VIS_EVERY,
                     help='iterations between status lines and figures (default: %(default)s)')
    run.add_argument('--no-show', action='store_true',
                     help='only save figures, never open a window')
    run.add_argument('--score-every', type=positive_int, default=None, metavar='K',
                     help='score the generator every K iterations with the shipped LeNet '
                          'scorer (see score.py) and log the scores to scores.csv; off by '
                          'default')
    run.add_argument('--score-samples', type=positive_int, default=SCORE_SAMPLES, metavar='N',
                     help='samples per score during training (default: %(default)s)')
    model = parser.add_argument_group('training settings (the tutorial\'s by default; a '
                                      'resumed run keeps its own)')
    model.add_argument('--seed', type=int, default=None,
                       help='seed for the weight initialisation and all noise (default: a '
                            'random one, printed so the run can be repeated)')
    model.add_argument('--batch-size', type=positive_int, default=None,
                       help='images per batch (default: %d)' % BATCH_SIZE)
    model.add_argument('--lr', type=positive_float, default=None,
                       help='Adam learning rate, both networks (default: %g)' % LEARNING_RATE)
    model.add_argument('--beta1', type=unit_interval, default=None,
                       help='Adam beta1, both networks (default: %g)' % BETA1)
    model.add_argument('--init-sigma', type=positive_float, default=None,
                       help='standard deviation of the normal weight initialisation '
                            '(default: %g)' % INIT_SIGMA)
    model.add_argument('--average-generator', dest='average_decay', metavar='DECAY',
                       type=unit_interval, nargs='?', const=averaging.DEFAULT_DECAY,
                       default=None,
                       help='also keep an exponential moving average of the generator\'s '
                            'weights, with this decay (default when given: %g; warmed up, see '
                            'averaging.py); off by default' % averaging.DEFAULT_DECAY)
    model.add_argument('--noise-dim', type=positive_int, default=None,
                       help='length Z of the generator\'s noise vector (default: %d)'
                            % symbols.NOISE_DIM)
    args = parser.parse_args(argv)
    if args.gpus is not None:
        if args.context != 'auto':
            parser.error('give --gpus or --context, not both')
        args.context = args.gpus
    args.data_dir = args.data_dir or mnist.default_data_dir()
    return args


class SetupError(Exception):
    """Something the user can fix (flags, output directory, data size); the message says what."""


def settle_settings(args, saved=None):
    """Fill in the run settings: a resumed run's own (flags may repeat, not change, them),
    else the flags given, else the tutorial's defaults and a fresh random seed."""
    for name, default in RUN_SETTINGS.items():
        given = getattr(args, name)
        if saved is not None:
            if given is not None and given != saved[name]:
                raise SetupError('--%s %s differs from the resumed run\'s %s; a resumed run '
                                 'keeps its settings' % (name.replace('_', '-'), given,
                                                         saved[name]))
            setattr(args, name, saved[name])
        elif given is None:
            setattr(args, name, default)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(2 ** 31)


def check_output_dir(path, overwrite):
    """Refuse an output folder that already holds files unless `overwrite` is set."""
    if os.path.isdir(path) and os.listdir(path) and not overwrite:
        raise SetupError('output directory %s already has files; choose another --output-dir '
                         'or pass --overwrite' % path)


def prepare_output_dir(path, overwrite):
    """Create `path`, after check_output_dir."""
    check_output_dir(path, overwrite)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise SetupError('cannot create output directory %s (%s)' % (path, e.strerror)) from None


def pick_devices(args):
    """The context (or list of contexts) to train on, and a notice for the user or None."""
    if isinstance(args.context, tuple):
        contexts = mxnet_setup.choose_devices(mx, *args.context)
        if args.batch_size % len(contexts):
            raise SetupError('--batch-size %d does not split evenly across %d devices'
                             % (args.batch_size, len(contexts)))
        return contexts, None
    return mxnet_setup.choose_context(mx, args.context)


def first_device(ctx):
    return ctx[0] if isinstance(ctx, list) else ctx


def open_run(args, chief=True):
    """Settle the settings and the run folder; returns the checkpoint resumed from, or None.
    Only the chief (the one process, or the first worker) checks the folder; it is created
    once the data and the devices are ready (an error before then leaves nothing behind)."""
    if args.resume is None:
        settle_settings(args)
        args.output_dir = args.output_dir or default_output_dir()
        if chief:
            check_output_dir(args.output_dir, args.overwrite)
        return None
    if args.output_dir is not None:
        raise SetupError('--output-dir cannot be combined with --resume: a resumed run goes '
                         'on in its own folder')
    found, state = checkpoint.open_checkpoint(args.resume, RESUME_COMMAND % '%s')
    settle_settings(args, state)
    args.output_dir = os.path.dirname(os.path.dirname(os.path.abspath(found)))
    return found


def create_kvstore(args):
    """MXNet's distributed kvstore for --kvstore dist_sync, else None (a single process)."""
    if args.kvstore == 'local':
        return None
    if args.seed is None and args.resume is None:
        raise SetupError('--kvstore %s needs --seed: every worker must start from the same '
                         'weights' % args.kvstore)
    if 'DMLC_ROLE' not in os.environ:
        raise SetupError('--kvstore %s: start the workers with MXNet\'s launcher (python '
                         'launch.py ...: README, "Several machines"), which sets DMLC_ROLE and '
                         'the scheduler\'s address' % args.kvstore)
    return mx.kv.create(args.kvstore)


# ============================== data ==============================

def load_image_iter(data_dir, batch_size, download=True, shard=(0, 1)):
    """The tutorial's real-image batches: all of MNIST, shuffled, 64x64x3 in [-1, 1] (for
    worker k of n in distributed training, its share: `shard` = (k, n))."""
    images, _ = mnist.load_or_download_mnist(data_dir, download)
    if batch_size > len(images):
        raise SetupError('--batch-size %d is larger than the %d images in %s'
                         % (batch_size, len(images), data_dir))
    return mnist.MnistBatches(images, batch_size, symbols.IMAGE_SIZE, shard=shard)


# ============================== networks ==============================

def build_generator(ctx, batch_size, noise_dim, lr, beta1, sigma, kvstore='local'):
    generator = mx.mod.Module(symbol=symbols.generator_symbol(), data_names=('rand',),
                              label_names=None, context=ctx)
    generator.bind(data_shapes=[('rand', (batch_size, noise_dim, 1, 1))])
    _init(generator, lr, beta1, sigma, kvstore)
    return generator


def build_discriminator(ctx, batch_size, lr, beta1, sigma, kvstore='local'):
    discriminator = mx.mod.Module(symbol=symbols.discriminator_symbol(), data_names=('data',),
                                  label_names=('label',), context=ctx)
    size = symbols.IMAGE_SIZE
    # inputs_need_grad: the generator learns from the gradient with respect to D's input.
    discriminator.bind(data_shapes=[('data', (batch_size, symbols.IMAGE_CHANNELS, size, size))],
                       label_shapes=[('label', (batch_size,))],
                       inputs_need_grad=True)
    _init(discriminator, lr, beta1, sigma, kvstore)
    return discriminator


def build_judge(discriminator):
    """D as the generator's step needs it: the same Module's weights and BatchNorm statistics
    (shared memory, so every update of D shows here at once), with gradients for its input only.

    The tutorial's step 5 runs D's full backward and throws D's weight gradients away; this
    gives the same input gradient and skips one of the nine passes an iteration makes through
    D's weights (about 8% of the work).
    """
    judge = mx.mod.Module(symbol=symbols.discriminator_symbol(), data_names=('data',),
                          label_names=('label',), context=discriminator._context,
                          fixed_param_names=discriminator._param_names)
    judge.bind(data_shapes=discriminator.data_shapes, label_shapes=discriminator.label_shapes,
               inputs_need_grad=True, shared_module=discriminator)
    return judge


def _init(module, lr, beta1, sigma, kvstore):
    # Normal(sigma) draws the weights; MXNet's initialiser sets BatchNorm gamma to 1 and beta
    # to 0 by name. init_optimizer sets rescale_grad = 1 / batch_size itself.
    module.init_params(initializer=mx.init.Normal(sigma))
    module.init_optimizer(kvstore=kvstore, optimizer='adam',
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


def train_step(generator, discriminator, real, noise, judge=None):
    """One iteration of the tutorial: update D on fakes and reals, then G through D.

    `real` is a batch of images (B, 3, 64, 64) and `noise` a batch (B, Z, 1, 1), both NDArrays.
    `judge` (see build_judge) takes D's place in step 5 when given; without it, step 5 is the
    tutorial's to the letter. Returns a StepResult; reading it back is the iteration's sync
    point, so the asynchronous engine never runs more than one iteration ahead.
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
    judge = judge or discriminator
    judge.forward(mx.io.DataBatch([fake], [real_labels]), is_train=True)
    judge.backward()
    d_fake_after = judge.get_outputs()[0]
    generator.backward(judge.get_input_grads())
    generator.update()

    return StepResult(d_real=d_real.asnumpy().ravel(), d_fake=d_fake.asnumpy().ravel(),
                      d_fake_after=d_fake_after.asnumpy().ravel())


def status_line(epoch, iteration, iterations_per_epoch, result, seconds_per_iter, time_left):
    return ('epoch %d  iter %d/%d  loss_D %.4f  loss_G %.4f  D(x) %.3f  D(G(z)) %.3f  '
            '%.2f s/iter  %s left' % (epoch, iteration, iterations_per_epoch, result.d_loss,
                                      result.g_loss, result.d_real.mean(), result.d_fake.mean(),
                                      seconds_per_iter, time_left))


def metrics_row(done, epoch, iteration, result, seconds):
    return {'global_iteration': done, 'epoch': epoch, 'iteration': iteration,
            'd_loss': result.d_loss, 'g_loss': result.g_loss,
            'd_real': float(result.d_real.mean()), 'd_fake': float(result.d_fake.mean()),
            'd_fake_after': float(result.d_fake_after.mean()),
            'd_acc_real': float(np.mean(result.d_real > 0.5)),
            'd_acc_fake': float(np.mean(result.d_fake < 0.5)), 'seconds': seconds}


def figure_viewer():
    """Where the figure is shown besides its PNG: under the running cell in a notebook, else
    in a window when there is a display, else nowhere."""
    return notebook.FigureInPlace() if notebook.in_kernel() else visualize.window_viewer()


def progress_display(total, batch_size, done):
    """The live progress line: in place under the cell in a notebook, else on the terminal."""
    kind = notebook.NotebookProgress if notebook.in_kernel() else metrics.Progress
    return kind(total, batch_size, done=done)


class StopRequested:
    """Turns the first Ctrl-C (or SIGTERM) into a request to stop after the current iteration;
    a second Ctrl-C interrupts at once."""

    def __init__(self):
        self.requested = False

    def __enter__(self):
        self.previous = {sig: signal.signal(sig, self._handle)
                         for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        print('\nStopping after this iteration (Ctrl-C again to stop at once) ...', flush=True)

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


class Interrupted(Exception):
    """Training stopped on request; a checkpoint was saved."""


class Trainer:
    """The tutorial's loop over epochs and batches, with the run's logs, figures and checkpoints.

    `done` counts the iterations finished over the whole run: iteration k of epoch e (both
    from 0) is number e * iterations_per_epoch + k, and noise batch number `done` feeds it.
    """

    def __init__(self, args, ctx, image_iter, resumed_from=None, kvstore=None):
        self.args = args
        # Distributed training: every worker trains, only the first (the chief) writes.
        self.distributed = kvstore is not None
        self.rank, self.workers = (kvstore.rank, kvstore.num_workers) if kvstore else (0, 1)
        self.chief = self.rank == 0
        self.iterations_per_epoch = math.ceil(image_iter.num_data / args.batch_size)
        self.total = args.epochs * self.iterations_per_epoch
        if args.max_iters is not None:
            self.total = min(self.total, args.max_iters)
        self.image_iter = image_iter
        self.devices = len(ctx) if isinstance(ctx, list) else 1
        mx.random.seed(args.seed)
        self.generator = build_generator(ctx, args.batch_size, args.noise_dim, args.lr,
                                         args.beta1, args.init_sigma, kvstore or 'local')
        self.discriminator = build_discriminator(ctx, args.batch_size, args.lr, args.beta1,
                                                 args.init_sigma, kvstore or 'local')
        self.judge = build_judge(self.discriminator)
        self.average = None
        if resumed_from is None:
            self.start_fresh()
        else:
            self.restore(resumed_from)
        self.rand_iter = RandIter(args.batch_size, args.noise_dim, ctx=first_device(ctx),
                                  seed=args.seed, start=self.done, stream=self.rank)
        self.progress = progress_display(self.total, args.batch_size, self.done)
        self.health = metrics.HealthCheck()
        # Started by a distributed run only; a single process never waits for anyone.
        self.guard = watchdog.StallWatchdog(args.stall_timeout, functools.partial(
            exit_stalled_worker, self.rank, self.workers, args.output_dir))
        self.figure = self.log = self.scorer = self.score_log = None
        if self.chief:
            self.open_outputs(first_device(ctx), resumed=resumed_from is not None)

    def start_fresh(self):
        args = self.args
        self.done = 0
        self.fixed_noise = np.random.RandomState(args.seed).standard_normal(
            (args.batch_size, args.noise_dim, 1, 1)).astype(np.float32)
        if args.average_decay is not None:
            self.average = averaging.GeneratorAverage(self.generator, args.average_decay)

    def restore(self, found):
        """Continue from the checkpoint `found`, refusing one this setup cannot continue."""
        args = self.args
        state = checkpoint.load_state(found)  # its files were verified by open_run
        if state['num_images'] != self.image_iter.num_data:
            raise SetupError('the run was trained on %d images, %s holds %d'
                             % (state['num_images'], args.data_dir, self.image_iter.num_data))
        if (state['devices'], state['workers']) != (self.devices, self.workers):
            raise SetupError('the run was trained on %d device(s) in %d worker(s); resume it '
                             'on as many (each device has its own BatchNorm statistics and '
                             'optimizer state)' % (state['devices'], state['workers']))
        checkpoint.restore_modules(found, self.modules)
        self.done = state['global_iteration']
        self.fixed_noise = checkpoint.load_fixed_noise(found)
        if args.average_decay is not None:
            average, _ = checkpoint.load_params(os.path.join(found, checkpoint.AVERAGE))
            self.average = averaging.GeneratorAverage(self.generator, args.average_decay,
                                                      average, state['average_updates'])

    def open_outputs(self, ctx, resumed):
        """What only the writing process needs: sampler, figure, logs, scorer."""
        args = self.args
        resume_after = self.done if resumed else None
        self.sampler = Sampler(ctx, args.batch_size, args.noise_dim)
        self.figure = visualize.ComparisonFigure(None if args.no_show else figure_viewer())
        self.log = metrics.MetricsLog(self.path('metrics.csv'), resume_after=resume_after)
        if args.score_every:
            self.scorer = score.TrainingScorer(args.data_dir, ctx, args.score_samples,
                                               args.seed)
            self.score_log = metrics.MetricsLog(self.path('scores.csv'), resume_after,
                                                fields=metrics.SCORE_FIELDS)

    @property
    def modules(self):
        return {'generator': self.generator, 'discriminator': self.discriminator}

    def path(self, *parts):
        return os.path.join(self.args.output_dir, *parts)

    def run(self, stop):
        """Train until `total` iterations are done or `stop.requested`; returns iterations run."""
        start = self.done
        while self.done < self.total:
            epoch, skip = divmod(self.done, self.iterations_per_epoch)
            self.image_iter.reset()
            self.image_iter.skip(skip)  # a resumed run picks up mid-epoch: same order
            for iteration in range(skip + 1, self.iterations_per_epoch + 1):
                self.iterate(epoch, iteration)
                if self.done == self.total:
                    break
                if stop.requested:
                    with self.guard.paused():
                        self.save('interrupted')
                    raise Interrupted
        with self.guard.paused():
            self.save('end')
            self.finish()
        return self.done - start

    def iterate(self, epoch, iteration):
        batch = self.image_iter.next()
        noise = self.rand_iter.next().data[0]
        started = time.perf_counter()
        result = train_step(self.generator, self.discriminator, batch.data[0], noise,
                            self.judge)
        self.update_averages()
        self.done += 1
        if self.distributed:
            mx.nd.waitall()  # the kvstore's sums have arrived: the iteration is really done
        self.guard.iteration_done()
        if self.chief:
            with self.guard.paused():  # the other workers wait meanwhile: that is no hang
                self.record(epoch, iteration, result, batch, started)

    def update_averages(self):
        """Fold the generator's new weights into its moving average, when one is kept."""
        if self.average:
            self.average.update(self.generator)

    def record(self, epoch, iteration, result, batch, started):
        """The writing process's part of an iteration: log, report, score, checkpoint."""
        row = metrics_row(self.done, epoch, iteration, result, time.perf_counter() - started)
        self.log.append(row)
        for warning in self.health.check(row):
            self.warn(warning)
        self.progress.update(self.done)
        if iteration % self.args.vis_every == 0 or self.done == self.total:
            self.report(epoch, iteration, result, batch.data[0].asnumpy())
        if self.scorer and self.done % self.args.score_every == 0:
            self.score()
        if iteration == self.iterations_per_epoch:
            self.save('epoch end')
        elif self.done % self.args.checkpoint_every == 0:
            self.save('every %d iterations' % self.args.checkpoint_every)

    def report(self, epoch, iteration, result, real):
        """The status line, the figure, the fixed-noise grid and the curves."""
        self.progress.clear()
        print(status_line(epoch, iteration, self.iterations_per_epoch, result,
                          self.progress.seconds_per_iteration(self.done),
                          self.progress.time_left(self.done)), flush=True)
        samples = [self.sample_fixed_noise(arg_params, aux_params)
                   for _, arg_params, aux_params in self.generators()]
        fixed = samples[0]
        if not np.isfinite(fixed).all():
            self.warn('iteration %d: the generator produced NaN or inf' % self.done)
        panels = [('From generator', self.generator.get_outputs()[0].asnumpy()),
                  ('From MNIST', real), ('Fixed noise', fixed)]
        if self.average:
            panels.append(('Fixed noise, averaged G', samples[1]))
        self.figure.update(panels, 'epoch %d, iteration %d' % (epoch, iteration),
                           self.path('epoch%03d_iter%04d.png' % (epoch, iteration)))
        os.makedirs(self.path('fixed'), exist_ok=True)
        visualize.save_grid(visualize.batch_to_grid(fixed),
                            self.path('fixed', 'iter%07d.png' % self.done))
        metrics.plot_curves(self.log.path, self.path('curves.png'))

    def warn(self, message):
        self.progress.clear()
        print('warning: ' + message, flush=True)

    def generators(self):
        """(name, arg_params, aux_params) of the generator, and of its average when kept."""
        mx.nd.waitall()  # parameters read right after a step can be stale otherwise
        arg_params, aux_params = self.generator.get_params()
        found = [('plain', arg_params, aux_params)]
        if self.average:
            found.append(('averaged', self.average.params, aux_params))
        return found

    def score(self):
        """Score the generator (and its average) now; log, print, and warn of collapse."""
        for name, arg_params, aux_params in self.generators():
            self.sampler.set_params(arg_params, aux_params)
            try:
                scores = self.scorer.score(self.sampler)
            except FloatingPointError as e:
                self.warn('iteration %d: %s' % (self.done, e))
                continue
            self.score_log.append(dict(scores, global_iteration=self.done, generator=name))
            self.progress.clear()
            print('score  iter %d  %s  IS %.2f  FID %.1f  digits covered %d/10  precision %.2f  '
                  'recall %.2f' % (self.done, name, scores['inception_score'], scores['fid'],
                                   scores['classes_covered'], scores['precision'],
                                   scores['recall']), flush=True)
            if score.collapsed(scores):
                self.warn('iteration %d: mode collapse? Only %d of 10 digits make up 2%% or '
                          'more of the %s generator\'s samples'
                          % (self.done, scores['classes_covered'], name))

    def sample_fixed_noise(self, arg_params, aux_params):
        self.sampler.set_params(arg_params, aux_params)
        return self.sampler.generate(self.fixed_noise)

    def save(self, reason):
        if not self.chief:
            return None
        state = {'global_iteration': self.done, 'epoch': self.done // self.iterations_per_epoch,
                 'iterations_per_epoch': self.iterations_per_epoch,
                 'num_images': self.image_iter.num_data, 'data_seed': mnist.ORDER_SEED,
                 'reason': reason, 'devices': self.devices, 'workers': self.workers,
                 'mxnet_version': mx.__version__}
        state.update({name: getattr(self.args, name) for name in RUN_SETTINGS})
        if self.average:
            state['average_updates'] = self.average.updates
        return checkpoint.save_checkpoint(
            self.args.output_dir, self.modules, state, self.fixed_noise,
            keep=self.args.keep_checkpoints, average=self.average and self.average.params)

    def finish(self):
        """The end-of-run picture: the fixed-noise progress strip. (The curves are already
        current: the last iteration always reports.)"""
        if not self.chief:
            return
        self.progress.clear()
        visualize.save_progress_strip(self.path('fixed'), self.path('progress.png'),
                                      PROGRESS_SNAPSHOTS, PROGRESS_SAMPLES)

    def close(self):
        for log in (self.log, self.score_log):
            if log:
                try:
                    log.close()
                except OSError:  # the disk is full: what was flushed is there; already told
                    pass
        if self.figure:
            self.figure.close()


# ============================== main ==============================

def describe_write_error(error):
    if isinstance(error, OSError) and error.filename:
        return 'writing %s failed: %s' % (error.filename, error.strerror)
    return str(error)


def where_to_resume(run_dir, how=None):
    """What a run stopped by an error can continue from, in words (`how`: the way to continue,
    by default the resume command)."""
    saved = checkpoint.list_checkpoints(run_dir)
    if not saved:
        return 'no checkpoint was saved yet: start the run again'
    return 'the newest checkpoint is %s; continue with: %s' % (
        saved[-1], how or RESUME_COMMAND % run_dir)


def exit_stalled_worker(rank, workers, run_dir, waited, limit):
    """The watchdog's verdict in a distributed run: say so in one line and end the process
    (its training thread is stuck inside MXNet, waiting for the others)."""
    print('error: worker %d of %d: no iteration finished in %.0f s (the limit is %.0f s): '
          'another worker or a parameter server stopped responding; %s'
          % (rank, workers, waited, limit, where_to_resume(
              run_dir, 'the launch command again, its workers given --resume %s' % run_dir)),
          file=sys.stderr, flush=True)
    os._exit(EXIT_STALLED)


def main(argv=None, trainer_class=Trainer):
    """Run the program with `argv` (default: the command line). In a terminal an error ends
    the process with its exit code (1; 2 for a bad flag; 130 after Ctrl-C). Inside a notebook
    kernel the message is printed and the code returned instead, so the kernel lives on."""
    try:
        train(argv, trainer_class)
    except SystemExit as stop:
        if not notebook.in_kernel():
            raise
        return notebook.exit_status(stop)
    return 0


def train(argv, trainer_class=Trainer):
    """The program; `trainer_class` lets a study (average_study.py) add to the Trainer."""
    args = parse_args(argv)
    try:
        kvstore = create_kvstore(args)
        shard = (kvstore.rank, kvstore.num_workers) if kvstore else (0, 1)
        resumed_from = open_run(args, chief=shard[0] == 0)
        ctx, notice = pick_devices(args)
        if notice:
            print(notice)
        started = time.perf_counter()
        image_iter = load_image_iter(args.data_dir, args.batch_size, not args.no_download,
                                     shard)
        print('MNIST: %d images from %s, ready in %.1f s'
              % (image_iter.num_data, args.data_dir, time.perf_counter() - started), flush=True)
        if shard[0] == 0 and not resumed_from:
            prepare_output_dir(args.output_dir, args.overwrite)
        trainer = trainer_class(args, ctx, image_iter, resumed_from, kvstore)
    except (SetupError, mnist.MnistDataError, mxnet_setup.ContextError,
            checkpoint.CheckpointError) as e:
        sys.exit('error: %s' % e)

    if resumed_from:
        print('Resuming %s at iteration %d' % (resumed_from, trainer.done))
    worker = ' as worker %d of %d' % (trainer.rank, trainer.workers) if kvstore else ''
    print('Training on %s%s with seed %d: %d iterations; the run goes to %s'
          % (ctx, worker, args.seed, trainer.total - trainer.done, args.output_dir), flush=True)
    if kvstore:
        trainer.guard.start()
    try:
        with StopRequested() as stop:
            trainer.run(stop)
    except Interrupted:
        print('Stopped at iteration %d; checkpoint saved. Continue with: %s'
              % (trainer.done, RESUME_COMMAND % args.output_dir))
        sys.exit(EXIT_INTERRUPTED)
    except (checkpoint.SaveError, OSError) as e:  # a full disk, a write error
        sys.exit('error: %s; %s' % (describe_write_error(e), where_to_resume(args.output_dir)))
    finally:
        trainer.close()
    print('Done: %d iterations in all. Checkpoints in %s; draw digits with: python sample.py %s'
          % (trainer.done, trainer.path(checkpoint.CHECKPOINTS), args.output_dir))


if __name__ == '__main__':  # also under %run in a notebook
    try:
        main()
    except KeyboardInterrupt:  # before training started, or a second Ctrl-C
        print('Interrupted.', file=sys.stderr)
        if not notebook.in_kernel():
            sys.exit(EXIT_INTERRUPTED)
