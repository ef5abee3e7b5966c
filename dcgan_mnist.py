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
    checkpoints/iter-NNNNNNN/   everything needed to resume (see dcgan/checkpoint.py)

Read top to bottom: the flags; the two networks and the tutorial's five-step iteration
(`train_step`); the loop over epochs and batches; `main`. Setting a run up (the settings
settled once, the folder, devices, data, state and outputs) is dcgan/run_setup.py's; what
happens around an iteration (logs, figures, scores, checkpoints) dcgan/hooks.py's; the run's
state and its checkpoint schema dcgan/run_state.py's; what a stopped run says
dcgan/resume_advice.py's.
"""
# First of all: a Ctrl-C while the libraries load ends the program in one line; then MXNet with
# its setup (a Python it can run, thread defaults before numpy loads, numpy's removed
# aliases), or one line saying why not.
from dcgan import interrupts
if __name__ == '__main__':
    interrupts.exit_at_once_while_starting()
from dcgan.framework import mx  # noqa: E402

import os
import sys
import time
from dataclasses import dataclass

import numpy as np

import symbols
from dcgan import (bfloat16, checkpoint, hooks, mnist, notebook, own_images, run_length,
                   run_setup, run_state)
from dcgan import MNIST_DIR_ENV
from dcgan import resume_advice as advice
from dcgan.averaging import DEFAULT_DECAY
from dcgan.cli import (Check, OneLineArgumentParser, UserError, context_spec, fail, gpu_list,
                       positive_float, positive_int)
from dcgan.interrupts import EXIT_INTERRUPTED
from dcgan.scoring import MIN_SAMPLES
from dcgan.stopping import Interrupted, StopRequested

# The tutorial's hyper-parameters.
BATCH_SIZE = 64
LEARNING_RATE = 0.0002
BETA1 = 0.5
INIT_SIGMA = 0.02
VIS_EVERY = 50
# A new run's settings unless flags say otherwise (the seed: a fresh random one).
TUTORIAL_SETTINGS = {'batch_size': BATCH_SIZE, 'lr': LEARNING_RATE, 'beta1': BETA1,
                     'init_sigma': INIT_SIGMA, 'noise_dim': symbols.NOISE_DIM,
                     'dtype': 'float32'}

REAL_LABEL = 1.0
FAKE_LABEL = 0.0
# Probabilities are clipped this far from 0 and 1 before taking logs for the printed losses.
LOG_EPS = 1e-12

CHECKPOINT_EVERY = 500
KEEP_CHECKPOINTS = 3
STALL_TIMEOUT = 120      # seconds without an iteration before a distributed worker gives up
SCORE_SAMPLES = 1000


# ============================== command line ==============================

def flag_parser():
    """The program's flags (docs/flags.md lists them: tests/test_docs.py holds the two alike)."""
    parser = OneLineArgumentParser(description='Train the MXNet Module-API DCGAN on MNIST.')
    run = parser.add_argument_group('run')
    run.add_argument('--epochs', type=positive_int, default=None,
                     help='passes over the data (default: MNIST, the tutorial\'s one epoch; '
                          'your own images, as many passes as show the tutorial\'s %d '
                          'images: dcgan/run_length.py)' % run_length.TUTORIAL_IMAGES)
    run.add_argument('--max-iters', type=positive_int, default=None,
                     help='train this many iterations in all (with --epochs: the smaller '
                          'goal)')
    run.add_argument('--data', default=None, metavar='PATH',
                     help='train on your own images instead of MNIST: a folder of them '
                          '(JPEG, PNG, BMP, ...; searched recursively; the shorter side '
                          'resized to 64 and the centre cropped) or a RecordIO file made by '
                          'MXNet\'s im2rec (tools/im2rec.py, dcgan/own_images.py); a resumed run '
                          'takes its own (default: MNIST)')
    run.add_argument('--data-dir', default=None,
                     help='MNIST\'s folder: the four IDX files, raw or .gz; downloaded there '
                          'when missing (default: $%s, else the copy in data/mnist)'
                          % MNIST_DIR_ENV)
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
                          'MXNet\'s launcher (python launch.py ..., docs/gpu-and-machines.md), '
                          'each on its own share of the data, gradients summed by the '
                          'parameter servers (default: local)')
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
    run.add_argument('--tensorboard', action='store_true',
                     help='also write TensorBoard event files to RUN/tb (needs tensorboardX: '
                          'pip install -r requirements-tensorboard.txt): the metrics, the '
                          'fixed-noise grids, the scores; off by default')
    run.add_argument('--score-samples', type=Check(int, low=MIN_SAMPLES),
                     default=SCORE_SAMPLES, metavar='N',
                     help='samples per score during training (default: %(default)s)')
    model = parser.add_argument_group('training settings (the tutorial\'s by default; a '
                                      'resumed run keeps its own)')
    settings = run_state.SETTINGS  # each flag checked as its field in a checkpoint is
    model.add_argument('--seed', type=settings['seed'], default=None,
                       help='seed for the weight initialisation and all noise (default: a '
                            'random one, printed so the run can be repeated)')
    model.add_argument('--batch-size', type=settings['batch_size'], default=None,
                       help='images per batch (default: %d)' % BATCH_SIZE)
    model.add_argument('--lr', type=settings['lr'], default=None,
                       help='Adam learning rate, both networks (default: %g)' % LEARNING_RATE)
    model.add_argument('--beta1', type=settings['beta1'], default=None,
                       help='Adam beta1, both networks (default: %g)' % BETA1)
    model.add_argument('--init-sigma', type=settings['init_sigma'], default=None,
                       help='standard deviation of the normal weight initialisation '
                            '(default: %g)' % INIT_SIGMA)
    model.add_argument('--average-generator', dest='average_decay', metavar='DECAY',
                       type=settings['average_decay'], nargs='?', const=DEFAULT_DECAY,
                       default=None,
                       help='also keep an exponential moving average of the generator\'s '
                            'weights, with this decay (default when given: %g; warmed up, see '
                            'dcgan/averaging.py); off by default' % DEFAULT_DECAY)
    model.add_argument('--dtype', type=settings['dtype'], default=None,
                       help='float32 (the tutorial\'s, the default) or bfloat16: the '
                            'convolutions in bfloat16, the weights, Adam and BatchNorm in '
                            'float32, on CPUs with bfloat16 instructions (dcgan/bfloat16.py)')
    model.add_argument('--noise-dim', type=settings['noise_dim'], default=None,
                       help='length Z of the generator\'s noise vector (default: %d)'
                            % symbols.NOISE_DIM)
    return parser


