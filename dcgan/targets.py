"""The images sample.py --project looks for in a generator: MNIST's test digits by number, or
image files of one's own, prepared as the generator draws (64x64, three channels, [-1, 1]).

    test:0-999        MNIST's test digits 0 to 999 (test:7, test:3,14,15 and test:0-9,20 too),
                      from --data-dir, prepared exactly as the tutorial prepares its digits
    FILE.png          an image: 64x64 grey or RGB as it is, or 28x28 grey (MNIST's own size),
                      resized as the tutorial resizes MNIST's digits
    FOLDER            its .png files, in the order of their names

Another size or channel count is refused in one line, not resized into something else.
"""
import os
import re

import cv2
import numpy as np

from dcgan import files, mnist
from dcgan.errors import UserError

TEST_PREFIX = 'test:'
SPAN = re.compile(r'^(\d+)(?:-(\d+))?$')
MAX_FILE_BYTES = 16 * 1024 * 1024  # far more than a 64x64 PNG
MAX_TARGETS = 10000


class TargetError(UserError):
    """The targets cannot be read or are not images the generator could draw; one line."""


def read_targets(what, size, data_dir):
    """(images (N, 3, size, size) float32 in [-1, 1], their names) of `what`."""
    if what.startswith(TEST_PREFIX):
        numbers = parse_numbers(what[len(TEST_PREFIX):])
        _, (images, _) = _test_set(data_dir)
        outside = [n for n in numbers if n >= len(images)]
        if outside:
            raise TargetError('--project %s: MNIST has %d test digits (0 to %d), not %d'
                              % (what, len(images), len(images) - 1, outside[0]))
        return mnist.prepare_chunk(images[numbers], size), ['test %d' % n for n in numbers]
    if os.path.isdir(what):
        names = sorted(name for name in os.listdir(what) if name.lower().endswith('.png'))
        if not names:
            raise TargetError('--project %s: the folder holds no .png file' % what)
        paths = [os.path.join(what, name) for name in names][:MAX_TARGETS + 1]
    elif os.path.lexists(what):
        paths = [what]
    else:
        raise TargetError('--project %s: no such file or folder (or give MNIST test digits: '
                          '--project test:0-99)' % what)
    if len(paths) > MAX_TARGETS:
        raise TargetError('--project %s: more than %d images' % (what, MAX_TARGETS))
    return np.stack([read_image(path, size) for path in paths]), [os.path.basename(p)
                                                                   for p in paths]


def parse_numbers(text):
    """[numbers] of 'I', 'I-J' and commas between them; TargetError otherwise."""
    numbers = []
    for part in text.split(','):
        found = SPAN.match(part.strip())
        if not found or (found.group(2) and int(found.group(2)) < int(found.group(1))):
            raise TargetError('--project test:%s: give test digit numbers such as test:0-99 or '
                              'test:3,14,15' % text)
        first = int(found.group(1))
        numbers.extend(range(first, int(found.group(2) or first) + 1))
        if len(numbers) > MAX_TARGETS:
            raise TargetError('--project test:%s: more than %d digits' % (text, MAX_TARGETS))
    return numbers


def _test_set(data_dir):
    try:
        return mnist.load_mnist_sets(data_dir)
    except mnist.MnistDataError as e:
        raise TargetError('--project needs MNIST\'s test digits: %s' % e) from None


def read_image(path, size):
    """One image file as the generator draws: (3, size, size) in [-1, 1]."""
    try:
        data = files.read_regular(path, MAX_FILE_BYTES,
                                  too_large='more than an image to project may be')
    except files.FileRefused as e:
        raise TargetError('--project: %s' % e) from None
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise TargetError('--project: %s is not an image OpenCV reads' % path)
    channels = 1 if image.ndim == 2 else image.shape[2]
    height, width = image.shape[:2]
    if image.dtype != np.uint8:
        raise TargetError('--project: %s has %s pixels; give 8-bit images' % (path, image.dtype))
    if (height, width) == (mnist.SOURCE_SIZE, mnist.SOURCE_SIZE) and channels == 1:
        return mnist.prepare_chunk(image[np.newaxis], size)[0]
    if (height, width) != (size, size) or channels not in (1, 3):
        raise TargetError('--project: %s is %dx%d with %d channel%s; the generator draws '
                          '%dx%d images (grey or RGB; or give a 28x28 grey digit)'
                          % (path, width, height, channels, '' if channels == 1 else 's',
                             size, size))
    rgb = np.repeat(image[:, :, np.newaxis], 3, axis=2) if channels == 1 else image[:, :, ::-1]
    return (rgb.transpose(2, 0, 1).astype(np.float32) / (255.0 / 2) - 1.0)
