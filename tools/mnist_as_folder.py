"""MNIST's 70,000 digits written as a folder of PNG files, to train on through --data and hold
the own-images route against the MNIST route on the same images (docs/own-images.md).

    python tools/mnist_as_folder.py runs/mnist-folder      # 70,000 28x28 greyscale PNGs
    OMP_NUM_THREADS=1 python dcgan_mnist.py --data runs/mnist-folder --seed 0 --no-show
    python score.py RUN --digits                            # the shipped scorer, as for MNIST

The files are named 00000.png to 69999.png in MNIST's own order, training set first. A folder
is packed in its sorted names' order shuffled by numpy's RandomState(1), the same permutation
the tutorial applies to MNIST: both routes see the same digits in the same batches. What
differs is the preparation: MXNet's decoder resizes the 28x28 bytes to 64x64 (bilinear, on
uint8, rounded), the MNIST route resizes float64 pixels (cv2.resize, not rounded).
"""
import os
import shutil
import sys
import tempfile

import on_path  # noqa: F401  (the repository on sys.path)

import cv2

from dcgan import interrupts, mnist
from dcgan.cli import OneLineArgumentParser, SetupError


def write_folder(folder, data_dir):
    """Every MNIST image of `data_dir` as `folder`/NNNNN.png, the folder whole or not at all
    (written beside it, then renamed; an empty `folder` is replaced); the number written."""
    images, _ = mnist.load_mnist(data_dir)
    folder = os.path.abspath(folder)
    os.makedirs(os.path.dirname(folder), exist_ok=True)  # runs/ on a fresh checkout
    partial = tempfile.mkdtemp(prefix=os.path.basename(folder) + '.', suffix='.partial',
                               dir=os.path.dirname(folder))
    try:
        for index, image in enumerate(images):
            if not cv2.imwrite(os.path.join(partial, '%05d.png' % index), image):
                raise SetupError('could not write %s: is the disk full?' % partial)
        if os.path.isdir(folder):
            os.rmdir(folder)  # empty: main() refuses any other
        os.rename(partial, folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return len(images)


def main(argv=None):
    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('folder', help='where to write the PNG files (a new or empty folder)')
    parser.add_argument('--data-dir', default=mnist.default_data_dir(),
                        help="MNIST's four IDX files (default: %(default)s)")
    args = parser.parse_args(argv)

    def write():
        if os.path.lexists(args.folder) and not (os.path.isdir(args.folder)
                                                 and not os.listdir(args.folder)):
            raise SetupError('%s exists and is not an empty folder: give a new folder'
                             % args.folder)
        print('%d PNG files written to %s' % (write_folder(args.folder, args.data_dir),
                                              args.folder))
    return interrupts.run(write, 'Interrupted: no folder was written.')


if __name__ == '__main__':
    sys.exit(main())