def parse_args(argv=None):
    parser = flag_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # the command to continue: its flags
    if args.gpus is not None:
        if args.context != 'auto':
            parser.error('give --gpus or --context, not both')
        args.context = args.gpus
    if args.data is not None and args.data_dir is not None:
        parser.error('--data-dir names MNIST\'s folder; with --data (your own images) it has '
                     'no use')
    args.data_dir = args.data_dir or mnist.default_data_dir()
    return args


# ============================== the networks ==============================

def network_symbol(symbol, dtype):
    """A network's symbol as `dtype` computes it: the tutorial's for float32."""
    return bfloat16.with_bfloat16_convolutions(symbol, mx) if dtype == 'bfloat16' else symbol


def build_generator(ctx, batch_size, noise_dim=symbols.NOISE_DIM, lr=LEARNING_RATE,
                    beta1=BETA1, sigma=INIT_SIGMA, kvstore='local', for_training=True,
                    dtype='float32'):
    """The generator as a bound, initialised Module, with its Adam optimizer when
    `for_training` (else for inference only: score.py's untrained generator)."""
    generator = mx.mod.Module(symbol=network_symbol(symbols.generator_symbol(), dtype),
                              data_names=('rand',), label_names=None, context=ctx)
    generator.bind(data_shapes=[('rand', (batch_size, noise_dim, 1, 1))],
                   for_training=for_training)
    _init(generator, sigma)
    if for_training:
        _init_optimizer(generator, lr, beta1, kvstore)
    return generator


