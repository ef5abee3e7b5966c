"""Draw digits from a trained generator and write them out as a PNG grid (and a .npy array);
or export the generator to ONNX, and draw from that where MXNet cannot run.

    python sample.py runs/20261123-174402              # newest checkpoint of that run
    python sample.py runs/.../checkpoints/iter-0001094 --num 100 --seed 3 --npy digits.npy
    python sample.py runs/20261123-174402 --export generator.onnx
    python sample.py generator.onnx --num 100 --seed 3  # numpy + onnxruntime; Python 3.13 too
    python sample.py runs/20261123-174402 --walk 5       # a walk through 5 points of Z (+ GIF)
    python sample.py runs/20261123-174402 --num 64 --numbered --out cells.png
    python sample.py runs/20261123-174402 --num 64 --arithmetic "0,1,2 - 3,4,5 + 6,7,8"
    python sample.py generator.onnx --web page/          # a page that draws in a browser

Digits are drawn as everywhere in this project (dcgan/sampling.py, dcgan/drawing.py):
BatchNorm with each batch's own statistics, in batches of the training batch size, as the
generator learned. A seed draws the same digits from a checkpoint and from its export.
"""
import os
import sys

# Drawing from an exported model runs on any Python from 3.10 (numpy and onnxruntime only);
# everything else imports MXNet, whose setup refuses the Pythons it cannot run (3.13 and newer).
OLDEST_PYTHON = (3, 10)
if sys.version_info[:2] < OLDEST_PYTHON:
    sys.exit('error: Python %d.%d cannot run sample.py, which needs Python %d.%d or newer '
             '(3.10 to 3.12 to draw from a checkpoint with MXNet)'
             % (sys.version_info[:2] + OLDEST_PYTHON))

# A Ctrl-C while the libraries load ends the command in one line (dcgan/interrupts.py).
from dcgan import interrupts  # noqa: E402
if __name__ == '__main__':
    interrupts.exit_at_once_while_starting()

# Each route below imports what it needs as it starts: drawing from an exported model must not
# import MXNet, and the routes that do must import it (its setup) before numpy.
from dcgan.cli import (Check, OneLineArgumentParser, SetupError, check_memory,  # noqa: E402
                       check_writable, command_to, fail, positive_int, seed)

GRID_COLUMNS = 10
ONNX_EXTENSION = '.onnx'
PORTABLE_REQUIREMENTS = 'requirements-portable.txt'   # numpy, onnxruntime, matplotlib
EXPORT_REQUIREMENTS = 'requirements-onnx.txt'         # those, and onnx
# Memory besides the digits: the libraries and the generator (MXNet's route, and onnxruntime's).
BASE_BYTES = 600e6


def parse_args(argv=None):
    parser = OneLineArgumentParser(
        prog='sample.py', description='Write digits drawn from a trained generator as a PNG '
                                      'grid (and optionally as a .npy array), or export the '
                                      'generator to ONNX.')
    parser.add_argument('checkpoint', help='a checkpoint folder, a run folder (its newest '
                                           'checkpoint is used), or a generator exported '
                                           'with --export (a .onnx file)')
    parser.add_argument('--num', type=positive_int, default=100,
                        help='how many digits (default: %(default)s)')
    parser.add_argument('--seed', type=seed, default=0,
                        help='seed of the noise (default: %(default)s)')
    parser.add_argument('--out', default='samples.png',
                        help='the grid to write, as its extension says: .png (pixel for '
                             'pixel), .jpg or .pdf (default: %(default)s)')
    parser.add_argument('--npy', default=None, metavar='FILE.npy',
                        help='also write the images, float32 (N, 3, 64, 64) in [-1, 1], here')
    parser.add_argument('--averaged', action='store_true',
                        help='draw from (or export) the averaged generator (runs with '
                             '--average-generator)')
    parser.add_argument('--columns', type=positive_int, default=GRID_COLUMNS,
                        help='images per row of the grid (default: %(default)s)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace --out, --npy or --export when they exist')
    parser.add_argument('--context', choices=('auto', 'cpu', 'gpu'), default='auto',
                        help='device, for a checkpoint (default: %(default)s)')
    parser.add_argument('--export', metavar='FILE.onnx', default=None,
                        help='write the checkpoint\'s generator here as an ONNX model, checked '
                             'against MXNet, instead of drawing digits')
    inside = parser.add_argument_group('looking inside the generator (dcgan/latent.py)')
    inside.add_argument('--numbered', action='store_true',
                        help='print each cell\'s number on the grid, for --arithmetic')
    inside.add_argument('--walk', type=Check(int, low=2), metavar='K', default=None,
                        help='a walk through K random points of the noise (from --seed), '
                             'spherical: --out gets a row a segment, and a GIF beside it')
    inside.add_argument('--steps', type=Check(int, low=2, high=1000), default=None,
                        help='images per segment of a walk, both ends in (default: '
                             'dcgan/latent.py\'s WALK_STEPS, 10)')
    inside.add_argument('--arithmetic', metavar='"0,1,2 - 3,4,5 + 6,7,8"', default=None,
                        help='vector arithmetic on the noise of cells of the grid that --num '
                             'and --seed draw (numbered with --numbered): each group\'s mean, '
                             'Y = the signed sum, G(Y) among 8 neighbours, the same on pixels')
    inside.add_argument('--web', metavar='DIR', default=None,
                        help='with an exported model: write a page that draws from it in a '
                             'browser (onnxruntime-web), a new folder')
    args = parser.parse_args(argv)
    chosen = [flag for flag in ('--walk', '--arithmetic', '--web', '--export')
              if getattr(args, flag[2:]) is not None]
    if len(chosen) > 1:
        parser.error('%s: one at a time' % ' and '.join(chosen))
    return args


