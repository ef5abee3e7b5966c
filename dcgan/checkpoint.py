"""Checkpoints: everything a run needs to continue exactly where it stopped, as data only.

A checkpoint is a folder `RUN/checkpoints/iter-NNNNNNN` (NNNNNNN: iterations done) holding

    generator.params, discriminator.params      weights and BatchNorm moving statistics
    generator.states, discriminator.states      Adam's moments (MXNet array files)
    generator.optimizer.json, discriminator...  Adam's settings and per-weight step counts
    fixed_noise.npy                             the run's fixed noise batch
    generator_average.params                    the averaged generator's weights (when kept)
    state.json                                  counters, seeds, the run's settings, and the
                                                SHA-256 of every other file and of itself

What it guarantees:
- Loading runs no code. Every file is an MXNet array file, a numpy array read with
  allow_pickle=False, or JSON; nothing is unpickled. The optimizer is rebuilt from the run's
  settings and the saved step counts, and must match the settings it was saved with.
- Atomic: it is written as `iter-NNNNNNN.partial`, flushed to disk, and renamed only when
  complete. A save cut short (full disk, write error, a kill) leaves the earlier checkpoints
  as they were; a failed save removes its `.partial` folder, a killed one leaves it to be
  replaced by the next save, and neither is ever loaded.
- Verified: every load checks the SHA-256 sums and refuses a damaged checkpoint, naming the
  file; it never falls back to another checkpoint on its own. The sums find damage, they are
  no signature: so every file is also opened as untrusted input (a regular file, within its
  size limit, not followed through a link), and state.json's content is checked against the
  run's schema, which run_state.py gives as `check_state`.
What it does not: keep more than the newest --keep-checkpoints.
"""
import errno
import hashlib
import json
import os
import re
import shutil

import numpy as np

from dcgan import files
from dcgan.framework import mx
from dcgan.errors import UserError

CHECKPOINTS = 'checkpoints'
STATE = 'state.json'
FIXED_NOISE = 'fixed_noise.npy'
AVERAGE = 'generator_average.params'
NETWORKS = ('generator', 'discriminator')
FORMAT = 2  # 1 stored the optimizers as pickles: refused (see load_state)
PARTIAL = '.partial'
# Old checkpoints are renamed so before they are deleted: a kill halfway through a deletion
# never leaves a folder that looks like a checkpoint but lacks files.
DELETING = '.deleting'
# The optimizer settings a checkpoint records and a resumed run must have again.
OPTIMIZER_SETTINGS = ('lr', 'beta1', 'beta2', 'epsilon', 'wd', 'rescale_grad',
                      'clip_gradient', 'begin_num_update')
_NAME = re.compile(r'^iter-(\d{7,})$')
SHA256_HEX = re.compile(r'^[0-9a-f]{64}$')
JSON_LIMIT = 1 << 20  # bytes of state.json and of an optimizer record at the most
MAX_STEPS = 2 ** 31 - 1  # an optimizer's step counts at the most


class CheckpointError(UserError):
    """A checkpoint is missing, incomplete, damaged or does not fit; the message says which."""


class SaveError(CheckpointError):
    """Writing a checkpoint failed; its partial folder is gone, earlier checkpoints are intact."""


def checkpoint_dir(run_dir, global_iteration):
    return os.path.join(run_dir, CHECKPOINTS, 'iter-%07d' % global_iteration)


def _sha256_of_stream(f):
    digest = hashlib.sha256()
    for block in iter(lambda: f.read(1 << 20), b''):
        digest.update(block)
    return digest.hexdigest()


def sha256_of(path):
    with open(path, 'rb') as f:
        return _sha256_of_stream(f)


def _open_regular(path, limit=None):
    """A binary file object of `path`, refused (CheckpointError) unless it is a regular file
    (not a symbolic link, a device, a pipe or a folder) of at most `limit` bytes: no read of a
    checkpoint can hang, run without end, or follow a link out of its folder."""
    try:
        return files.open_regular(
            path, limit, follow_links=False,
            too_large='more than a checkpoint of this run holds there')
    except files.FileRefused as e:
        raise CheckpointError(str(e)) from None


def _file_sha256(path, limit=None):
    """sha256_of a checkpoint's file, read as _open_regular allows."""
    with _open_regular(path, limit) as f:
        return _sha256_of_stream(f)


def state_digest(state):
    """The SHA-256 of state.json's content without its own sum (canonical JSON)."""
    content = {key: value for key, value in state.items() if key != 'state_sha256'}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


# ============================== the optimizer, as data ==============================