def build_discriminator(ctx, batch_size, lr, beta1, sigma, kvstore='local', dtype='float32'):
    discriminator = mx.mod.Module(symbol=network_symbol(symbols.discriminator_symbol(), dtype),
                                  data_names=('data',), label_names=('label',), context=ctx)
    size = symbols.IMAGE_SIZE
    # inputs_need_grad: the generator learns from the gradient with respect to D's input.
    discriminator.bind(data_shapes=[('data', (batch_size, symbols.IMAGE_CHANNELS, size, size))],
                       label_shapes=[('label', (batch_size,))],
                       inputs_need_grad=True)
    _init(discriminator, sigma)
    _init_optimizer(discriminator, lr, beta1, kvstore)
    return discriminator


def build_judge(discriminator):
    """D as the generator's step needs it: the same Module's weights and BatchNorm statistics
    (shared memory, so every update of D shows here at once), with gradients for its input only.

    The tutorial's step 5 runs D's full backward and throws D's weight gradients away; this
    gives the same input gradient and skips one of the nine passes an iteration makes through
    D's weights (about 8% of the work).
    """
    judge = mx.mod.Module(symbol=discriminator.symbol, data_names=('data',),
                          label_names=('label',), context=discriminator._context,
                          fixed_param_names=discriminator._param_names)
    judge.bind(data_shapes=discriminator.data_shapes, label_shapes=discriminator.label_shapes,
               inputs_need_grad=True, shared_module=discriminator)
    return judge


def _init(module, sigma):
    # Normal(sigma) draws the weights; MXNet's initialiser sets BatchNorm gamma to 1 and beta
    # to 0 by name.
    module.init_params(initializer=mx.init.Normal(sigma))


def _init_optimizer(module, lr, beta1, kvstore):
    # init_optimizer sets rescale_grad = 1 / batch_size itself.
    module.init_optimizer(kvstore=kvstore, optimizer='adam',
                          optimizer_params={'learning_rate': lr, 'beta1': beta1})


# ============================== one iteration ==============================

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


# ============================== setting a run up ==============================

def build_networks(settings, ctx, kvstore):
    """The run's generator, discriminator and D's judge for step 5 (dcgan/run_setup.py calls
    this once the random seed is set)."""
    common = dict(ctx=ctx, batch_size=settings.batch_size, lr=settings.lr,
                  beta1=settings.beta1, sigma=settings.init_sigma, kvstore=kvstore,
                  dtype=settings.dtype)
    generator = build_generator(noise_dim=settings.noise_dim, **common)
    discriminator = build_discriminator(**common)
    return generator, discriminator, build_judge(discriminator)


# ============================== the loop ==============================

def train_loop(t, stop):
    """The tutorial's loop over epochs and batches, until `t.length.total` iterations are done
    or `stop.requested` (then raises Interrupted, a checkpoint saved)."""
    state, total = t.state, t.length.total
    while state.done < total:
        epoch, skip = divmod(state.done, state.iterations_per_epoch)
        t.images.reset()
        t.images.skip(skip)  # a resumed run picks up mid-epoch: same order
        for number in range(skip + 1, state.iterations_per_epoch + 1):
            real = t.images.next().data[0]
            noise = t.noise.next().data[0]
            started = time.perf_counter()
            result = train_step(t.generator, t.discriminator, real, noise, t.judge)
            state.advance(t.generator)
            if t.distributed:
                mx.nd.waitall()  # the kvstore's sums have arrived: the iteration is really done
            t.guard.iteration_done()
            with t.guard.paused():  # the other workers wait meanwhile: that is no hang
                t.hooks.after_iteration(hooks.Iteration(
                    state.done, epoch, number, result, real, time.perf_counter() - started,
                    epoch_end=number == state.iterations_per_epoch,
                    last=state.done == total))
            if state.done == total:
                break
            if t.stop_vote.agreed(stop.requested):
                with t.guard.paused():
                    t.hooks.at_stop('interrupted')
                raise Interrupted
    with t.guard.paused():
        t.hooks.at_stop('end')


