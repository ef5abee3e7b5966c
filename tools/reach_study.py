"""How well reaching into a trained generator works, measured on real data (docs/latent.md):

    python tools/reach_study.py projection RUN --targets 0-127   # MNIST test digits projected
    python tools/reach_study.py digits RUN --num 100              # each digit asked for

projection: each test digit's noise found as `sample.py RUN --project test:I-J` finds it
(dcgan/projection.py, its default steps and starts); reported, the share of projections the
shipped classifier gives the target's MNIST label, and the mean squared pixel error (on
[-1, 1]), with the same for the targets themselves as the classifier's own ceiling.

digits: for each digit D, `--num` digits drawn as `sample.py RUN --digit D` draws them
(dcgan/digit_request.py); an independent check, a k-nearest-neighbour vote among MNIST's
60,000 training digits (pixels at 28 x 28, the classifier never sees them), says which digit
each is; reported, the share the check calls D, the draws it took, and the styles' spread:
the mean distance between two chosen digits against that between two real test digits of D
(1.0: as varied as real handwriting; near 0: one digit a hundred times).
"""
import argparse
import json
import sys
import time

import on_path  # noqa: F401  (the repository on sys.path)

from dcgan.framework import mx

import numpy as np

import visualize
from dcgan import digit_request, latent_figures, lenet, mnist, projection, run_state, targets
from dcgan.sampling import sampler_from_checkpoint

NEIGHBOURS = 5
SPREAD_PAIRS = 2000


def project_test_digits(found, state, ctx, first, last, data_dir, seed, figure=None):
    """(their labels by the classifier, the targets' labels by MNIST, the targets' labels by
    the classifier, the pixel errors) for test digits first..last projected; with `figure`,
    sample.py --project's figure, noise and GIF written there."""
    wanted, _ = targets.read_targets('test:%d-%d' % (first, last), 64, data_dir)
    _, (_, labels) = mnist.load_mnist_sets(data_dir)
    projector = projection.projector_from_checkpoint(found, state, ctx)
    noise, images, errors, frames = projector.project(wanted, seed)
    if figure:
        latent_figures.write_projection(wanted, images, noise, frames, figure)
    classifier = lenet.load_classifier(lenet.SHIPPED, ctx)
    called = classifier.predict(lenet.classifier_input(images))[0].argmax(axis=1)
    ceiling = classifier.predict(lenet.classifier_input(wanted))[0].argmax(axis=1)
    return called, labels[first:last + 1], ceiling, errors


def nearest_neighbour_vote(images, train_images, train_labels, k=NEIGHBOURS):
    """The digit most of the `k` nearest MNIST training digits are (pixels in [0, 1] at
    28 x 28, Euclidean) for each image (N, 1, 28, 28)."""
    reference = train_images.reshape(len(train_images), -1).astype(np.float32) / 255.0
    reference_norms = (reference ** 2).sum(axis=1)
    votes = []
    for start in range(0, len(images), 100):
        queries = images[start:start + 100].reshape(-1, reference.shape[1])
        distances = reference_norms[None, :] - 2 * queries @ reference.T
        nearest = np.argpartition(distances, k, axis=1)[:, :k]
        votes.extend(np.bincount(train_labels[row], minlength=10).argmax() for row in nearest)
    return np.array(votes)


def mean_pair_distance(images, rng, pairs=SPREAD_PAIRS):
    """The mean Euclidean distance between two different images of `images`, sampled."""
    flat = images.reshape(len(images), -1)
    a, b = rng.randint(len(flat), size=(2, pairs))
    keep = a != b
    return float(np.linalg.norm(flat[a[keep]] - flat[b[keep]], axis=1).mean())


def study_digits(found, state, ctx, num, data_dir, seed, figure=None):
    """A row of numbers for each digit asked for (above); with `figure`, a grid of the first
    ten of each digit written there, a row a digit."""
    sampler = sampler_from_checkpoint(found, state, ctx)
    classifier = lenet.load_classifier(lenet.SHIPPED, ctx)
    (train_images, train_labels), (test_images, test_labels) = mnist.load_mnist_sets(data_dir)
    rng = np.random.RandomState(seed)
    rows, shown = [], []
    for digit in range(10):
        images, _, batches, _ = digit_request.choose(
            sampler.generate, classifier, digit, num, seed, state['batch_size'],
            state['noise_dim'])
        shown.append(images[:10])
        small = lenet.classifier_input(images)
        vote = nearest_neighbour_vote(small, train_images, train_labels)
        real = test_images[test_labels == digit][:num].astype(np.float32)[:, None] / 255.0
        rows.append({'digit': digit, 'checked_share': float((vote == digit).mean()),
                     'draws': int(batches.shape[0] * batches.shape[1]),
                     'spread': mean_pair_distance(small, rng) / mean_pair_distance(real, rng)})
        print('%d: %3.0f%% of %d called %d by the k-NN check; %d draws; spread %.2f of real '
              '%ds' % (digit, 100 * rows[-1]['checked_share'], num, digit, rows[-1]['draws'],
                       rows[-1]['spread'], digit), flush=True)
    if figure:
        visualize.save_grid(visualize.batch_to_grid(np.concatenate(shown), 10), figure)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    commands = parser.add_subparsers(dest='command', required=True)
    for name in ('projection', 'digits'):
        command = commands.add_parser(name)
        command.add_argument('run')
        command.add_argument('--data-dir', default=mnist.default_data_dir())
        command.add_argument('--seed', type=int, default=0)
        command.add_argument('--json', default=None, help='also write the numbers here')
        command.add_argument('--figure', default=None, help='also write the pictures here')
    commands.choices['projection'].add_argument('--targets', default='0-127', metavar='I-J')
    commands.choices['digits'].add_argument('--num', type=int, default=100)
    args = parser.parse_args(argv)
    ctx = mx.cpu()
    found, state = run_state.open_checkpoint(args.run, str)
    started = time.perf_counter()
    if args.command == 'projection':
        first, last = (int(n) for n in args.targets.split('-'))
        called, labels, ceiling, errors = project_test_digits(
            found, state, ctx, first, last, args.data_dir, args.seed, args.figure)
        result = {'targets': last - first + 1, 'share': float((called == labels).mean()),
                  'classifier_on_targets': float((ceiling == labels).mean()),
                  'mean_squared_error': float(errors.mean())}
        print('%s: %d test digits projected; the classifier gives %.1f%% of the projections '
              'their label (%.1f%% of the targets themselves); mean squared error %.4f'
              % (found, result['targets'], 100 * result['share'],
                 100 * result['classifier_on_targets'], result['mean_squared_error']))
    else:
        rows = study_digits(found, state, ctx, args.num, args.data_dir, args.seed, args.figure)
        result = {'digits': rows,
                  'checked_share': float(np.mean([r['checked_share'] for r in rows])),
                  'spread': float(np.mean([r['spread'] for r in rows]))}
        print('%s: the k-NN check calls %.1f%% of the digits asked what was asked; spread %.2f '
              'of real digits\'' % (found, 100 * result['checked_share'], result['spread']))
    result.update(checkpoint=found, seconds=round(time.perf_counter() - started, 1))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
