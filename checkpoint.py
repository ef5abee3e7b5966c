"""Checkpoints: everything a run needs to continue exactly where it stopped.

A checkpoint is a folder `RUN/checkpoints/iter-NNNNNNN` (NNNNNNN: iterations done) holding

    generator.params, discriminator.params   weights and BatchNorm moving statistics
    generator.states, discriminator.states   Adam's moments
    generator.optimizer, discriminator...    the optimizers, with Adam's per-weight step counts
    fixed_noise.npy                          the run's fixed noise batch
    state.json                               counters, seeds and the run's settings
    generator_average.params                 the averaged generator's weights (when kept)

It is written as `iter-NNNNNNN.partial` and renamed only when every file is complete and on
disk, so the newest complete checkpoint is never a broken one; `.partial` folders are
ignored (and replaced by the next save).
"""
import json
import os
import pickle
import re
import shutil

import mxnet as mx
import numpy as np

CHECKPOINTS = 'checkpoints'
STATE = 'state.json'
FIXED_NOISE = 'fixed_noise.npy'
AVERAGE = 'generator_average.params'
NETWORKS = ('generator', 'discriminator')
FORMAT = 1
# What every state.json holds (the training code writes them; see dcgan_mnist.Trainer.save).
STATE_KEYS = ('global_iteration', 'iterations_per_epoch', 'num_images', 'devices', 'workers',
              'batch_size', 'noise_dim', 'lr', 'beta1', 'init_sigma', 'seed', 'average_decay')
_NAME = re.compile(r'^iter-(\d{7,})$')


class CheckpointError(Exception):
    """A checkpoint is missing, incomplete or does not fit; the message says which and why."""


def checkpoint_dir(run_dir, global_iteration):
    return os.path.join(run_dir, CHECKPOINTS, 'iter-%07d' % global_iteration)


# ============================== saving ==============================

def save_optimizer(module, folder, name):
    """Write the module's optimizer: its state arrays to NAME.states (an MXNet array file) and
    the optimizer itself, with Adam's per-weight step counts, to NAME.optimizer (a pickle).

    `Module.save_optimizer_states` leaves the optimizer out, and with it the step counts that
    set Adam's bias correction: a run resumed from that would not continue exactly. Pickling
    the states themselves, as MXNet's updater does, holds a second copy of them in memory.
    """
    if module._update_on_kvstore:
        raise CheckpointError('saving optimizer states held in a kvstore is not supported')
    updater = module._updater
    arrays, layout = {}, {}
    for index, state in updater.states.items():
        parts = tuple(state) if isinstance(state, (tuple, list)) else \
            (() if state is None else (state,))
        layout[index] = (type(state).__name__, len(parts))
        for position, array in enumerate(parts):
            arrays['%d.%d' % (index, position)] = array
    mx.nd.save(os.path.join(folder, name + '.states'), arrays)
    _write(os.path.join(folder, name + '.optimizer'),
           pickle.dumps({'optimizer': updater.optimizer, 'layout': layout}))