def optimizer_record(module):
    """What a Module's updater holds besides Adam's moments, as JSON-ready data: the
    optimizer's class and settings, its update counter, the step count of every weight on
    every device (they set Adam's bias correction), and what each weight's state is made of."""
    if module._update_on_kvstore:
        raise CheckpointError('saving optimizer states held in a kvstore is not supported')
    updater = module._updater
    optimizer = updater.optimizer
    counts = {str(device): sorted(per_device.items())
              for device, per_device in optimizer._all_index_update_counts.items()}
    layout = []
    for index, state in sorted(updater.states.items()):
        parts = _state_parts(state)
        kind = 'none' if state is None else 'tuple' if isinstance(state, (tuple, list)) \
            else 'array'
        layout.append([index, kind, len(parts)])
    return {'class': type(optimizer).__name__,
            'settings': {name: getattr(optimizer, name) for name in OPTIMIZER_SETTINGS},
            'num_update': optimizer.num_update, 'update_counts': counts, 'layout': layout}


def _state_parts(state):
    if state is None:
        return ()
    return tuple(state) if isinstance(state, (tuple, list)) else (state,)


def _state_arrays(module):
    """Adam's moments as {'INDEX.PART': NDArray}, for an MXNet array file."""
    return {'%d.%d' % (index, position): array
            for index, state in module._updater.states.items()
            for position, array in enumerate(_state_parts(state))}


def restore_optimizer(module, folder, name):
    """Put a checkpoint's optimizer state into `module`'s freshly made optimizer (init_optimizer
    with the run's settings), refusing one saved with other settings."""
    record_path = os.path.join(folder, name + '.optimizer.json')
    record = _read_json(record_path)
    updater = module._updater
    optimizer = updater.optimizer
    try:
        saved_settings, layout = record['settings'], record['layout']
        if record['class'] != type(optimizer).__name__:
            raise CheckpointError('%s is for a %s optimizer, this run uses %s'
                                  % (record_path, record['class'], type(optimizer).__name__))
        for setting in OPTIMIZER_SETTINGS:
            if saved_settings[setting] != getattr(optimizer, setting):
                raise CheckpointError('%s has %s %r, this run\'s optimizer %r'
                                      % (record_path, setting, saved_settings[setting],
                                         getattr(optimizer, setting)))
        arrays = load_arrays(os.path.join(folder, name + '.states'))
        states = {}
        template = _state_parts(optimizer.create_state(0, mx.nd.zeros((1,))))
        for index, kind, count in layout:
            if type(index) is not int or count != len(template):
                raise ValueError('weight %r has %r parts of state, this optimizer %d'
                                 % (index, count, len(template)))
            parts = tuple(arrays['%d.%d' % (index, position)] for position in range(count))
            if kind == 'tuple':
                states[index] = parts        # Adam: (mean, variance)
            elif kind == 'array':
                states[index] = parts[0]     # one array, such as SGD's momentum
            else:
                states[index] = None         # no state, as for plain SGD
        counts = {int(device): {index: count for index, count in pairs}
                  for device, pairs in record['update_counts'].items()}
        num_update = record['num_update']
        _check_optimizer_state(module, states, counts, num_update)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        raise CheckpointError('%s does not describe this optimizer (%s: %s)'
                              % (record_path, type(e).__name__, e)) from None
    optimizer._all_index_update_counts = counts or {0: {}}
    optimizer._index_update_count = optimizer._all_index_update_counts[
        min(optimizer._all_index_update_counts)]
    optimizer.num_update = num_update
    updater.states = states
    updater.states_synced = dict.fromkeys(states, False)  # moved to the device on first use


def _check_optimizer_state(module, states, counts, num_update):
    """ValueError unless `states` hold one state per weight and device, each array of its
    weight's shape, and the step counts are whole numbers a run can reach: what the next
    update would otherwise meet as a shape error inside MXNet, or compute from."""
    devices = len(module._context)
    shapes = {weight * devices + device: arrays[device].shape
              for weight, arrays in enumerate(module._exec_group.param_arrays)
              for device in range(devices)}
    if set(states) != set(shapes):
        raise ValueError('it holds the state of %d weights, this network has %d'
                         % (len(states), len(shapes)))
    for index, state in states.items():
        for part in _state_parts(state):
            if part.shape != shapes[index]:
                raise ValueError('the state of weight %d has shape %s, the weight %s'
                                 % (index, part.shape, shapes[index]))
    numbers = [num_update] + [count for per_device in counts.values()
                              for count in per_device.values()]
    if not all(type(n) is int and 0 <= n <= MAX_STEPS for n in numbers) or \
            not all(type(index) is int for per_device in counts.values() for index in per_device):
        raise ValueError('its step counts are not whole numbers from 0 to %d' % MAX_STEPS)


