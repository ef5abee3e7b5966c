"""A run's state: its settings, where it is, its fixed noise and its generator average. The one
place that says what a checkpoint's state.json holds about the run (checkpoint.py adds the
format, the files' SHA-256 sums and its own).

    settings      fixed when a run starts, kept when it resumes (a flag may repeat one, never
                  change it): SETTINGS
    where it is   global_iteration (iterations done), epoch, iterations_per_epoch
    what it fits  num_images, data_seed, devices, workers: a resumed run must have them again
    why saved     reason ('every 500 iterations', 'epoch end', 'end', 'interrupted'), and
                  mxnet_version
    the average   average_updates, when the run keeps one (average_decay is not None)

The fixed noise and the average's weights are arrays, saved beside state.json as files.
"""
import os
import random
from dataclasses import dataclass
from typing import Optional

import numpy as np

from dcgan import averaging, checkpoint, mnist
from dcgan.cli import SetupError
from dcgan.framework import mx

# The settings that define a run's training, as flags (--batch-size ...) and in state.json.
SETTINGS = ('batch_size', 'lr', 'beta1', 'init_sigma', 'noise_dim', 'seed', 'average_decay')
# The fields a run reads back from state.json (settings included); the others are for people.
RESUME_FIELDS = ('global_iteration', 'iterations_per_epoch', 'num_images', 'devices',
                 'workers') + SETTINGS
SEED_RANGE = 2 ** 31  # a fresh run's random seed is below this


def required_fields(state):
    """What a state.json must hold for a run to continue from it (average_updates when the run
    keeps an average)."""
    return RESUME_FIELDS + (('average_updates',) if state.get('average_decay') else ())


def open_checkpoint(path, how_to_use):
    """checkpoint.open_checkpoint with this schema: (folder, state), verified, complete."""
    return checkpoint.open_checkpoint(path, how_to_use, required_fields)


def settle_settings(args, defaults, saved=None):
    """Fill in the run settings on `args`: a resumed run's own (`saved`, its state.json; flags
    may repeat, not change, them), else the flags given, else `defaults` and a fresh random
    seed."""
    for name in SETTINGS:
        given = getattr(args, name)
        if saved is not None:
            if given is not None and given != saved[name]:
                raise SetupError('--%s %s differs from the resumed run\'s %s; a resumed run '
                                 'keeps its settings' % (name.replace('_', '-'), given,
                                                         saved[name]))
            setattr(args, name, saved[name])
        elif given is None:
            setattr(args, name, defaults.get(name))
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(SEED_RANGE)


@dataclass
class RunState:
    """Where a run is, and what it carries from one iteration to the next besides the networks.

    `done` counts the iterations finished over the whole run: iteration k of epoch e (both from
    0) is number e * iterations_per_epoch + k, and noise batch number `done` feeds it.
    """
    settings: dict
    iterations_per_epoch: int
    num_images: int
    devices: int
    workers: int
    fixed_noise: np.ndarray
    done: int = 0
    average: Optional[averaging.GeneratorAverage] = None

    @property
    def epoch(self):
        return self.done // self.iterations_per_epoch

    def advance(self, generator):
        """One more iteration done: fold the generator's new weights into the average."""
        if self.average:
            self.average.update(generator)
        self.done += 1

    def record(self, reason):
        """state.json's content about the run, saved for `reason`."""
        record = dict(self.settings, global_iteration=self.done, epoch=self.epoch,
                      iterations_per_epoch=self.iterations_per_epoch,
                      num_images=self.num_images, data_seed=mnist.ORDER_SEED,
                      devices=self.devices, workers=self.workers, reason=reason,
                      mxnet_version=mx.__version__)
        if self.average:
            record['average_updates'] = self.average.updates
        return record

    def save(self, run_dir, modules, reason, keep):
        """A checkpoint of this state and `modules` in `run_dir`; returns its folder."""
        return checkpoint.save_checkpoint(
            run_dir, modules, self.record(reason), self.fixed_noise, keep=keep,
            average=self.average and self.average.params)


def fresh(settings, generator, **shape):
    """The state a new run starts from: nothing done, the fixed noise drawn from its seed, an
    average of the initial weights when the settings keep one. `shape`: iterations_per_epoch,
    num_images, devices, workers."""
    fixed_noise = np.random.RandomState(settings['seed']).standard_normal(
        (settings['batch_size'], settings['noise_dim'], 1, 1)).astype(np.float32)
    average = None
    if settings['average_decay'] is not None:
        average = averaging.GeneratorAverage(generator, settings['average_decay'])
    return RunState(dict(settings), fixed_noise=fixed_noise, average=average, **shape)


def resumed(found, saved, modules, data_dir, **shape):
    """The state of checkpoint `found` (its verified state.json `saved`), its weights and
    optimizer states loaded into `modules`; refuses a checkpoint this setup cannot continue.
    `shape` as for `fresh`, this setup's."""
    if saved['num_images'] != shape['num_images']:
        raise SetupError('the run was trained on %d images, %s holds %d'
                         % (saved['num_images'], data_dir, shape['num_images']))
    if (saved['devices'], saved['workers']) != (shape['devices'], shape['workers']):
        raise SetupError('the run was trained on %d device(s) in %d worker(s); resume it '
                         'on as many (each device has its own BatchNorm statistics and '
                         'optimizer state)' % (saved['devices'], saved['workers']))
    checkpoint.restore_modules(found, modules)
    settings = {name: saved[name] for name in SETTINGS}
    average = None
    if settings['average_decay'] is not None:
        weights, _ = checkpoint.load_params(os.path.join(found, checkpoint.AVERAGE))
        average = averaging.GeneratorAverage(modules['generator'], settings['average_decay'],
                                             weights, saved['average_updates'])
    return RunState(settings, fixed_noise=checkpoint.load_fixed_noise(found),
                    done=saved['global_iteration'], average=average, **shape)
