"""The five steps learn: the Straight Dope's 2-D Gaussian GAN (examples/gaussian_gan.py),
trained by dcgan_mnist.train_step itself, finds the Gaussian's mean and principal axis; with
the generator fed the input gradient reversed, or not fed at all, the same check fails.

Tolerances, from 20 seeds of the example as shipped (docs/gaussian.md): the learned mean was
0.06 to 1.31 from b (median 0.21), the principal axes 0.2 to 7.7 degrees apart (median 1.9).
Allowed: 1.5 and 15 degrees. Reversed (8 seeds): the mean 3.64 to 3.99 from b; withheld: 2.24
(the generator stays where it started) and the axes 25 to 86 degrees apart."""
import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import REPO, in_one_suite

sys.path.insert(0, os.path.join(REPO, 'examples'))
import gaussian_gan  # noqa: E402

pytestmark = in_one_suite()  # MXNet's arithmetic, the same on every Python

MEAN_TOLERANCE = 1.5
ANGLE_TOLERANCE = 15.0


class ScaledJudge:
    """D as step 5's judge, its input gradient multiplied by `scale` on the way to G (-1: the
    sign flipped; 0: G not fed at all)."""

    def __init__(self, discriminator, scale):
        self.discriminator, self.scale = discriminator, scale

    def __getattr__(self, name):
        return getattr(self.discriminator, name)

    def get_input_grads(self):
        return [grad * self.scale for grad in self.discriminator.get_input_grads()]


def learns_the_gaussian(generator):
    mean, covariance, _ = gaussian_gan.learned(generator)
    return (np.linalg.norm(mean - gaussian_gan.B) <= MEAN_TOLERANCE
            and gaussian_gan.principal_angle(covariance) <= ANGLE_TOLERANCE)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_the_five_steps_learn_the_gaussian(seed):
    assert learns_the_gaussian(gaussian_gan.train(seed))


@pytest.mark.parametrize('scale', [-1, 0])
def test_a_broken_generator_step_does_not(scale):
    judge = lambda discriminator: ScaledJudge(discriminator, scale)  # noqa: E731
    assert not learns_the_gaussian(gaussian_gan.train(0, judge=judge))


def test_the_example_prints_and_draws(tmp_path):
    done = subprocess.run([sys.executable, os.path.join(REPO, 'examples', 'gaussian_gan.py'),
                           '--out', str(tmp_path / 'g.png')], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == 'true    mean [1. 2.]  covariance [[1.01, 1.95], [1.95, 4.25]]'
    assert lines[1].startswith('learned mean [')
    assert (tmp_path / 'g.png').read_bytes().startswith(b'\x89PNG')
