"""Draw digits from a trained generator and write them out as a PNG grid (and a .npy array).

    python sample.py runs/20261123-174402              # newest checkpoint of that run
    python sample.py runs/.../checkpoints/iter-0001094 --num 100 --seed 3 --npy digits.npy

Digits are drawn as everywhere in this project (dcgan/sampling.py): BatchNorm with each
batch's own statistics, in batches of the training batch size, as the generator learned.
"""
# First of all: MXNet with its setup (a Python it can run, thread defaults before numpy loads,
# numpy's removed aliases), or one line saying why not.
from dcgan.framework import mx

import os

import numpy as np

import symbols
import visualize
from dcgan import checkpoint, devices, run_state
from dcgan.cli import (OneLineArgumentParser, SetupError, check_memory, check_writable, fail,
                       positive_int, seed)
from dcgan.sampling import sampler_from_checkpoint

GRID_COLUMNS = 10
# Memory per digit drawn: its image and noise in float32, twice (batches, then joined), and
# its cell of the PNG grid (bytes); and what sampling needs besides (the libraries, the
# generator).
PIXELS = symbols.IMAGE_CHANNELS * symbols.IMAGE_SIZE ** 2
BYTES_PER_DIGIT = 2 * 4 * (PIXELS + symbols.NOISE_DIM) + PIXELS
BASE_BYTES = 600e6


def parse_args(argv=None):
    parser = OneLineArgumentParser(
        prog='sample.py', description='Write digits drawn from a trained generator as a PNG '
                                      'grid (and optionally as a .npy array).')
    parser.add_argument('checkpoint', help='a checkpoint folder, or a run folder (its newest '
                                           'checkpoint is used)')
    parser.add_argument('--num', type=positive_int, default=100,
                        help='how many digits (default: %(default)s)')
    parser.add_argument('--seed', type=seed, default=0,
                        help='seed of the noise (default: %(default)s)')
    parser.add_argument('--out', default='samples.png',
                        help='the PNG grid to write (default: %(default)s)')
    parser.add_argument('--npy', default=None,
                        help='also write the images, float32 (N, 3, 64, 64) in [-1, 1], here')
    parser.add_argument('--averaged', action='store_true',
                        help='draw from the averaged generator (runs with --average-generator)')
    parser.add_argument('--columns', type=positive_int, default=GRID_COLUMNS,
                        help='images per row of the grid (default: %(default)s)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace --out and --npy when they exist')
    parser.add_argument('--context', choices=('auto', 'cpu', 'gpu'), default='auto',
                        help='device (default: %(default)s)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    outputs = [args.out] + ([args.npy] if args.npy else [])
    try:
        for path, flag in zip(outputs, ('--out', '--npy')):
            if os.path.exists(path) and not args.overwrite:
                raise checkpoint.CheckpointError('%s exists; choose another name or pass '
                                                 '--overwrite' % path)
            check_writable(path, flag)
        rows = -(-args.num // args.columns)
        check_memory(BASE_BYTES + args.num * BYTES_PER_DIGIT + rows * args.columns * PIXELS,
                     '--num %d in --columns %d' % (args.num, args.columns))
        ctx, _ = devices.choose_context(mx, args.context)
        found, state = run_state.open_checkpoint(args.checkpoint, 'python sample.py %s')
        sampler = sampler_from_checkpoint(found, state, ctx, args.averaged)
    except (checkpoint.CheckpointError, devices.ContextError, SetupError) as e:
        fail(e)
    images, _ = sampler.sample(args.num, args.seed)
    visualize.save_grid(visualize.batch_to_grid(images, args.columns), args.out)
    if args.npy:
        np.save(args.npy, images)
    print('Wrote %d digits from %s to %s%s' % (args.num, found, args.out,
                                              ' and ' + args.npy if args.npy else ''))


if __name__ == '__main__':
    main()
