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
    python sample.py runs/20261123-174402 --project test:0-99   # the noise of real digits
    python sample.py runs/20261123-174402 --digit 7      # sevens, chosen by the classifier
    python sample.py runs/20261123-174402 --walk 5 --noise projection.npy   # between them

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
from dcgan import command_flags  # noqa: E402
from dcgan.cli import (Check, OneLineArgumentParser, SetupError, UserError,  # noqa: E402
                       check_memory, check_writable, command_to, fail, positive_int)

GRID_COLUMNS = 10
DEFAULT_OUT = 'samples.png'
PROJECTION_OUT = 'projection.png'
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
    command_flags.add_checkpoint(parser, onnx=True)
    parser.add_argument('--num', type=positive_int, default=100,
                        help='how many digits (default: %(default)s)')
    command_flags.add_noise_seed(parser)
    parser.add_argument('--out', default=None,
                        help='the grid to write, as its extension says: .png (pixel for '
                             'pixel), .jpg or .pdf (default: %s; none when only --npy is '
                             'given; %s with --project)' % (DEFAULT_OUT, PROJECTION_OUT))
    parser.add_argument('--npy', default=None, metavar='FILE.npy',
                        help='also write the images, float32 (N, 3, 64, 64) in [-1, 1], here')
    parser.add_argument('--averaged', action='store_true',
                        help='draw from (or export) the averaged generator (runs with '
                             '--average-generator)')
    parser.add_argument('--columns', type=positive_int, default=GRID_COLUMNS,
                        help='images per row of the grid (default: %(default)s)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace --out, --npy or --export when they exist')
    command_flags.add_context(parser)
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
    inside.add_argument('--noise', metavar='FILE.npy', default=None,
                        help='points of the noise to start from, (N, Z) or (N, Z, 1, 1), such '
                             'as the .npy --project writes: --walk goes through them (K is '
                             'their number), --arithmetic\'s numbers name them')
    inside.add_argument('--project', metavar='TARGETS', default=None,
                        help='find the noise whose image is nearest each target: test:0-99 '
                             '(MNIST\'s test digits), a PNG file or a folder of them '
                             '(dcgan/targets.py); writes --out (target | projection), its .npy '
                             '(the noise) and .gif (the search) (dcgan/projection.py)')
    inside.add_argument('--project-steps', type=positive_int, default=None, metavar='N',
                        help='steps of the search (default: dcgan/projection.py\'s STEPS, 300)')
    inside.add_argument('--starts', type=positive_int, default=None,
                        help='random starts of each target\'s search, the nearest going on '
                             '(default: dcgan/projection.py\'s STARTS, 4)')
    inside.add_argument('--digit', type=Check(int, low=0, high=9), default=None,
                        help='draw --num digits the shipped classifier calls this one, 0-9 '
                             '(dcgan/digit_request.py)')
    command_flags.add_mnist_folder(inside, 'MNIST\'s folder, for --project test:...')
    inside.add_argument('--web', metavar='DIR', default=None,
                        help='with an exported model: write a page that draws from it in a '
                             'browser (onnxruntime-web), a new folder')
    args = parser.parse_args(argv)
    chosen = [flag for flag in ('--walk', '--arithmetic', '--web', '--export', '--project',
                                '--digit') if getattr(args, flag[2:]) is not None]
    if len(chosen) > 1:
        parser.error('%s: one at a time' % ' and '.join(chosen))
    if args.noise and not (args.walk or args.arithmetic):
        parser.error('--noise goes with --walk or --arithmetic')
    if args.out is None and not (args.npy and not chosen):
        args.out = PROJECTION_OUT if args.project else DEFAULT_OUT
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
    route = next(route for applies, route in ROUTES if applies(args))
    route(args)


def an_exported_model(args):
    """Whether sample.py was given a file: checkpoints are folders, so a file is taken for an
    exported model, and refused in one line when it is named as something else."""
    if not os.path.exists(args.checkpoint) or os.path.isdir(args.checkpoint):
        return False
    if not args.checkpoint.lower().endswith(ONNX_EXTENSION):
        fail('%s is a file but not an exported model (%s): sample.py draws from a run '
             'folder, a checkpoint folder, or a generator exported with --export'
             % (args.checkpoint, ONNX_EXTENSION))
    return True


def draw_from_onnx(args):
    """The portable route: numpy and onnxruntime (and matplotlib for the PNG), never MXNet."""
    model, request = open_exported_model(args)
    draw(args, model, request, '%s (%s)' % (args.checkpoint, model.describe()), 'digits')


def write_web_page(args):
    """--web: a page that draws from the exported model in a browser."""
    model, _ = open_exported_model(args)
    from dcgan import web_page
    try:
        web_page.write(args.checkpoint, model, args.web, args.seed)
    except SetupError as e:
        fail(e)
    print('Wrote a page that draws from %s to %s; open it with: cd %s && python -m '
          'http.server, then http://localhost:8000 (browsers load no WebAssembly '
          'from file://)' % (args.checkpoint, args.web, args.web))


