"""The flags the commands share, each added the one way, as MXNet's example/image-
classification/common/fit.py shares `add_fit_args`: what to draw from, the device, the seed of
the noise, MNIST's folder. Importing this loads nothing but the flag checks (sample.py parses
its flags before it knows whether MXNet may load)."""
from dcgan import MNIST_DIR_ENV
from dcgan.cli import seed


def add_checkpoint(parser, onnx=False):
    """The positional argument: a run folder or one of its checkpoints (or, with `onnx`, an
    exported model)."""
    if onnx:
        parser.add_argument('checkpoint', metavar='RUN|CHECKPOINT|MODEL.onnx',
                            help='a run folder (its newest checkpoint is used), a checkpoint '
                                 'folder, or a generator exported with --export (a .onnx file)')
    else:
        parser.add_argument('checkpoint', metavar='RUN|CHECKPOINT',
                            help='a run folder (its newest checkpoint is used), or a '
                                 'checkpoint folder')


def add_context(parser):
    parser.add_argument('--context', choices=('auto', 'cpu', 'gpu'), default='auto',
                        help='device: auto takes gpu(0) when MXNet sees a GPU, else the CPU '
                             '(default: %(default)s)')


def add_noise_seed(parser, what='the noise'):
    parser.add_argument('--seed', type=seed, default=0,
                        help='seed of %s (default: %%(default)s)' % what)


def add_mnist_folder(parser, what='MNIST\'s folder'):
    """--data-dir; the command resolves its default (mnist.default_data_dir())."""
    parser.add_argument('--data-dir', default=None,
                        help='%s (default: $%s, else data/mnist)' % (what, MNIST_DIR_ENV))