# ============================== main ==============================

def main(argv=None):
    """Run the program with `argv` (default: the command line). In a terminal an error ends
    the process with its exit code (1; 2 for a bad flag; 130 after Ctrl-C). Inside a notebook
    kernel the message is printed and the code returned instead, so the kernel lives on."""
    interrupts.work_begins()
    try:
        run(start(parse_args(argv)))
    except SystemExit as stop:
        if not notebook.in_kernel():
            raise
        return notebook.exit_status(stop)
    return 0


def start(args):
    """The run the flags ask for, set up (dcgan/run_setup.py); its errors and a Ctrl-C told in
    one line (SystemExit)."""
    try:
        return run_setup.set_up(args, TUTORIAL_SETTINGS, build_networks)
    except UserError as e:  # dcgan/errors.py: every error meant for the user
        fail(e)
    except KeyboardInterrupt:
        print('Interrupted before training began: nothing was saved.', file=sys.stderr,
              flush=True)
        sys.exit(EXIT_INTERRUPTED)


def run(t):
    """Train a set-up run to its end, saying where it goes and how it ended."""
    settings = t.settings
    if t.resumed_from and t.state.done >= t.length.total:
        t.hooks.close()
        if t.rank == 0:
            print(advice.finished_run_line(settings, t.state.done))
        return
    if t.resumed_from:
        print('Resuming %s at iteration %d' % (t.resumed_from, t.state.done))
    worker = ' as worker %d of %d' % (t.rank, t.workers) if t.distributed else ''
    arithmetic = ' in bfloat16' if settings.dtype == 'bfloat16' else ''
    print('Training on %s%s%s with seed %d: %s; the run goes to %s'
          % (t.ctx, arithmetic, worker, settings.seed, t.length.describe(t.state.done),
             settings.output_dir), flush=True)
    if t.distributed:
        t.guard.start()
    try:
        with StopRequested() as stop:
            train_loop(t, stop)
    except Interrupted:
        if t.rank == 0:  # the one that saved
            t.console.say('Stopped at iteration %d; checkpoint saved. Continue with: %s'
                          % (t.state.done, advice.resume_command(settings)))
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:  # a second Ctrl-C: at once, nothing more saved
        t.console.progress.clear()
        print('Interrupted at once: what was trained since the newest checkpoint is lost; %s'
              % advice.where_to_resume(settings), file=sys.stderr, flush=True)
        sys.exit(EXIT_INTERRUPTED)
    except (checkpoint.SaveError, OSError) as e:  # a full disk, a write error
        t.console.progress.clear()
        fail('%s; %s' % (advice.describe_write_error(e), advice.where_to_resume(settings)))
    except own_images.ImageDataError as e:  # the images changed while the run read them
        t.console.progress.clear()
        fail('%s; %s' % (e, advice.where_to_resume(settings)))
    finally:
        t.hooks.close()
    t.console.say('Done: %s in all. Checkpoints in %s; draw digits with: python sample.py %s'
                  % (run_length.count(t.state.done, 'iteration'),
                     os.path.join(settings.output_dir, checkpoint.CHECKPOINTS), settings.output_dir))


if __name__ == '__main__':  # also under %run in a notebook
    try:
        main()
    except KeyboardInterrupt:  # while the flags were read
        print('Interrupted.', file=sys.stderr)
        if not notebook.in_kernel():
            sys.exit(EXIT_INTERRUPTED)