def refuse_web_for_a_checkpoint(args):
    fail('--web takes an exported model: python sample.py %s --export generator.onnx, '
         'then python sample.py generator.onnx --web %s' % (args.checkpoint, args.web))


def open_exported_model(args):
    """The exported model sample.py was given, and check_request's reading of the request;
    one line for a flag that needs a checkpoint, or a package missing."""
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
        if args.project is not None or args.digit is not None:
            raise SetupError('%s is an exported model: --project and --digit take a run or '
                             'a checkpoint (they need MXNet: the gradient through the '
                             'generator, the classifier)' % args.checkpoint)
        request = check_request(args)
        model = OnnxGenerator(args.checkpoint)
        check_digit_memory(args, model.noise_dim, model.image_shape)
    except SetupError as e:
        fail(e)
    return model, request


def draw_from_checkpoint(args):
    # MXNet first (its setup sets thread defaults before numpy loads), or one line why not.
    from dcgan.framework import mx
    import symbols
    from dcgan import devices, lenet, mnist, run_state, targets
    from dcgan.sampling import sampler_from_checkpoint
    try:
        request = check_request(args)
        check_digit_memory(args, symbols.NOISE_DIM,
                           (symbols.IMAGE_CHANNELS, symbols.IMAGE_SIZE, symbols.IMAGE_SIZE))
        ctx, _ = devices.choose_context(mx, args.context)
        found, state = run_state.open_checkpoint(args.checkpoint, command_to('python sample.py'))
        if args.project is not None:
            wanted, names = targets.read_targets(args.project, symbols.IMAGE_SIZE,
                                                 args.data_dir or mnist.default_data_dir())
            return project(args, found, state, ctx, wanted, names)
        sampler = sampler_from_checkpoint(found, state, ctx, args.averaged)
        classifier = (lenet.load_classifier(lenet.SHIPPED, ctx) if args.digit is not None
                      else None)
    except UserError as e:
        fail(e)
    if classifier is not None:
        return draw_digit(args, sampler, classifier, found)
    draw(args, sampler, request, found,
         'digits' if state['data'] == run_state.MNIST_DATA else 'images')


def project(args, found, state, ctx, wanted, names):
    """--project: the noise of each target, the figure, the noise and the search's GIF."""
    from dcgan import latent_figures, projection
    projector = projection.projector_from_checkpoint(found, state, ctx, args.averaged)
    noise, images, errors, frames = projector.project(
        wanted, args.seed, args.project_steps or projection.STEPS,
        args.starts or projection.STARTS)
    latent_figures.write_projection(wanted, images, noise, frames, args.out)
    if args.npy:
        write_npy(images, args.npy)
    print('Projected %d target%s (%s) into %s: mean squared error %.4f (pixels in [-1, 1]); '
          'wrote %s' % (len(wanted), '' if len(wanted) == 1 else 's', ', '.join(names[:3])
                        + (', ...' if len(names) > 3 else ''), found, float(errors.mean()),
                        ', '.join(latent_figures.projection_outputs(args.out)
                                  + ([args.npy] if args.npy else []))))


def draw_digit(args, sampler, classifier, found):
    """--digit D: --num digits the classifier calls D, drawn as always."""
    from dcgan import digit_request
    from dcgan.progress import sampling_progress
    try:
        images, _, _, _ = digit_request.choose(
            sampler.generate, classifier, args.digit, args.num, args.seed, sampler.batch_size,
            sampler.noise_dim, sampling_progress(args.num * digit_request.MAX_DRAWS_PER_DIGIT,
                                                 sampler.batch_size))
    except digit_request.DigitNotDrawn as e:
        fail('--digit %d: %s' % (args.digit, e))
    write_outputs(args, images)
    print('Wrote %d %ds from %s to %s' % (args.num, args.digit, found, ' and '.join(
        path for path in (args.out, args.npy) if path)))


def check_request(args):
    """SetupError unless the outputs can be written and --arithmetic's expression names cells
    of the grid (or rows of --noise); returns (its groups or None, --noise's points or None)."""
    from dcgan import latent
    check_outputs(digit_outputs(args), args.overwrite)
    noise = read_noise(args.noise) if args.noise else None
    if args.walk and noise is not None and args.walk > len(noise):
        raise SetupError('--walk %d: --noise %s holds %d points' % (args.walk, args.noise,
                                                                    len(noise)))
    if args.arithmetic is None:
        return None, noise
    try:
        cells = args.num if noise is None else len(noise)
        return latent.parse_expression(args.arithmetic, cells), noise
    except latent.ExpressionError as e:
        raise SetupError('--arithmetic %s' % e) from None


MAX_NOISE_BYTES = 64 * 1024 * 1024


