"""How long a run trains: its goal in iterations, from the length flags and the data.

The unit a user asks in is the one that means the same on any data. An epoch does not: the
tutorial's epoch of MNIST is 70,000 images (1,094 iterations of 64), one pass over a folder of
1,800 images is 28 iterations, far too short to learn anything. So a run's length is counted
in images shown, as StyleGAN counts its thousands of images (--kimg), and its default is the
tutorial's epoch, TUTORIAL_IMAGES, on MNIST and on your own images alike:

    no length flag       MNIST: one epoch (the tutorial's: 1,094 iterations of 64);
                         your own images: as many iterations as show TUTORIAL_IMAGES images,
                         however many passes over them that makes
    --epochs N           N passes over the data, on any data (the smaller goal with --max-iters)
    --max-iters N        N iterations in all, a goal of its own (not cut by a default epoch)

Iterations stay what the loop counts, checkpoints are named by and a resume continues from.
"""
import math
from dataclasses import dataclass

TUTORIAL_IMAGES = 70000  # MNIST's 60,000 training and 10,000 test digits: the tutorial's epoch


@dataclass(frozen=True)
class RunLength:
    total: int              # iterations done when the run ends
    images_per_pass: int    # the data's images (all workers' shares together)
    images_per_iteration: int

    @property
    def passes(self):
        """Passes over the data the whole run makes."""
        return self.total * self.images_per_iteration / self.images_per_pass

    def describe(self, done=0):
        """'1094 iterations (1 pass over the 70000 images)': the words of the first status
        line, for the iterations left after `done`."""
        left = self.total - done
        passes = (left * self.images_per_iteration) / self.images_per_pass
        return '%s (%s over the %d images)' % (
            count(left, 'iteration'), count_passes(passes), self.images_per_pass)


def count(number, word, plural=None):
    """'1 iteration', '2 iterations'."""
    return '%d %s' % (number, word if number == 1 else plural or word + 's')


def count_passes(passes):
    """'1 pass', '25.3 passes', '0.00034 passes': two significant figures below 10."""
    if passes >= 1 and abs(passes - round(passes)) < 0.005:
        return count(round(passes), 'pass', 'passes')
    shown = '%.2g' % passes if passes < 10 else '%.1f' % passes
    return '%s passes' % shown


def run_length(epochs, max_iters, iterations_per_epoch, images_per_pass, images_per_iteration,
               own_images):
    """The run's goal: `epochs` passes (or one, on MNIST, when no flag is given), or
    `max_iters` iterations alone, or the smaller of both; on `own_images` with no flag, the
    iterations that show TUTORIAL_IMAGES images."""
    if epochs is None and max_iters is not None:
        total = max_iters
    elif epochs is None and own_images:
        total = math.ceil(TUTORIAL_IMAGES / images_per_iteration)
    else:
        total = (epochs or 1) * iterations_per_epoch
        if max_iters is not None:
            total = min(total, max_iters)
    return RunLength(total, images_per_pass, images_per_iteration)
