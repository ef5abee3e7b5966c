"""A run's state: its settings, where it is, its fixed noise and its generator average; and the
one schema of it, which the flags and a checkpoint's state.json are both checked against
(checkpoint.py adds the format, the files' SHA-256 sums and its own).

    settings      fixed when a run starts, kept when it resumes (a flag may repeat one, never
                  change it): SETTINGS, each with the Check its flag and its field share
                  (dtype is absent from checkpoints older than it: those ran in float32)
    where it is   global_iteration (iterations done), epoch, iterations_per_epoch
    what it fits  num_images, data_seed, devices, workers: a resumed run must have them again;
                  data, what it trains on: {'kind': 'mnist'}, or a --data folder's or .rec
                  file's {'kind', 'path', 'images', 'fingerprint'} (dcgan/own_images.py),
                  which a resumed run must find again (absent from checkpoints older than
                  --data: those trained on MNIST)
    why saved     reason ('every 500 iterations', 'epoch end', 'end', 'interrupted'), and
                  mxnet_version: for people; any text is accepted
    the average   average_updates, when the run keeps one (average_decay is not None)

Beside the fields' kinds and ranges, what holds between them in every run this program wrote:
iterations_per_epoch follows from num_images and batch_size, epoch from global_iteration, the
batch splits evenly across the devices, and the average has been updated once an iteration.
The files a checkpoint holds are exactly those of `checkpoint_files`, none larger than the
networks and the formats imply; the fixed noise is finite float32 of shape (batch, Z, 1, 1).

Accepted as harmless: keys state.json does not define (a later version's additions: they are
read by no one and dropped by the next save), and any mxnet_version (a checkpoint holds
arrays and JSON, which any MXNet 1.x reads the same).
"""
import math
import os
import random
from dataclasses import dataclass
from typing import Optional

import numpy as np

import symbols
from dcgan import averaging, batches, bfloat16, checkpoint
from dcgan.cli import Check, Choice, check_memory, positive_float, seed, unit_interval
from dcgan.errors import SetupError
from dcgan.framework import mx

# Far more iterations than a run can do (at 2 s each, 136 years): a bound on the counters.
MAX_ITERATIONS = 2 ** 31 - 1
MAX_PROCESSES = 1024     # devices of a worker, workers of a run

# MXNet 1.9.1 (built without large-tensor support) refuses an array of 2**31 elements or more:
# the batch's images (B, 3, 64, 64) and g1's weights (Z, 1024, 4, 4) must stay below that.
MAX_ELEMENTS = 2 ** 31 - 1
MAX_BATCH = MAX_ELEMENTS // (symbols.IMAGE_CHANNELS * symbols.IMAGE_SIZE ** 2)
MAX_NOISE_DIM = MAX_ELEMENTS // (symbols.GENERATOR_FILTERS[0] * symbols.KERNEL[0] *
                                 symbols.KERNEL[1])
# The settings that define a run's training, as flags (--batch-size ...) and in state.json.
# average_decay may also be None (no average).
SETTINGS = {'batch_size': Check(int, low=1, high=MAX_BATCH), 'lr': positive_float,
            'beta1': unit_interval, 'init_sigma': positive_float,
            'noise_dim': Check(int, low=1, high=MAX_NOISE_DIM), 'seed': seed,
            'average_decay': unit_interval, 'dtype': Choice(*bfloat16.DTYPES)}
# Settings that checkpoints written before they existed lack, and what those runs used.
ADDED_SETTINGS = {'dtype': 'float32'}
# The rest of what a run reads back from state.json.
COUNTERS = {'global_iteration': Check(int, low=0, high=MAX_ITERATIONS),
            'epoch': Check(int, low=0, high=MAX_ITERATIONS),
            'iterations_per_epoch': Check(int, low=1, high=MAX_ITERATIONS),
            'num_images': Check(int, low=1),
            'data_seed': Check(int, low=batches.ORDER_SEED, high=batches.ORDER_SEED),
            'devices': Check(int, low=1, high=MAX_PROCESSES),
            'workers': Check(int, low=1, high=MAX_PROCESSES)}