# ============================== saving ==============================

def _disk_full(folder):
    try:
        return shutil.disk_usage(folder).free < (1 << 20)
    except OSError:
        return False


def _save_arrays(path, arrays):
    """mx.nd.save, with its failure told as an OSError: MXNet's own message ('FileStream.Write
    incomplete') does not say that the disk is full."""
    try:
        mx.nd.save(path, arrays)
    except mx.base.MXNetError:
        if _disk_full(os.path.dirname(path)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path) from None
        raise OSError(errno.EIO, 'MXNet could not write it', path) from None


def params_dict(arg_params, aux_params=None):
    """The {'arg:NAME': array, 'aux:NAME': array} dict a .params file holds."""
    return dict([('arg:' + name, array) for name, array in arg_params.items()] +
                [('aux:' + name, array) for name, array in (aux_params or {}).items()])


def save_params(path, arg_params, aux_params=None):
    """Write parameters as a .params file (data only: MXNet's own array format)."""
    _save_arrays(path, params_dict(arg_params, aux_params))
    mx.nd.waitall()


def _write_bytes(path, data):
    with open(path, 'wb') as f:
        f.write(data)


def _write_files(folder, modules, state, fixed_noise, average):
    """Every file of a checkpoint into `folder`, state.json last; returns state.json's dict."""
    records = {}
    for name, module in modules.items():
        arg_params, aux_params = module.get_params()
        _save_arrays(os.path.join(folder, name + '.params'), params_dict(arg_params, aux_params))
        _save_arrays(os.path.join(folder, name + '.states'), _state_arrays(module))
        records[name] = optimizer_record(module)
    for name, record in records.items():
        _write_bytes(os.path.join(folder, name + '.optimizer.json'),
                     json.dumps(record, indent=1, sort_keys=True).encode())
    with open(os.path.join(folder, FIXED_NOISE), 'wb') as f:
        np.save(f, np.ascontiguousarray(fixed_noise), allow_pickle=False)
    if average is not None:
        _save_arrays(os.path.join(folder, AVERAGE), params_dict(average))
    mx.nd.waitall()
    sums = {}
    for name in sorted(os.listdir(folder)):  # on disk, not only in the page cache
        path = os.path.join(folder, name)
        files.fsync_file(path)  # the fsync policy: dcgan/files.py
        sums[name] = sha256_of(path)
    state = dict(state, format=FORMAT, files=sums)
    state['state_sha256'] = state_digest(state)
    _write_bytes(os.path.join(folder, STATE),
                 json.dumps(state, indent=2, sort_keys=True).encode())
    files.fsync_file(os.path.join(folder, STATE))
    files.fsync_folder(folder)
    return state


def save_checkpoint(run_dir, modules, state, fixed_noise, keep=None, average=None):
    """Write a checkpoint of `modules` ({'generator': .., 'discriminator': ..}) and `state`,
    and of `average` ({name: NDArray}, the averaged generator) when given.

    `state['global_iteration']` names it. Returns its path. With `keep`, only the newest
    `keep` checkpoints of the run remain afterwards. A write that fails raises SaveError after
    removing what it wrote; the checkpoints already there stay as they were.
    """
    final = checkpoint_dir(run_dir, state['global_iteration'])
    if os.path.isdir(final):
        if _intact(final):
            return final  # this very state is saved already (e.g. an epoch end that is the end)
        os.replace(final, _free_name(final + '.damaged'))  # kept for the user, never loaded
    partial = final + PARTIAL
    # Let the engine finish the last step first: parameters read while it still runs were
    # seen to be stale.
    mx.nd.waitall()
    try:
        shutil.rmtree(partial, ignore_errors=True)  # left by a killed save
        os.makedirs(partial)
        _write_files(partial, modules, state, fixed_noise, average)
        os.rename(partial, final)
        files.fsync_folder(os.path.dirname(final))
    except OSError as e:
        shutil.rmtree(partial, ignore_errors=True)
        raise SaveError('saving checkpoint %s failed: %s (%s)'
                        % (final, e.strerror or e, e.filename or final)) from None
    if keep:
        for old in list_checkpoints(run_dir)[:-keep]:
            os.rename(old, _free_name(old + DELETING))
    root = os.path.dirname(final)
    for name in os.listdir(root):  # these, and whatever a killed save or deletion left
        if DELETING in name or name.endswith(PARTIAL):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
    return final