def restore_optimizer(module, folder, name):
    """Load what `save_optimizer` wrote into the module's updater."""
    states_path = os.path.join(folder, name + '.states')
    optimizer_path = os.path.join(folder, name + '.optimizer')
    try:
        arrays = mx.nd.load(states_path)
        with open(optimizer_path, 'rb') as f:
            saved = pickle.load(f)
    except (mx.base.MXNetError, OSError, EOFError, ValueError, TypeError, AttributeError,
            pickle.UnpicklingError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError('%s or %s cannot be read (%s)'
                              % (states_path, optimizer_path, reason[:200])) from None
    states = {}
    for index, (kind, count) in saved['layout'].items():
        parts = tuple(arrays['%d.%d' % (index, position)] for position in range(count))
        if kind in ('tuple', 'list'):
            states[index] = parts        # Adam: (mean, variance)
        elif kind == 'NoneType':
            states[index] = None         # an optimizer without state, such as plain SGD
        else:
            states[index] = parts[0]     # a single array, such as SGD's momentum
    updater = module._updater
    updater.states, updater.optimizer = states, saved['optimizer']
    updater.states_synced = dict.fromkeys(states, False)  # moved to the device on first use


def _write(path, data):
    with open(path, 'wb') as f:
        f.write(data)


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(run_dir, modules, state, fixed_noise, keep=None, average=None):
    """Write a checkpoint of `modules` ({'generator': .., 'discriminator': ..}) and `state`,
    and of `average` ({name: NDArray}, the averaged generator) when given.

    `state['global_iteration']` names it. Returns its path. With `keep`, only the newest
    `keep` checkpoints of the run remain afterwards.
    """
    final = checkpoint_dir(run_dir, state['global_iteration'])
    if os.path.isdir(final):
        return final  # this very state is saved already (e.g. at an epoch end that is the end)
    partial = final + '.partial'
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    # Let the engine finish the last step first: parameters read while it still runs were
    # seen to be stale, and save_params may return before the file is written.
    mx.nd.waitall()
    for name, module in modules.items():
        module.save_params(os.path.join(partial, name + '.params'))
        save_optimizer(module, partial, name)
    np.save(os.path.join(partial, FIXED_NOISE), fixed_noise)
    if average is not None:
        mx.nd.save(os.path.join(partial, AVERAGE),
                   {'arg:' + name: array for name, array in average.items()})
    _write(os.path.join(partial, STATE),
           json.dumps(dict(state, format=FORMAT), indent=2, sort_keys=True).encode())
    mx.nd.waitall()
    for name in os.listdir(partial):  # on disk, not only in the page cache, before the rename
        with open(os.path.join(partial, name), 'rb') as f:
            os.fsync(f.fileno())
    _fsync_dir(partial)
    os.rename(partial, final)
    _fsync_dir(os.path.dirname(final))
    if keep:
        for old in list_checkpoints(run_dir)[:-keep]:
            shutil.rmtree(old)
    return final


# ============================== finding and loading ==============================

def list_checkpoints(run_dir):
    """The run's complete checkpoints, oldest first."""
    root = os.path.join(run_dir, CHECKPOINTS)
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        match = _NAME.match(name)
        if match and os.path.isfile(os.path.join(root, name, STATE)):
            found.append((int(match.group(1)), os.path.join(root, name)))
    return [path for _, path in sorted(found)]


def find_checkpoint(path):
    """`path` itself when it is a checkpoint, else the newest checkpoint of the run at `path`."""
    if os.path.isfile(os.path.join(path, STATE)):
        return path
    if not os.path.isdir(path):
        raise CheckpointError('%s is not a run or checkpoint folder' % path
                              if os.path.exists(path) else '%s does not exist' % path)
    checkpoints = list_checkpoints(path)
    if not checkpoints:
        raise CheckpointError('%s holds no complete checkpoint (looked for %s/iter-*/%s)'
                              % (path, CHECKPOINTS, STATE))
    return checkpoints[-1]


def load_state(checkpoint):
    """The checkpoint's state.json as a dict."""
    path = os.path.join(checkpoint, STATE)
    try:
        with open(path) as f:
            state = json.load(f)
    except (OSError, ValueError) as e:
        raise CheckpointError('%s cannot be read (%s)' % (path, e)) from None
    if not isinstance(state, dict) or state.get('format') != FORMAT:
        raise CheckpointError('%s is of format %r; this program reads format %d'
                              % (path, isinstance(state, dict) and state.get('format'), FORMAT))
    required = STATE_KEYS + (('average_updates',) if state.get('average_decay') else ())
    missing = [key for key in required if key not in state]
    if missing:
        raise CheckpointError('%s is incomplete: it lacks %s' % (path, ', '.join(missing)))
    return state


def load_fixed_noise(checkpoint):
    path = os.path.join(checkpoint, FIXED_NOISE)
    try:
        return np.load(path)
    except (OSError, ValueError) as e:
        raise CheckpointError('%s cannot be read (%s)' % (path, e)) from None


def load_params(path):
    """A .params file as (arg_params, aux_params) dicts of NDArrays."""
    try:
        saved = mx.nd.load(path)
    except mx.base.MXNetError as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else 'unreadable'
        raise CheckpointError('%s is missing or not an MXNet parameter file (%s)'
                              % (path, reason[:200])) from None
    if not isinstance(saved, dict):
        raise CheckpointError('%s holds no named parameters' % path)
    arg_params, aux_params = {}, {}
    for key, value in saved.items():
        kind, _, name = key.partition(':')
        {'arg': arg_params, 'aux': aux_params}.get(kind, {})[name] = value
    return arg_params, aux_params


def check_shapes(path, params, expected):
    """Raise a CheckpointError naming the first array in `params` that does not fit."""
    missing = sorted(set(expected) - set(params))
    if missing:
        more = ' and %d more' % (len(missing) - 3) if len(missing) > 3 else ''
        raise CheckpointError('%s lacks %s%s: not parameters of this network'
                              % (path, ', '.join(missing[:3]), more))
    for name, shape in expected.items():
        if tuple(params[name].shape) != tuple(shape):
            raise CheckpointError('%s: %s has shape %s, this network needs %s'
                                  % (path, name, tuple(params[name].shape), tuple(shape)))


def module_param_shapes(module):
    """{name: shape} of every parameter and auxiliary state a bound Module holds."""
    arg_params, aux_params = module.get_params()
    return {name: array.shape for name, array in list(arg_params.items()) +
            list(aux_params.items())}


def restore_modules(checkpoint, modules):
    """Load parameters and optimizer states of a checkpoint into bound, initialised modules."""
    for name, module in modules.items():
        params_path = os.path.join(checkpoint, name + '.params')
        arg_params, aux_params = load_params(params_path)
        check_shapes(params_path, dict(arg_params, **aux_params), module_param_shapes(module))
        module.set_params(arg_params, aux_params)
        restore_optimizer(module, checkpoint, name)
