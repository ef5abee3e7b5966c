"""Draw digits from a trained generator: the Sampler, and a command that writes them out.

    python sample.py runs/20261123-174402              # newest checkpoint of that run
    python sample.py runs/.../checkpoints/iter-0001094 --num 100 --seed 3 --npy digits.npy

How samples are drawn, here and everywhere in this project: BatchNorm in training mode, that
is with each batch's own statistics, in batches of the training batch size (64 by default),
exactly as the generator ran while it learned. The moving averages BatchNorm keeps are not
used: they trail the weights, and the samples they give scored a little worse here (see the
README). The generator's own state is never touched: the Sampler has its own executor.
"""
# First of all: refuses a Python MXNet cannot run (in one line), sets the thread defaults
# before numpy and MXNet load, and gives numpy back the aliases MXNet uses.
import mxnet_setup

import math
import os
import sys

import numpy as np

try:
    import mxnet as mx
except OSError as load_error:
    sys.exit('error: ' + mxnet_setup.explain_load_failure(load_error))

import checkpoint
from cli import OneLineArgumentParser, positive_int
import symbols
import visualize

GRID_COLUMNS = 10


class Sampler:
    """Generates images from a copy of a generator's parameters, batch by batch."""

    def __init__(self, ctx, batch_size, noise_dim, channels=symbols.IMAGE_CHANNELS):
        self.batch_size = batch_size
        self.noise_dim = noise_dim
        self.executor = symbols.generator_symbol(channels).simple_bind(
            ctx, grad_req='null', rand=(batch_size, noise_dim, 1, 1))

    def set_params(self, arg_params, aux_params):
        """Copy parameters in (dicts of NDArrays, as `Module.get_params()` returns)."""
        for name, array in self.executor.arg_dict.items():
            if name != 'rand':
                arg_params[name].copyto(array)
        for name, array in self.executor.aux_dict.items():
            aux_params[name].copyto(array)

    def generate(self, noise):
        """Images (B, C, 64, 64) in [-1, 1] for one batch of noise (B, Z, 1, 1)."""
        self.executor.forward(is_train=True, rand=noise)  # batch statistics; see above
        return self.executor.outputs[0].asnumpy()

    def sample(self, count, seed):
        """`count` images and the noise they came from, drawn from numpy's RandomState(seed)."""
        rng = np.random.RandomState(seed)
        batches = math.ceil(count / self.batch_size)
        noise = rng.standard_normal((batches * self.batch_size, self.noise_dim, 1, 1))
        noise = noise.astype(np.float32)
        images = [self.generate(noise[start:start + self.batch_size])
                  for start in range(0, len(noise), self.batch_size)]
        return np.concatenate(images)[:count], noise[:count]


def sampler_from_checkpoint(found, state, ctx, averaged=False):
    """A Sampler loaded with the generator of the checkpoint `found` (with its `state`, as
    checkpoint.open_checkpoint gives them, verified), or with its averaged weights (see
    averaging.py) when `averaged`."""
    params_path = os.path.join(found, 'generator.params')
    arg_params, aux_params = checkpoint.load_params(params_path)
    if averaged:
        params_path = os.path.join(found, checkpoint.AVERAGE)
        if not os.path.exists(params_path):
            raise checkpoint.CheckpointError('%s has no averaged generator (train with '
                                             '--average-generator)' % found)
        arg_params, _ = checkpoint.load_params(params_path)
    sampler = Sampler(ctx, state['batch_size'], state['noise_dim'])
    expected = {name: array.shape for name, array in
                list(sampler.executor.arg_dict.items()) + list(sampler.executor.aux_dict.items())
                if name != 'rand'}
    checkpoint.check_shapes(params_path, dict(arg_params, **aux_params), expected)
    sampler.set_params(arg_params, aux_params)
    return sampler


def parse_args(argv=None):
    parser = OneLineArgumentParser(
        prog='sample.py', description='Write digits drawn from a trained generator as a PNG '
                                      'grid (and optionally as a .npy array).')
    parser.add_argument('checkpoint', help='a checkpoint folder, or a run folder (its newest '
                                           'checkpoint is used)')
    parser.add_argument('--num', type=positive_int, default=100,
                        help='how many digits (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0,
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
        for path in outputs:
            if os.path.exists(path) and not args.overwrite:
                raise checkpoint.CheckpointError('%s exists; choose another name or pass '
                                                 '--overwrite' % path)
        ctx, _ = mxnet_setup.choose_context(mx, args.context)
        found, state = checkpoint.open_checkpoint(args.checkpoint, 'python sample.py %s')
        sampler = sampler_from_checkpoint(found, state, ctx, args.averaged)
    except (checkpoint.CheckpointError, mxnet_setup.ContextError) as e:
        sys.exit('error: %s' % e)
    images, _ = sampler.sample(args.num, args.seed)
    visualize.save_grid(visualize.batch_to_grid(images, args.columns), args.out)
    if args.npy:
        np.save(args.npy, images)
    print('Wrote %d digits from %s to %s%s' % (args.num, found, args.out,
                                              ' and ' + args.npy if args.npy else ''))


if __name__ == '__main__':
    main()
