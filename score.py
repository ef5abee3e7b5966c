"""How good are the digits? A LeNet classifier, and the standard GAN scores in its space.

    python score.py runs/20261123-174402            # newest checkpoint of a run, 5,000 samples
    python score.py runs/.../checkpoints/iter-0000600 --num 5000 --json score.json

The classifier is the LeNet shipped in weights/lenet_mnist.params (dcgan/lenet.py): the
same network on every machine, checked by its SHA-256 before use, so that these numbers can
be compared with the README's and with anyone else's. Every score written names its hash.
`--classifier PATH` scores with other weights (tools/train_classifier.py makes them) and says
loudly that the numbers are not comparable.

The scores (dcgan/scoring.py): Inception Score, FID, KID, class coverage, precision and
recall, over N = 5,000 samples unless told (compare only equal N).

Beside the checkpoint's numbers it gives the same numbers for N real training images (the
floor: what a perfect generator would reach) and for an untrained generator (the ceiling).
Samples are drawn as everywhere in this project, BatchNorm in training mode, in batches of
the training batch size (dcgan/sampling.py).

What depends only on the real digits is cached in data/score_cache/ (see dcgan/scoring.py).
"""
# First of all: a Ctrl-C while the libraries load ends the command in one line; then MXNet with
# its setup (a Python it can run, thread defaults before numpy loads, numpy's removed
# aliases), or one line saying why not.
from dcgan import interrupts
if __name__ == '__main__':
    interrupts.exit_at_once_while_starting()
from dcgan.framework import mx  # noqa: E402

import json
import os
import sys

from dcgan import checkpoint, command_flags, devices, files, lenet, mnist, run_state
from dcgan.cli import (Check, OneLineArgumentParser, SetupError, UserError, check_writable,
                       command_to, fail)
from dcgan.progress import sampling_progress
from dcgan.lenet import classifier_input
from dcgan.sampling import Sampler, sampler_from_checkpoint
from dcgan.scoring import (CACHE_DIR, MIN_SAMPLES, NUM_SAMPLES, RealDigits, format_table,
                           score_inputs)
from dcgan_mnist import build_generator

NOT_COMPARABLE = ('warning: scoring with %s (SHA-256 %s), not the shipped classifier: these '
                  'scores are NOT comparable with the README\'s or with anyone else\'s')


def untrained_sampler(batch_size, noise_dim, seed, ctx):
    """A Sampler of a freshly initialised generator, as training starts from (the ceiling)."""
    mx.random.seed(seed)
    module = build_generator(ctx, batch_size, noise_dim, for_training=False)
    sampler = Sampler(ctx, batch_size, noise_dim)
    sampler.set_params(*module.get_params())
    return sampler


def parse_args(argv=None):
    parser = OneLineArgumentParser(prog='score.py', description='Score the digits of a '
                                   'generator checkpoint against MNIST with a LeNet classifier.')
    command_flags.add_checkpoint(parser)
    parser.add_argument('--num', type=Check(int, low=MIN_SAMPLES), default=NUM_SAMPLES,
                        help='samples to score (default: %(default)s; compare only equal N)')
    command_flags.add_noise_seed(parser, 'the sample noise and of the subsets')
    parser.add_argument('--json', default=None,
                        help='where to write the numbers (default: score-nN.json in the '
                             'checkpoint folder)')
    parser.add_argument('--no-baselines', action='store_true',
                        help='skip the floor (real digits) and ceiling (untrained generator)')
    parser.add_argument('--digits', action='store_true',
                        help='score a run trained on your own images (--data) that are digits '
                             'drawn as MNIST\'s (such as MNIST written as a folder: '
                             'tools/mnist_as_folder.py), against MNIST\'s test digits')
    parser.add_argument('--classifier', metavar='PATH', default=None,
                        help='score with these LeNet weights (made by tools/train_classifier.py) '
                             'instead of the shipped ones; the scores are then not comparable')
    parser.add_argument('--cache-dir', default=CACHE_DIR,
                        help='where the real digits\' statistics are cached (default: '
                             'data/score_cache)')
    command_flags.add_mnist_folder(parser)
    command_flags.add_context(parser)
    args = parser.parse_args(argv)
    args.data_dir = args.data_dir or mnist.default_data_dir()
    return args


def load_scorer(path, ctx):
    """The shipped classifier (verified) when `path` is None, else the weights in `path`."""
    if path is None:
        return lenet.load_classifier(lenet.SHIPPED, ctx)
    classifier = lenet.load_classifier(path, ctx, expected_sha256=None)
    if classifier.sha256 != lenet.SHIPPED_SHA256:
        print(NOT_COMPARABLE % (path, classifier.sha256), file=sys.stderr, flush=True)
    return classifier


def main(argv=None):
    args = parse_args(argv)
    try:
        ctx, _ = devices.choose_context(mx, args.context)
        found, state = run_state.open_checkpoint(args.checkpoint, command_to('python score.py'))
        if state['data'] != run_state.MNIST_DATA and not args.digits:
            raise SetupError('%s was trained on %s, not MNIST: the scores are a digit '
                             'classifier\'s, for MNIST runs (or, when its images are digits '
                             'as MNIST\'s, pass --digits)'
                             % (found, run_state.describe_data(state['data'])))
        sampler = sampler_from_checkpoint(found, state, ctx)
        averaged = None
        if os.path.exists(os.path.join(found, checkpoint.AVERAGE)):
            averaged = sampler_from_checkpoint(found, state, ctx, averaged=True)
        json_path = (args.json if args.json is not None
                     else os.path.join(found, 'score-n%d.json' % args.num))
        check_writable(json_path, '--json')
        classifier = load_scorer(args.classifier, ctx)
        real = RealDigits(classifier, args.data_dir, args.cache_dir)
    except UserError as e:  # dcgan/errors.py
        fail(e)
    if args.num > real.num_test:
        fail('--num %d is more than the %d test digits the scores compare with'
             % (args.num, real.num_test))
    print('Classifier %s: %.2f%% on the test digits'
          % (classifier.sha256[:12], 100 * real.test_accuracy))

    def score_sampler(name, s):
        # The line says what is under way; on a terminal the progress line, how long it takes.
        print('%s: drawing %d samples and scoring them ...' % (name, args.num), flush=True)
        images, _ = s.sample(args.num, args.seed, sampling_progress(args.num, s.batch_size))
        return name, score_inputs(classifier, classifier_input(images), real)

    columns = [score_sampler('iteration %d' % state['global_iteration'], sampler)]
    if averaged:
        columns.append(score_sampler('averaged G', averaged))
    if not args.no_baselines:
        print('real digits (floor): scoring %d ...' % args.num, flush=True)
        columns.append(('real digits (floor)', real.floor(args.num, args.seed)))
        columns.append(score_sampler('untrained G (ceiling)', untrained_sampler(
            state['batch_size'], state['noise_dim'], args.seed, ctx)))
    print('%d samples from %s:' % (args.num, found))
    print(format_table(columns))
    with files.written_whole(json_path) as temporary, open(temporary, 'w') as f:
        json.dump({'checkpoint': found, 'trained_on': state['data'],
                   'classifier_sha256': classifier.sha256,
                   'classifier_shipped': classifier.sha256 == lenet.SHIPPED_SHA256,
                   'classifier_test_accuracy': real.test_accuracy, 'seed': args.seed,
                   'sampling': 'BatchNorm in training mode, batches of %d' % state['batch_size'],
                   'scores': dict(columns)}, f, indent=2)
    print('Wrote %s' % json_path)


if __name__ == '__main__':
    sys.exit(interrupts.run(main, 'Interrupted: no file is left half-written.'))