AVERAGE_UPDATES = Check(int, low=0, high=MAX_ITERATIONS)
MNIST_DATA = {'kind': 'mnist'}
DATA_KINDS = ('folder', 'rec')  # --data's, besides MNIST
MAX_PATH = 4096
TEXTS = ('reason', 'mxnet_version')
MAX_TEXT = 200
RESUME_FIELDS = tuple(COUNTERS) + tuple(
    name for name in SETTINGS if name not in ADDED_SETTINGS)

# Memory a run needs, measured on the CPU (docs/speed.md, "where the memory goes"): the
# libraries; per byte of parameters, about six (weights, gradients, Module's host copy, Adam's
# two moments, D's kept gradients); per image of a batch, its activations.
LIBRARIES_BYTES = 400e6
PARAMETER_COPIES = 6
ACTIVATION_BYTES_PER_IMAGE = 7e6
FLOAT_BYTES = 4
# A parameter or optimizer file: its arrays' bytes, and at most this much around each array
# (shape, type, name) and around the whole. The other files' limits: below.
ARRAY_OVERHEAD = 1024
FILE_OVERHEAD = 4096


def required_fields(state):
    """What a state.json must hold for a run to continue from it (average_updates when the run
    keeps an average)."""
    return RESUME_FIELDS + (('average_updates',) if state.get('average_decay') is not None
                            else ())


def network_shapes(batch_size, noise_dim):
    """{'generator': (weights, statistics), 'discriminator': (...)}, each a {name: shape}:
    the weights and the BatchNorm statistics of both networks, from symbols.py."""
    found = {}
    for name, symbol, inputs in (
            ('generator', symbols.generator_symbol(), {'rand': (batch_size, noise_dim, 1, 1)}),
            ('discriminator', symbols.discriminator_symbol(),
             {'data': (batch_size, symbols.IMAGE_CHANNELS, symbols.IMAGE_SIZE,
                       symbols.IMAGE_SIZE), 'label': (batch_size,)})):
        arg_shapes, _, aux_shapes = symbol.infer_shape(**inputs)
        weights = {arg: shape for arg, shape in zip(symbol.list_arguments(), arg_shapes)
                   if arg not in inputs}
        statistics = dict(zip(symbol.list_auxiliary_states(), aux_shapes))
        found[name] = (weights, statistics)
    return found


def _array_file_limit(shapes, copies=1):
    elements = sum(int(np.prod(shape)) for shape in shapes)
    return FILE_OVERHEAD + copies * (FLOAT_BYTES * elements + ARRAY_OVERHEAD * len(shapes))


def checkpoint_files(settings, devices):
    """{name: the most bytes it can hold} of every file a checkpoint of a run with these
    settings (and devices per worker) holds besides state.json."""
    files = {}
    shapes = network_shapes(settings['batch_size'], settings['noise_dim'])
    for name, (weights, statistics) in shapes.items():
        files[name + '.params'] = _array_file_limit(list(weights.values()) +
                                                    list(statistics.values()))
        # Adam's two moments of every weight, on every device.
        files[name + '.states'] = _array_file_limit(list(weights.values()), 2 * devices)
        files[name + '.optimizer.json'] = checkpoint.JSON_LIMIT
    files[checkpoint.FIXED_NOISE] = FILE_OVERHEAD + FLOAT_BYTES * (
        settings['batch_size'] * settings['noise_dim'])
    if settings['average_decay'] is not None:
        files[checkpoint.AVERAGE] = _array_file_limit(list(shapes['generator'][0].values()))
    return files


def training_memory(batch_size, noise_dim):
    """About how many bytes of memory training with these settings needs."""
    parameters = sum(int(np.prod(shape)) for weights, statistics in
                     network_shapes(1, noise_dim).values() for shape in weights.values())
    return (LIBRARIES_BYTES + PARAMETER_COPIES * FLOAT_BYTES * parameters
            + ACTIVATION_BYTES_PER_IMAGE * batch_size)