def _free_name(path):
    candidate, number = path, 1
    while os.path.exists(candidate):
        number += 1
        candidate = '%s-%d' % (path, number)
    return candidate


# ============================== finding, verifying, loading ==============================

def list_checkpoints(run_dir):
    """The run's complete checkpoints (a state.json written), oldest first."""
    root = os.path.join(run_dir, CHECKPOINTS)
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        match = _NAME.match(name)
        if match and os.path.isfile(os.path.join(root, name, STATE)):
            found.append((int(match.group(1)), os.path.join(root, name)))
    return [path for _, path in sorted(found)]


def run_of_checkpoints(path):
    """The run folder of `path` when `path` is a run's checkpoints/ folder, else `path`: the
    folder of checkpoints names its run."""
    parent, name = os.path.split(os.path.normpath(path))
    if name == CHECKPOINTS and list_checkpoints(parent or os.curdir):
        return parent or os.curdir
    return path


def run_folder(path):
    """The run folder `path` belongs to: `path` itself (a run), or the run of its checkpoints/
    folder or of one of its checkpoints."""
    path = run_of_checkpoints(path)
    if os.path.isfile(os.path.join(path, STATE)):
        return os.path.dirname(os.path.dirname(os.path.abspath(path)))
    return path


def find_checkpoint(path):
    """`path` itself when it is a checkpoint, else the newest checkpoint of the run at `path`
    (or of the run whose checkpoints/ folder `path` is)."""
    path = run_of_checkpoints(path)
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


def _read_json(path, limit=JSON_LIMIT):
    try:
        with _open_regular(path, limit) as f:
            return json.loads(f.read().decode('utf-8'))
    except (OSError, ValueError) as e:
        raise CheckpointError('%s cannot be read (%s)' % (path, e)) from None
    except RecursionError:
        raise CheckpointError('%s cannot be read (nested too deeply)' % path) from None


def load_state(checkpoint):
    """The checkpoint's state.json as a dict, checked against its own SHA-256."""
    path = os.path.join(checkpoint, STATE)
    state = _read_json(path)
    version = state.get('format') if isinstance(state, dict) else None
    if type(version) is int and version == 1:
        raise CheckpointError(
            '%s is a checkpoint of the old format 1, whose optimizer files are pickles that '
            'could run code when loaded; this program loads no pickles (its weights are in '
            'the .params files, readable with mx.nd.load)' % checkpoint)
    if type(version) is not int or version != FORMAT:
        raise CheckpointError('%s is of format %r; this program reads format %d'
                              % (path, version, FORMAT))
    if state.get('state_sha256') != state_digest(state):
        raise CheckpointError('%s is damaged: its content does not match its SHA-256' % path)
    return state


def check_fields(checkpoint, state, required_fields=None):
    """Raise a CheckpointError naming the fields state.json lacks: `files`, and those that
    `required_fields(state)` names."""
    required = tuple(required_fields(state)) if required_fields else ()
    missing = [key for key in required + ('files',) if key not in state]
    if missing:
        raise CheckpointError('%s is incomplete: it lacks %s'
                              % (os.path.join(checkpoint, STATE), ', '.join(missing)))


def listed_files(checkpoint, state):
    """state.json's `files`: {plain file name: SHA-256 in hex}, else CheckpointError."""
    listed = state['files']
    path = os.path.join(checkpoint, STATE)
    if not isinstance(listed, dict):
        raise CheckpointError('%s: files is not a table of file names and SHA-256 sums' % path)
    for name, digest in listed.items():
        if name in ('', '.', '..', STATE) or os.path.basename(name) != name:
            raise CheckpointError('%s lists %r, which is not a file of a checkpoint folder'
                                  % (path, name))
        if not (isinstance(digest, str) and SHA256_HEX.match(digest)):
            raise CheckpointError('%s: the SHA-256 of %s is not 64 hexadecimal digits'
                                  % (path, name))
    return listed


def verify_files(checkpoint, state, limits=None):
    """Raise a CheckpointError naming the first file whose SHA-256 is not the recorded one.
    With `limits` ({name: most bytes}, the files the checkpoint must hold), state.json must list
    exactly those, each no larger than its limit: a closed list."""
    listed = listed_files(checkpoint, state)
    if limits is not None:
        path = os.path.join(checkpoint, STATE)
        for name in sorted(set(listed) - set(limits)):
            raise CheckpointError('%s lists %r, which a checkpoint of this run does not hold'
                                  % (path, name))
        for name in sorted(set(limits) - set(listed)):
            raise CheckpointError('%s does not list %s' % (path, name))
    for name, expected in sorted(listed.items()):
        path = os.path.join(checkpoint, name)
        if _file_sha256(path, limits and limits[name]) != expected:
            raise CheckpointError('%s is damaged: its SHA-256 is not the one state.json '
                                  'recorded' % path)