def check_outputs(outputs, overwrite):
    """SetupError unless each output (path, flag, the extensions it may have) is named for what
    is written there, can be written, and is new or may be replaced."""
    for path, flag, extensions in outputs:
        if not path.lower().endswith(extensions):
            raise SetupError('%s %s: the file is written as %s; name it so'
                             % (flag, path, ' or '.join(extensions)))
        if os.path.exists(path) and not overwrite:
            raise SetupError('%s exists; choose another name or pass --overwrite' % path)
        check_writable(path, flag)


def main(argv=None):
    args = parse_args(argv)
    if os.path.exists(args.checkpoint) and not os.path.isdir(args.checkpoint):
        if not args.checkpoint.lower().endswith(ONNX_EXTENSION):
            fail('%s is a file but not an exported model (%s): sample.py draws from a run '
                 'folder, a checkpoint folder, or a generator exported with --export'
                 % (args.checkpoint, ONNX_EXTENSION))
        draw_from_onnx(args)  # checkpoints are folders: a file is taken for a model
    elif args.export:
        export_to_onnx(args)
    elif args.web:
        fail('--web takes an exported model: python sample.py %s --export generator.onnx, '
             'then python sample.py generator.onnx --web %s' % (args.checkpoint, args.web))
    else:
        draw_from_checkpoint(args)


def draw_from_onnx(args):
    """The portable route: numpy and onnxruntime (and matplotlib for the PNG), never MXNet."""
    try:  # each package the route needs, so that the first one missing is named
        import numpy  # noqa: F401
        from dcgan.onnx_model import OnnxGenerator
        import visualize  # noqa: F401  (matplotlib: the pictures')
    except ImportError as e:
        fail('drawing from an ONNX model needs %s: pip install -r %s'
             % (e.name, PORTABLE_REQUIREMENTS))
    try:
        if args.export or args.averaged or args.context == 'gpu':
            raise SetupError('%s is an exported model: --export, --averaged and --context '
                             'gpu apply to checkpoints' % args.checkpoint)
        groups = check_request(args)
        model = OnnxGenerator(args.checkpoint)
        check_digit_memory(args, model.noise_dim, model.image_shape)
        if args.web:
            from dcgan import web_page
            web_page.write(args.checkpoint, model, args.web, args.seed)
            print('Wrote a page that draws from %s to %s; open it with: cd %s && python -m '
                  'http.server, then http://localhost:8000 (browsers load no WebAssembly '
                  'from file://)' % (args.checkpoint, args.web, args.web))
            return
    except SetupError as e:
        fail(e)
    draw(args, model, groups, '%s (%s)' % (args.checkpoint, model.describe()), 'digits')


def draw_from_checkpoint(args):
    # MXNet first (its setup sets thread defaults before numpy loads), or one line why not.
    from dcgan.framework import mx
    import symbols
    from dcgan import checkpoint, devices, run_state
    from dcgan.sampling import sampler_from_checkpoint
    try:
        groups = check_request(args)
        check_digit_memory(args, symbols.NOISE_DIM,
                           (symbols.IMAGE_CHANNELS, symbols.IMAGE_SIZE, symbols.IMAGE_SIZE))
        ctx, _ = devices.choose_context(mx, args.context)
        found, state = run_state.open_checkpoint(args.checkpoint, command_to('python sample.py'))
        sampler = sampler_from_checkpoint(found, state, ctx, args.averaged)
    except (checkpoint.CheckpointError, devices.ContextError, SetupError) as e:
        fail(e)
    draw(args, sampler, groups, found,
         'digits' if state['data'] == run_state.MNIST_DATA else 'images')