def check_training_memory(settings):
    """SetupError when the machine has too little memory for these settings."""
    check_memory(training_memory(settings['batch_size'], settings['noise_dim']),
                 'training with --batch-size %d and --noise-dim %d'
                 % (settings['batch_size'], settings['noise_dim']))


def check_state(folder, state):
    """Refuse (CheckpointError, one line naming the field) a state.json that is not one this
    program could have written; returns {name: size limit} of the files it must list."""
    path = os.path.join(folder, checkpoint.STATE)
    checkpoint.check_fields(folder, state, required_fields)
    for name, value in ADDED_SETTINGS.items():
        state.setdefault(name, value)

    def refuse(problem):
        raise checkpoint.CheckpointError('%s: %s' % (path, problem))

    fields = dict(COUNTERS, **SETTINGS)
    if state['average_decay'] is not None:
        fields['average_updates'] = AVERAGE_UPDATES
    for name, check in fields.items():
        if name == 'average_decay' and state[name] is None:
            continue
        try:
            check.value(state[name])
        except ValueError as e:
            refuse('%s %s' % (name, e))
    for name in TEXTS:
        if name in state and not (isinstance(state[name], str) and len(state[name]) <= MAX_TEXT):
            refuse('%s is not a text of at most %d characters' % (name, MAX_TEXT))
    problem = data_problem(state.setdefault('data', dict(MNIST_DATA)), state)
    if problem:
        refuse('data %s' % problem)
    follows = math.ceil(state['num_images'] / state['batch_size'])
    if state['num_images'] < state['batch_size']:
        refuse('batch_size %d is more than its num_images %d'
               % (state['batch_size'], state['num_images']))
    if state['iterations_per_epoch'] != follows:
        refuse('iterations_per_epoch %d does not follow from num_images %d and batch_size %d '
               '(%d)' % (state['iterations_per_epoch'], state['num_images'],
                         state['batch_size'], follows))
    if state['epoch'] != state['global_iteration'] // follows:
        refuse('epoch %d does not follow from global_iteration %d and iterations_per_epoch %d'
               % (state['epoch'], state['global_iteration'], follows))
    if state['batch_size'] % state['devices']:
        refuse('batch_size %d does not split evenly across its %d devices'
               % (state['batch_size'], state['devices']))
    if state['average_decay'] is not None and \
            state['average_updates'] != state['global_iteration']:
        refuse('average_updates %d is not global_iteration %d: the average is updated once an '
               'iteration' % (state['average_updates'], state['global_iteration']))
    return checkpoint_files(state, state['devices'])


def data_problem(data, state):
    """What is wrong with state.json's `data` (what the run trains on), or None."""
    if data == MNIST_DATA:
        return None
    if not (isinstance(data, dict) and data.get('kind') in DATA_KINDS
            and set(data) == {'kind', 'path', 'images', 'fingerprint'}):
        return ('is neither %s nor {"kind": %s, "path", "images", "fingerprint"}'
                % (MNIST_DATA, ' or '.join('"%s"' % kind for kind in DATA_KINDS)))
    if not (isinstance(data['path'], str) and 0 < len(data['path']) <= MAX_PATH):
        return 'path is not a path of at most %d characters' % MAX_PATH
    if not (isinstance(data['fingerprint'], str)
            and checkpoint.SHA256_HEX.match(data['fingerprint'])):
        return 'fingerprint is not 64 hexadecimal digits'
    try:
        Check(int, low=state['workers'], high=MAX_ITERATIONS).value(data['images'])
    except ValueError as e:
        return 'images %s (the workers\' count)' % e
    if state['num_images'] != data['images'] // state['workers']:
        return ('images %d does not give num_images %d for %d worker(s)'
                % (data['images'], state['num_images'], state['workers']))
    return None


def without_path(data):
    return {key: value for key, value in data.items() if key != 'path'}


def describe_data(data):
    """The data a run trained on, in words."""
    if data == MNIST_DATA:
        return 'MNIST'
    return '%s (%d images, fingerprint %s)' % (data['path'], data['images'],
                                               data['fingerprint'][:12])