def _verified_state(checkpoint, check_state):
    """The checkpoint's state.json, after checking its content (`check_state(folder, state)`
    returns the {name: size limit} of the files it must list; without it, any `files`) and
    that every file is the one it recorded."""
    state = load_state(checkpoint)
    if check_state:
        limits = check_state(checkpoint, state)
    else:
        check_fields(checkpoint, state)
        limits = None
    verify_files(checkpoint, state, limits)
    return state


def _intact(checkpoint, check_state=None):
    try:
        _verified_state(checkpoint, check_state)
        return True
    except CheckpointError:
        return False


def open_checkpoint(path, how_to_use, check_state=None):
    """(folder, state) of the checkpoint at `path` (or the newest of the run at `path`),
    checked by `check_state` (run_state.open_checkpoint gives the run's schema) and every
    file verified. A damaged, incomplete or impossible one is refused; when `path` is a run,
    the message names the newest intact checkpoint before it, and how to use it
    (`how_to_use(folder)`: the command, in words)."""
    path = run_of_checkpoints(path)
    found = find_checkpoint(path)
    try:
        return found, _verified_state(found, check_state)
    except CheckpointError as damage:
        if found == path:
            raise
        older = [c for c in reversed(list_checkpoints(path))
                 if c != found and _intact(c, check_state)]
        advice = ('the newest intact checkpoint is %s: %s' % (older[0], how_to_use(older[0]))
                  if older else 'no older checkpoint of %s is intact' % path)
        raise CheckpointError('%s; %s' % (damage, advice)) from None


def load_arrays(path):
    """An MXNet array file (no code runs: a binary format of shapes and numbers) as a dict."""
    try:
        saved = mx.nd.load(path)
    except mx.base.MXNetError as e:
        raise CheckpointError('%s is missing or not an MXNet parameter file (%s)'
                              % (path, mxnet_reason(e))) from None
    if not isinstance(saved, dict):
        raise CheckpointError('%s holds no named parameters' % path)
    return saved


def mxnet_reason(error):
    """The line of an MXNetError that says what went wrong (its text starts with a C++
    traceback header)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    said = [line for line in lines if line.startswith('MXNetError:')]
    reason = said[-1][len('MXNetError:'):].strip() if said else (lines[-1] if lines else '')
    return reason[:200] or 'unreadable'


def load_fixed_noise(checkpoint):
    path = os.path.join(checkpoint, FIXED_NOISE)
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise CheckpointError('%s cannot be read (%s)' % (path, e)) from None


def load_params(path):
    """A .params file as (arg_params, aux_params) dicts of NDArrays."""
    arg_params, aux_params = {}, {}
    for key, value in load_arrays(path).items():
        kind, _, name = key.partition(':')
        {'arg': arg_params, 'aux': aux_params}.get(kind, {})[name] = value
    return arg_params, aux_params


def load_checked_params(path, expected):
    """load_params, refusing (CheckpointError) a file whose arrays are not those of `expected`
    ({name: shape}, arguments and auxiliary states together): the one shape check of every
    parameter file this project reads."""
    arg_params, aux_params = load_params(path)
    params = dict(arg_params, **aux_params)
    missing = sorted(set(expected) - set(params))
    if missing:
        more = ' and %d more' % (len(missing) - 3) if len(missing) > 3 else ''
        raise CheckpointError('%s lacks %s%s: not parameters of this network'
                              % (path, ', '.join(missing[:3]), more))
    for name, shape in expected.items():
        if tuple(params[name].shape) != tuple(shape):
            raise CheckpointError('%s: %s has shape %s, this network needs %s'
                                  % (path, name, tuple(params[name].shape), tuple(shape)))
    return arg_params, aux_params


def module_param_shapes(module):
    """{name: shape} of every parameter and auxiliary state a bound Module holds."""
    arg_params, aux_params = module.get_params()
    return {name: array.shape for name, array in list(arg_params.items()) +
            list(aux_params.items())}


def restore_modules(checkpoint, modules):
    """Load parameters and optimizer states of a checkpoint into bound, initialised modules."""
    for name, module in modules.items():
        arg_params, aux_params = load_checked_params(
            os.path.join(checkpoint, name + '.params'), module_param_shapes(module))
        module.set_params(arg_params, aux_params)
        restore_optimizer(module, checkpoint, name)