def check_request(args):
    """SetupError unless the outputs can be written and --arithmetic's expression names cells
    of the grid; returns its groups (or None)."""
    from dcgan import latent
    check_outputs(digit_outputs(args), args.overwrite)
    if args.arithmetic is None:
        return None
    try:
        return latent.parse_expression(args.arithmetic, args.num)
    except latent.ExpressionError as e:
        raise SetupError('--arithmetic %s' % e) from None


def draw(args, generator, groups, source, drawn):
    """What was asked of `generator` (a Sampler or an OnnxGenerator): a walk, the arithmetic,
    or the grid; written, and said in one line, naming what was drawn (`drawn`: 'digits' for
    an MNIST run, 'images' for a run on one's own)."""
    from dcgan import latent_figures
    from dcgan.console import sampling_progress
    if args.walk:
        images = latent_figures.write_walk(generator, args.walk, args.seed, args.steps,
                                           args.out)
        what = 'a walk through %d points (%d images) from %s to %s' % (
            args.walk, len(images), source, ' and '.join(latent_figures.walk_outputs(args.out)))
    elif groups:
        images = latent_figures.write_arithmetic(generator, groups, args.num, args.seed,
                                                 args.out)
        what = 'the arithmetic %s on the grid of %d from %s to %s' % (
            args.arithmetic, args.num, source, args.out)
    else:
        images, _ = generator.sample(args.num, args.seed,
                                     sampling_progress(args.num, generator.batch_size))
        write_grid(args, images)
        what = '%d %s from %s to %s' % (args.num, drawn, source, args.out)
    if args.npy:
        write_npy(images, args.npy)
    print('Wrote %s%s' % (what, ' and ' + args.npy if args.npy else ''))


def export_to_onnx(args):
    from dcgan import framework  # noqa: F401  (MXNet's setup first, as above)
    from dcgan import checkpoint, run_state
    try:
        from dcgan import onnx_export
    except ImportError as e:
        fail('exporting to ONNX needs %s: pip install -r %s' % (e.name, EXPORT_REQUIREMENTS))
    try:
        check_outputs([(args.export, '--export', (ONNX_EXTENSION,))], args.overwrite)
        found, state = run_state.open_checkpoint(args.checkpoint, command_to('python sample.py'))
        gap = onnx_export.export(found, state, args.averaged, args.export)
    except (checkpoint.CheckpointError, SetupError) as e:
        fail(e)
    print('Wrote the %s generator of %s to %s (onnxruntime gives MXNet\'s digits to within '
          '%.1g)' % ('averaged' if args.averaged else 'plain', found, args.export, gap))


def digit_outputs(args):
    import visualize
    formats = tuple('.' + extension for extension in visualize.GRID_FORMATS)
    if args.web:
        return []
    outputs = [(args.out, '--out', ('.png',) if args.walk else formats)]
    if args.walk:  # its GIF beside the PNG
        outputs.append((os.path.splitext(args.out)[0] + '.gif', '--out (its GIF)', ('.gif',)))
    return outputs + ([(args.npy, '--npy', ('.npy',))] if args.npy else [])


def check_digit_memory(args, noise_dim, image_shape):
    """SetupError when the digits asked for would not fit in memory: each digit's noise and
    image in float32 twice over (batches, then joined), its bytes for the PNG, and the grid's
    cells."""
    pixels = image_shape[0] * image_shape[1] * image_shape[2]
    rows = -(-args.num // args.columns)
    check_memory(BASE_BYTES + args.num * (2 * 4 * (noise_dim + pixels) + pixels)
                 + rows * args.columns * pixels,
                 '--num %d in --columns %d' % (args.num, args.columns))


def write_grid(args, images):
    import visualize
    grid = visualize.batch_to_grid(images, args.columns)
    if args.numbered:
        grid = visualize.number_cells(grid)
    visualize.save_grid(grid, args.out)


def write_npy(images, path):
    """Via a temporary file, as the pictures: a file appears whole or not at all."""
    import numpy as np
    with open(path + '.partial', 'wb') as f:
        np.save(f, images)
    os.replace(path + '.partial', path)


if __name__ == '__main__':
    sys.exit(interrupts.run(main, 'Interrupted: no file is left half-written.'))