def open_checkpoint(path, how_to_use):
    """checkpoint.open_checkpoint with this schema: (folder, state), every field checked, the
    files exactly those the run's checkpoints hold, each verified, the fixed noise sound (a
    25 KB read; resuming reads it again to use it)."""
    found, state = checkpoint.open_checkpoint(path, how_to_use, check_state)
    load_fixed_noise(found, state)
    return found, state


def load_fixed_noise(found, settings):
    """The checkpoint's fixed noise, refused unless finite float32 (batch, Z, 1, 1)."""
    noise = checkpoint.load_fixed_noise(found)
    shape = (settings['batch_size'], settings['noise_dim'], 1, 1)
    path = os.path.join(found, checkpoint.FIXED_NOISE)
    if noise.dtype != np.float32 or noise.shape != shape:
        raise checkpoint.CheckpointError('%s holds %s %s, not the run\'s float32 %s'
                                         % (path, noise.dtype, noise.shape, shape))
    if not np.isfinite(noise).all():
        raise checkpoint.CheckpointError('%s holds NaN or inf' % path)
    return noise


def settle_settings(args, defaults, saved=None):
    """The run settings {name: value}: a resumed run's own (`saved`, its state.json; flags may
    repeat, not change, them), else the flags given on `args`, else `defaults` and a fresh
    random seed."""
    settled = {}
    for name in SETTINGS:
        given = getattr(args, name)
        if saved is not None:
            if given is not None and given != saved[name]:
                raise SetupError('--%s %s differs from the resumed run\'s %s; a resumed run '
                                 'keeps its settings' % (name.replace('_', '-'), given,
                                                         saved[name]))
            settled[name] = saved[name]
        else:
            settled[name] = defaults.get(name) if given is None else given
    if settled['seed'] is None:
        settled['seed'] = random.SystemRandom().randrange(2 ** 31)
    return settled


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
    data: dict
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
                      num_images=self.num_images, data_seed=batches.ORDER_SEED,
                      devices=self.devices, workers=self.workers, data=self.data, reason=reason,
                      mxnet_version=mx.__version__)
        if self.average:
            record['average_updates'] = self.average.updates
        return record

    def save(self, run_dir, modules, reason, keep):
        """A checkpoint of this state and `modules` in `run_dir`; returns its folder."""
        return checkpoint.save_checkpoint(
            run_dir, modules, self.record(reason), self.fixed_noise, keep=keep,
            average=self.average and self.average.params)


def fresh(settings, generator, data, **shape):
    """The state a new run starts from: nothing done, the fixed noise drawn from its seed, an
    average of the initial weights when the settings keep one. `data`: what it trains on (the
    `data` of state.json); `shape`: iterations_per_epoch, num_images, devices, workers."""
    fixed_noise = np.random.RandomState(settings['seed']).standard_normal(
        (settings['batch_size'], settings['noise_dim'], 1, 1)).astype(np.float32)
    average = None
    if settings['average_decay'] is not None:
        average = averaging.GeneratorAverage(generator, settings['average_decay'])
    return RunState(dict(settings), fixed_noise=fixed_noise, average=average, data=data,
                    **shape)


def resumed(found, saved, modules, data, where, **shape):
    """The state of checkpoint `found` (its verified state.json `saved`), its weights and
    optimizer states loaded into `modules`; refuses a checkpoint this setup cannot continue.
    `data` and `shape` as for `fresh`, this setup's; `where`: where the data was read."""
    if without_path(saved['data']) != without_path(data):  # the same images, maybe moved
        raise SetupError('the run was trained on %s; %s is other data: resume it on the same '
                         'images' % (describe_data(saved['data']), describe_data(data)))
    if saved['num_images'] != shape['num_images']:
        raise SetupError('the run was trained on %d images, %s holds %d'
                         % (saved['num_images'], where, shape['num_images']))
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
    return RunState(settings, fixed_noise=load_fixed_noise(found, settings), data=data,
                    done=saved['global_iteration'], average=average, **shape)