def read_noise(path):
    """--noise's points, (N, Z) float32, from a .npy file someone gave: bounded, never
    unpickled, finite."""
    import io
    import numpy as np
    from dcgan import files
    try:
        data = files.read_regular(path, MAX_NOISE_BYTES,
                                  too_large='more than --noise reads')
        noise = np.load(io.BytesIO(data), allow_pickle=False)
    except files.FileRefused as e:
        raise SetupError('--noise %s' % e) from None
    except (ValueError, OSError, EOFError) as e:
        raise SetupError('--noise %s is not a .npy array (%s)' % (path, e)) from None
    if noise.ndim == 4 and noise.shape[2:] == (1, 1):
        noise = noise.reshape(noise.shape[:2])
    if noise.ndim != 2 or noise.dtype.kind != 'f' or not len(noise):
        raise SetupError('--noise %s holds %s %s; give points of the noise, (N, Z) floats, '
                         'as --project writes' % (path, noise.dtype, noise.shape))
    if not np.isfinite(noise).all():
        raise SetupError('--noise %s holds NaN or inf' % path)
    return noise.astype(np.float32)


def draw(args, generator, request, source, drawn):
    """What was asked of `generator` (a Sampler or an OnnxGenerator): a walk, the arithmetic,
    or the grid; written, and said in one line, naming what was drawn (`drawn`: 'digits' for
    an MNIST run, 'images' for a run on one's own). `request` is check_request's."""
    from dcgan import latent_figures
    from dcgan.progress import sampling_progress
    groups, noise = request
    if noise is not None and noise.shape[1] != generator.noise_dim:
        fail('--noise %s holds points of %d numbers; this generator takes %d'
             % (args.noise, noise.shape[1], generator.noise_dim))
    if args.walk:
        images = latent_figures.write_walk(generator, args.walk, args.seed, args.steps,
                                           args.out, None if noise is None
                                           else noise[:args.walk])
        what = 'a walk through %d points (%d images) from %s to %s' % (
            args.walk, len(images), source, ' and '.join(latent_figures.walk_outputs(args.out)))
    elif groups:
        images = latent_figures.write_arithmetic(generator, groups, args.num if noise is None
                                                 else len(noise), args.seed, args.out, noise)
        what = 'the arithmetic %s on %s from %s to %s' % (
            args.arithmetic, 'the grid of %d' % args.num if noise is None else args.noise,
            source, args.out)
    else:
        images, _ = generator.sample(args.num, args.seed,
                                     sampling_progress(args.num, generator.batch_size))
        write_outputs(args, images)
        print('Wrote %d %s from %s to %s' % (args.num, drawn, source, ' and '.join(
            path for path in (args.out, args.npy) if path)))
        return
    if args.npy:
        write_npy(images, args.npy)
    print('Wrote %s%s' % (what, ' and ' + args.npy if args.npy else ''))


def write_outputs(args, images):
    """The grid (when --out names one) and the .npy (when --npy does) of `images`."""
    if args.out:
        write_grid(args, images)
    if args.npy:
        write_npy(images, args.npy)


def export_to_onnx(args):
    from dcgan import framework  # noqa: F401  (MXNet's setup first, as above)
    from dcgan import run_state
    try:
        from dcgan import onnx_export
    except ImportError as e:
        fail('exporting to ONNX needs %s: pip install -r %s' % (e.name, EXPORT_REQUIREMENTS))
    try:
        check_outputs([(args.export, '--export', (ONNX_EXTENSION,))], args.overwrite)
        found, state = run_state.open_checkpoint(args.checkpoint, command_to('python sample.py'))
        gap = onnx_export.export(found, state, args.averaged, args.export)
    except UserError as e:
        fail(e)
    print('Wrote the %s generator of %s to %s (onnxruntime gives MXNet\'s digits to within '
          '%.1g)' % ('averaged' if args.averaged else 'plain', found, args.export, gap))


def digit_outputs(args):
    import visualize
    formats = tuple('.' + extension for extension in visualize.GRID_FORMATS)
    from dcgan import latent_figures
    if args.web:
        return []
    outputs = [(args.out, '--out', ('.png',) if args.walk or args.project else formats)]
    if not args.out:
        outputs = []
    elif args.walk:  # its GIF beside the PNG
        outputs.append((os.path.splitext(args.out)[0] + '.gif', '--out (its GIF)', ('.gif',)))
    elif args.project:  # its noise and its GIF beside it
        _, npy, gif = latent_figures.projection_outputs(args.out)
        outputs += [(npy, '--out (its noise)', ('.npy',)), (gif, '--out (its GIF)', ('.gif',))]
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
        grid = visualize.number_cells(grid, len(images))
    visualize.save_grid(grid, args.out)


def write_npy(images, path):
    import visualize
    visualize.save_npy(images, path)


# What sample.py does with what it was given: the first route that applies. (Within a
# checkpoint's route: --project, --digit, --walk, --arithmetic or the grid.)
ROUTES = (
    (lambda args: an_exported_model(args) and args.web, write_web_page),
    (an_exported_model, draw_from_onnx),
    (lambda args: args.export, export_to_onnx),
    (lambda args: args.web, refuse_web_for_a_checkpoint),
    (lambda args: True, draw_from_checkpoint),
)


if __name__ == '__main__':
    sys.exit(interrupts.run(main, 'Interrupted: no file is left half-written.'))
