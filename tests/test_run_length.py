"""A run's length (dcgan/run_length.py): the tutorial's epoch by default on any data, --epochs
and --max-iters as given, the first status line in iterations and passes, and a resume of a
finished run told so in one line with the command that trains it further."""
import math
import shlex
import sys

import cv2
import numpy as np
import pytest

from dcgan.run_length import TUTORIAL_IMAGES, count_passes, run_length
from helpers import ON_CPU, in_one_suite, run_program

FLAGS = ON_CPU + ['--batch-size', '4', '--seed', '5', '--no-show', '--vis-every', '100']


@pytest.mark.parametrize('epochs, max_iters, own, total', [
    (None, None, False, 1094),           # MNIST: the tutorial's epoch
    (None, None, True, 1094),            # own images: as many images as that epoch
    (3, None, True, 3 * 30),             # --epochs: passes over the data given
    (None, 50, True, 50),                # --max-iters alone: its own goal
    (None, 5000, False, 5000),           # ... not cut by MNIST's default epoch either
    (2, 45, False, 45),                  # both: the smaller
    (2, 500, True, 60),
])
def test_the_goal_by_the_flags_and_the_data(epochs, max_iters, own, total):
    """1,900 images of one's own at batch 64 (30 iterations a pass), MNIST's 70,000."""
    images = 1900 if own else TUTORIAL_IMAGES
    length = run_length(epochs, max_iters, math.ceil(images / 64), images, 64, own)
    assert length.total == total


def test_the_default_counts_the_images_of_all_workers():
    """Two workers of 32 show 64 images an iteration: the tutorial's epoch is 1,094 of them."""
    assert run_length(None, None, 30, 1900, 64, True).total == 1094
    assert run_length(None, None, 30, 1900, 2 * 32, True).total == 1094
    assert run_length(None, None, 30, 1900, 2 * 64, True).total == 547


def test_the_first_status_line_s_words():
    mnist = run_length(None, None, 1094, 70000, 64, False)
    assert mnist.describe() == '1094 iterations (1 pass over the 70000 images)'
    own = run_length(None, None, 30, 1900, 64, True)
    assert own.describe() == '1094 iterations (36.9 passes over the 1900 images)'
    assert own.describe(done=1093) == '1 iteration (0.034 passes over the 1900 images)'
    assert [count_passes(p) for p in (1, 2, 0.5, 2.25, 12.345, 3 * 8 / 70000)] == [
        '1 pass', '2 passes', '0.5 passes', '2.2 passes', '12.3 passes', '0.00034 passes']


@pytest.fixture
def small_folder(tmp_path):
    """10 images of one's own: 3 iterations a pass at batch 4."""
    folder = tmp_path / 'images'
    folder.mkdir()
    for index in range(10):
        image = np.full((32, 32, 3), 20 * index, np.uint8)
        assert cv2.imwrite(str(folder / ('%d.png' % index)), image)
    return str(folder)


@in_one_suite()  # the goal's arithmetic: the same on every Python
def test_max_iters_alone_trains_that_many_on_a_small_folder(small_folder, tmp_path):
    done = run_program('--data', small_folder, *FLAGS, '--max-iters', '7', '--output-dir',
                       str(tmp_path / 'run'))
    assert done.returncode == 0, done.stderr
    assert ': 7 iterations (2.8 passes over the 10 images); the run goes to ' in done.stdout
    assert 'Done: 7 iterations in all.' in done.stdout


@in_one_suite()  # the goal's arithmetic: the same on every Python
def test_a_finished_run_resumed_says_so_and_how_to_train_it_further(small_mnist, tmp_path):
    """Exit 0 (a job started again after its end has not failed), one line, and the command
    it gives trains on."""
    run = str(tmp_path / 'run')
    first = run_program('--data-dir', str(small_mnist), *FLAGS, '--max-iters', '1',
                        '--output-dir', run)
    assert first.returncode == 0, first.stderr
    assert 'Done: 1 iteration in all.' in first.stdout
    again = run_program('--data-dir', str(small_mnist), '--resume', run, '--max-iters', '1')
    assert again.returncode == 0, again.stderr
    said = again.stdout.strip().splitlines()
    assert said[-1].startswith('The run in %s has reached its goal: 1 iteration done. To train '
                               'it further, give it a longer one: python dcgan_mnist.py '
                               '--resume %s ' % (run, run)), said
    assert 'Training' not in again.stdout
    command = shlex.split(said[-1].split('longer one: ', 1)[1])
    assert command[-2:] == ['--max-iters', '2'] and '--epochs' not in command
    further = run_program(*command[2:])
    assert further.returncode == 0, further.stderr
    assert 'Done: 2 iterations in all.' in further.stdout


def test_the_epochs_flag_says_what_an_epoch_is(capsys):
    import dcgan_mnist
    with pytest.raises(SystemExit):
        dcgan_mnist.parse_args(['--help'])
    assert 'as many passes as show the tutorial\'s 70000' in ' '.join(
        capsys.readouterr().out.split()), sys.version
