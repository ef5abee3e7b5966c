"""Bad input of every kind, generated with Hypothesis: every flag of every command, and every
field and file of a checkpoint someone hands you, edited and re-signed as the program signs.

Each case is either refused in one line (an `error:` line or argparse's, a non-zero exit, no
traceback: only SystemExit leaves a command) with the checkpoint it was given untouched, or,
where the schema calls it harmless, accepted and done. A few of the cases once found by hand run
as real processes too, with a time limit (a hang fails them)."""
import contextlib
import io
import json
import math
import os
import re
import subprocess
import sys

import onnx
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

import dcgan_mnist
import launch
import sample
import score
import visualize
from dcgan import checkpoint, devices, onnx_model, run_setup, run_state
from dcgan.cli import SetupError
from dcgan.framework import mx
from dcgan.sampling import sampler_from_checkpoint
from helpers import REPO, headless_env, in_one_suite, run_program

# Deterministic (the same cases on every run and every Python), no example database in the
# repository, and no per-example deadline: a command's time is bounded by the process tests.
GENERATED = settings(derandomize=True, database=None, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture,
                                            HealthCheck.too_slow])


def generated(examples):
    return settings(GENERATED, max_examples=examples)


BATCH = 8
DONE = 2  # the iteration of the checkpoint every edit starts from


@pytest.fixture(scope='module')
def original(data_dir, tmp_path_factory):
    """The checkpoint of a real two-iteration run that keeps an average (so that every file a
    checkpoint can hold is there)."""
    run = str(tmp_path_factory.mktemp('original') / 'run')
    result = run_program('--data-dir', data_dir, '--batch-size', str(BATCH), '--no-show',
                         '--seed', '3', '--max-iters', str(DONE), '--average-generator',
                         '--output-dir', run)
    assert result.returncode == 0, result.stderr
    folder = checkpoint.checkpoint_dir(run, DONE)
    with open(os.path.join(folder, checkpoint.STATE)) as f:
        state = json.load(f)
    before = snapshot(folder)
    yield folder, state
    assert snapshot(folder, list(before)) == before, 'a reader changed the checkpoint it was given'


def snapshot(folder, names=None):
    """What a write would change: every file's inode, size and modification time (of `names`,
    by default all there are: score.py may add its score-nN.json beside them)."""
    names = sorted(os.listdir(folder)) if names is None else names
    return {name: (info.st_ino, info.st_size, info.st_mtime_ns) for name, info in
            ((name, os.lstat(os.path.join(folder, name))) for name in names)}


def linked_copy(original, target):
    """A run folder whose checkpoint's files are hard links to the original's (edits replace a
    file, never write into it), and that checkpoint's folder."""
    folder = checkpoint.checkpoint_dir(str(target), DONE)
    os.makedirs(folder)
    for name in os.listdir(original):
        os.link(os.path.join(original, name), os.path.join(folder, name))
    return str(target), folder


def write_state(folder, state):
    """state.json replaced by `state`, signed as the program signs it."""
    state['state_sha256'] = checkpoint.state_digest(state)
    path = os.path.join(folder, checkpoint.STATE)
    os.remove(path)
    with open(path, 'w') as f:
        json.dump(state, f)


def one_line_refusal(stderr):
    lines = stderr.strip().splitlines()
    return len(lines) == 1 and 'Traceback' not in stderr and (
        lines[0].startswith('error: ') or ': error: ' in lines[0])


def run_in_process(main, argv):
    """(exit code, stderr) of a command's main run here: only SystemExit may leave it."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(argv)
            code = 0
        except SystemExit as stop:
            code = stop.code
    if isinstance(code, str):  # sys.exit('error: ...') prints it as it ends the process
        err.write(code + '\n')
        code = 1
    event('%s: %s' % (getattr(main, '__module__', '?'), 'refused' if code else 'done'))
    return code, err.getvalue()


def done_or_refused_in_one_line(main, argv):
    """Run a command's main here; True when it was done, after checking a refusal's line."""
    code, stderr = run_in_process(main, argv)
    if code:
        assert one_line_refusal(stderr), stderr
    return not code


def readers(run, data_dir, tmp):
    """Every command that reads a checkpoint, as (name, main, argv) for run folder `run`."""
    return [('resume', dcgan_mnist.main, ['--resume', run, '--max-iters', str(DONE),
                                          '--data-dir', data_dir, '--no-show']),
            ('sample', sample.main, [run, '--num', '4', '--averaged', '--out',
                                     os.path.join(tmp, 'digits.png'), '--overwrite']),
            ('score', score.main, [run, '--num', '10', '--no-baselines', '--data-dir', data_dir,
                                   '--cache-dir', os.path.join(tmp, 'cache'),
                                   '--json', os.path.join(tmp, 'score.json')])]


# ============================== state.json, field by field ==============================

JSON_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 20), st.integers(-2 ** 80, 2 ** 80),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(run_state.SETTINGS['dtype'].words),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(),
                                                         max_size=2),
    st.just(run_state.MNIST_DATA),
    st.fixed_dictionaries({'kind': st.sampled_from(['folder', 'rec', 'mnist', 'other']),
                           'path': st.sampled_from(['/x', '', 3]),
                           'images': st.sampled_from([0, 52, 53, -1, 2 ** 40, '52']),
                           'fingerprint': st.sampled_from(['0' * 64, 'x' * 64, None])}))
FIELDS = sorted(run_state.RESUME_FIELDS + tuple(run_state.ADDED_SETTINGS) + (
    'average_updates', 'reason', 'mxnet_version', 'files', 'format', 'data'))
EDITS = st.one_of(
    st.tuples(st.just('replace'), st.sampled_from(FIELDS), JSON_VALUES),
    st.tuples(st.just('delete'), st.sampled_from(FIELDS), st.none()),
    st.tuples(st.just('add'), st.text(min_size=1, max_size=10), JSON_VALUES))


def apply(state, edits):
    edited = json.loads(json.dumps(state))
    for kind, name, value in edits:
        if kind == 'delete':
            edited.pop(name, None)
        else:
            edited[name] = value
    return edited


def whole(value, low=0, high=2 ** 31 - 1):
    return type(value) is int and low <= value <= high


def number(value):
    return type(value) in (int, float) and math.isfinite(value)


def a_state_this_program_could_write(state, original):
    """The test's own statement of a valid state.json, beside the one dcgan/run_state.py
    enforces: a run that continues from this checkpoint's files. Their arrays fix the batch,
    Z, whether there is an average, and the file list; the rest may be any run's."""
    fixed = ('batch_size', 'noise_dim', 'files', 'format')
    people = ('reason', 'mxnet_version')  # free text, or absent
    # dtype and data: absent from checkpoints older than them (float32, MNIST), else as below
    needed = set(original) - set(people) - {'state_sha256', 'dtype', 'data'}
    if not needed <= set(state) or any(state[key] != original[key] or
                                       type(state[key]) is not type(original[key])
                                       for key in fixed):
        return False
    if (state['average_decay'] is None) != (original['average_decay'] is None):
        return False
    if not all(isinstance(state.get(key, ''), str) and len(state.get(key, '')) <= 200
               for key in people):
        return False
    s = state
    counters_ok = (whole(s['global_iteration']) and whole(s['epoch']) and
                   whole(s['iterations_per_epoch'], 1) and whole(s['num_images'], 1, 10 ** 12)
                   and whole(s['devices'], 1, 1024) and whole(s['workers'], 1, 1024) and
                   s['data_seed'] == 1 and type(s['data_seed']) is int)
    settings_ok = (whole(s['seed'], 0, 2 ** 32 - 1) and number(s['lr']) and s['lr'] > 0 and
                   number(s['init_sigma']) and s['init_sigma'] > 0 and number(s['beta1']) and
                   0 <= s['beta1'] < 1 and (s['average_decay'] is None or (
                       number(s['average_decay']) and 0 <= s['average_decay'] < 1)) and
                   s.get('dtype', 'float32') in ('float32', 'bfloat16'))
    data = s.get('data', {'kind': 'mnist'})
    data_ok = data == {'kind': 'mnist'} or (
        isinstance(data, dict) and sorted(data) == ['fingerprint', 'images', 'kind', 'path']
        and data['kind'] in ('folder', 'rec') and isinstance(data['path'], str)
        and data['path'] and isinstance(data['fingerprint'], str)
        and re.fullmatch('[0-9a-f]{64}', data['fingerprint']) is not None
        and whole(data['images'], s['workers']) and data['images'] // s['workers'] ==
        s['num_images'])
    if not (counters_ok and settings_ok and data_ok):
        return False
    return (s['iterations_per_epoch'] == -(-s['num_images'] // s['batch_size']) and
            s['num_images'] >= s['batch_size'] and s['batch_size'] % s['devices'] == 0 and
            s['epoch'] == s['global_iteration'] // s['iterations_per_epoch'] and
            (s['average_decay'] is None or s.get('average_updates') == s['global_iteration']))


def open_as_a_reader(folder):
    """What every reader does with a checkpoint before its own work: open it with the schema
    (the fixed noise included), and load both generators."""
    found, state = run_state.open_checkpoint(folder, str)
    for averaged in (False, True):
        sampler_from_checkpoint(found, state, mx.cpu(), averaged)


@in_one_suite('gpu-box')  # files' checks: the same on every Python
@generated(150)
@given(edits=st.lists(EDITS, min_size=1, max_size=3))
def test_every_field_of_state_json_edited_and_re_signed(original, tmp_path_factory, edits):
    """Any edit of state.json, re-signed: refused in one line naming the problem, or accepted
    only when the state is still one this program could have written."""
    folder, state = original
    _, copy = linked_copy(folder, tmp_path_factory.mktemp('edit') / 'run')
    edited = apply(state, edits)
    write_state(copy, dict(edited))
    try:
        open_as_a_reader(copy)
    except checkpoint.CheckpointError as refused:
        assert '\n' not in str(refused)
        event('refused')
        return
    event('accepted')
    assert a_state_this_program_could_write(edited, state), edits


@in_one_suite('gpu-box')  # files' checks: the same on every Python
@generated(10)
@given(edit=EDITS)
def test_every_reader_refuses_an_edited_state_in_one_line(original, data_dir, tmp_path_factory,
                                                          edit):
    """The same edits through --resume, sample.py and score.py, whole: one line and exit 1, or
    (a valid state) done."""
    folder, state = original
    tmp = tmp_path_factory.mktemp('reader')
    run, copy = linked_copy(folder, tmp / 'run')
    edited = apply(state, [edit])
    write_state(copy, dict(edited))
    before = snapshot(copy)
    for command, main, argv in readers(run, data_dir, str(tmp)):
        code, stderr = run_in_process(main, argv)
        if code:
            assert one_line_refusal(stderr), (command, stderr)
        else:
            assert a_state_this_program_could_write(edited, state), (command, edit)
    assert snapshot(copy, list(before)) == before


# ============================== the files, and the list of them ==============================

FILE_EDITS = st.one_of(
    st.tuples(st.just('truncate'), st.integers(0, 4096)),
    st.tuples(st.just('random bytes'), st.binary(max_size=256)),
    st.tuples(st.just('grow'), st.integers(2 << 20, 4 << 20)),  # past any file's limit
    st.tuples(st.just('link to /dev/zero'), st.none()),
    st.tuples(st.just('link to another file'), st.none()),
    st.tuples(st.just('pipe'), st.none()),
    st.tuples(st.just('folder'), st.none()),
    st.tuples(st.just('swap'), st.none()),
    st.tuples(st.just('remove'), st.none()))
LIST_EDITS = st.one_of(
    st.tuples(st.just('unlist'), st.none()),
    st.tuples(st.just('list'), st.one_of(
        st.sampled_from(['/dev/zero', '../../../../etc/hostname', 'a/b', '.', '..', '',
                         'state.json', 'generator.optimizer', 'notes.txt']),
        st.text(max_size=12))),
    st.tuples(st.just('not a table'), JSON_VALUES))


# Edits that no reader gets past, and a file larger than its limit: checkpoint.py opens only
# regular files within their size limits, before any reader reads one. The other edits spoil a
# file's content: refused by the readers that read it; the others have no use for it
# (sample.py and score.py read only the generators, and the fixed noise, which every reader
# checks) and draw the same digits.
REFUSED_BY_ALL = ('link to /dev/zero', 'link to another file', 'pipe', 'folder', 'remove')
GENERATORS = {'generator.params', 'generator_average.params', 'fixed_noise.npy'}
READS = {'resume': None, 'sample': GENERATORS, 'score': GENERATORS}  # None: every file


def other_file(files, name):
    return sorted(set(files) - {name})[0]


def edit_file(folder, name, files, edit):
    """Apply a file edit to `name` (a file the checkpoint lists)."""
    kind, value = edit
    path = os.path.join(folder, name)
    other = other_file(files, name)
    content = open(path, 'rb').read()
    os.remove(path)  # a hard link to the original: never write into it
    if kind == 'truncate':
        content = content[:value]
    elif kind == 'random bytes':
        content = value
    elif kind == 'grow':
        content += b'\0' * value
    elif kind == 'link to /dev/zero':
        os.symlink('/dev/zero', path)
    elif kind == 'link to another file':
        os.symlink(os.path.join(folder, other), path)
    elif kind == 'pipe':
        os.mkfifo(path)
    elif kind == 'folder':
        os.mkdir(path)
    elif kind == 'swap':
        os.rename(os.path.join(folder, other), os.path.join(folder, 'swapping'))
        with open(os.path.join(folder, other), 'wb') as f:
            f.write(content)
        os.rename(os.path.join(folder, 'swapping'), path)
    if kind in ('truncate', 'random bytes', 'grow'):
        with open(path, 'wb') as f:
            f.write(content)


def signature(folder, name):
    path = os.path.join(folder, name)
    if os.path.isfile(path) and not os.path.islink(path):
        return checkpoint.sha256_of(path)
    return '0' * 64  # what someone who made a link or a pipe there would have to write


@in_one_suite('gpu-box')  # files' checks: the same on every Python
@generated(20)
@given(edit=st.one_of(st.tuples(st.just('file'), st.integers(0, 7), FILE_EDITS),
                      st.tuples(st.just('list'), st.integers(0, 7), LIST_EDITS)))
def test_every_file_and_the_file_list_edited_and_re_signed(original, data_dir, tmp_path_factory,
                                                           edit):
    """A file truncated, replaced, grown, linked (to /dev/zero: a read without end), made a pipe
    (a read that never starts) or a folder, swapped, removed; the list shortened, lengthened with
    names inside and outside the folder, or not a table: every reader refuses in one line, in
    bounded time, and reads nothing outside the checkpoint."""
    folder, state = original
    tmp = tmp_path_factory.mktemp('files')
    run, copy = linked_copy(folder, tmp / 'run')
    edited = json.loads(json.dumps(state))
    files = edited['files']
    target, (kind, value) = sorted(files)[edit[1]], edit[2]
    if edit[0] == 'file':
        edit_file(copy, target, files, (kind, value))
        for name in files:
            files[name] = signature(copy, name)
    elif kind == 'unlist':
        del files[target]
    elif kind == 'list':
        files[value] = '0' * 64
    else:
        edited['files'] = value
    write_state(copy, dict(edited))
    if edit[0] == 'file':
        touched = {target} | ({other_file(state['files'], target)} if kind == 'swap' else set())
        touched = {name for name in touched if files[name] != state['files'][name]}
        limits = run_state.checkpoint_files(state, state['devices'])
        too_large = any(os.path.isfile(os.path.join(copy, name)) and
                        os.path.getsize(os.path.join(copy, name)) > limits[name]
                        for name in files)
    for command, main, argv in readers(run, data_dir, str(tmp)):
        code, stderr = run_in_process(main, argv)
        reads = READS[command] or set(state['files'])
        if edit[0] == 'list':
            refused = edited != state
        else:
            refused = kind in REFUSED_BY_ALL or too_large or bool(touched & reads)
        assert bool(code) == refused, (command, edit, stderr)
        if code:
            assert one_line_refusal(stderr), (command, edit, stderr)


OPTIMIZER_PATHS = [('class',), ('num_update',), ('settings', 'lr'), ('settings', 'beta1'),
                   ('settings', 'rescale_grad'), ('layout',), ('layout', 0), ('layout', 0, 0),
                   ('layout', 0, 2), ('update_counts',), ('update_counts', '0'),
                   ('update_counts', '0', 0, 1)]


@in_one_suite('gpu-box')  # files' checks: the same on every Python
@generated(12)
@given(edit=st.tuples(st.sampled_from(['generator', 'discriminator']),
                      st.sampled_from(OPTIMIZER_PATHS), JSON_VALUES))
def test_every_field_of_an_optimizer_record_edited_and_re_signed(original, data_dir,
                                                                 tmp_path_factory, edit):
    """An optimizer record (NAME.optimizer.json) with any value put anywhere, re-signed: a
    resume refuses it in one line (no shape error from inside MXNet at the first update),
    unless the value was the one already there."""
    folder, state = original
    tmp = tmp_path_factory.mktemp('optimizer')
    run, copy = linked_copy(folder, tmp / 'run')
    network, path, value = edit
    name = network + '.optimizer.json'
    with open(os.path.join(copy, name)) as f:
        record = json.load(f)
    inner = record
    for key in path[:-1]:
        inner = inner[key]
    unchanged = inner[path[-1]] == value and type(inner[path[-1]]) is type(value)
    inner[path[-1]] = value
    os.remove(os.path.join(copy, name))
    with open(os.path.join(copy, name), 'w') as f:
        json.dump(record, f)
    edited = json.loads(json.dumps(state))
    edited['files'][name] = checkpoint.sha256_of(os.path.join(copy, name))
    write_state(copy, edited)
    command, main, argv = readers(run, data_dir, str(tmp))[0]
    code, stderr = run_in_process(main, argv)
    assert bool(code) != unchanged, (edit, stderr)
    if code:
        assert one_line_refusal(stderr), (edit, stderr)


# ============================== every flag of every command ==============================

FLAG_VALUES = st.one_of(
    st.integers(-5, 70).map(str), st.integers(-2 ** 80, 2 ** 80).map(str),
    st.sampled_from(['nan', 'inf', '-inf', '1e400', '0.5', '0', '', ' ', '-', '--x']),
    st.floats(allow_nan=False).map(repr), st.text(max_size=8))
TRAINING_FLAGS = ['--epochs', '--max-iters', '--checkpoint-every', '--keep-checkpoints',
                  '--stall-timeout', '--vis-every', '--score-every', '--score-samples', '--seed',
                  '--batch-size', '--lr', '--beta1', '--init-sigma', '--average-generator',
                  '--noise-dim', '--context', '--gpus', '--kvstore']


@generated(300)
@given(flags=st.lists(st.tuples(st.sampled_from(TRAINING_FLAGS), FLAG_VALUES), min_size=1,
                      max_size=3))
def test_every_flag_of_the_program(flags, data_dir, tmp_path_factory, capsys):
    """Generated values of every flag of dcgan_mnist.py: refused in one line (exit 2 for a
    flag, 1 for what the run would need), or accepted with a value the run can meet; checked
    before any work (the checks training runs before it loads the data)."""
    argv = ['--data-dir', data_dir, '--output-dir',
            str(tmp_path_factory.mktemp('flags') / 'run')]
    for flag, value in flags:
        argv += [flag, value]
    try:
        args = dcgan_mnist.parse_args(argv)
    except SystemExit as stop:
        assert stop.code == 2 and one_line_refusal(capsys.readouterr().err)
        event('refused as a flag')
        return
    try:
        run_setup.create_kvstore(args)
        args, _, _ = run_setup.open_run(args, dcgan_mnist.TUTORIAL_SETTINGS)
        ctx, _ = run_setup.pick_devices(args)
        run_setup.check_resources(args, ctx[0] if isinstance(ctx, list) else ctx, False)
    except (SetupError, devices.ContextError) as refused:
        assert '\n' not in str(refused)
        event('refused by what the run needs')
        return
    event('accepted')
    assert 0 <= args.seed < 2 ** 32 and args.batch_size >= 1 and args.noise_dim >= 1
    assert run_state.training_memory(args.batch_size, args.noise_dim) < 1e12
    assert all(math.isfinite(x) and x > 0 for x in (args.lr, args.init_sigma, args.stall_timeout))
    assert 0 <= args.beta1 < 1 and (args.average_decay is None or 0 <= args.average_decay < 1)
    assert args.score_samples >= 10


SAMPLE_FLAGS = ['--num', '--seed', '--out', '--npy', '--columns', '--context', '--export']
PATHS = st.sampled_from(['/nonexistent/x.png', '/proc/x.png', '/', '.', '/dev/null/x',
                         'digits.png'])


@generated(25)
@given(flags=st.lists(st.tuples(st.sampled_from(SAMPLE_FLAGS), st.one_of(FLAG_VALUES, PATHS)),
                      min_size=1, max_size=2))
def test_every_flag_of_sample_py(original, tmp_path_factory, flags, monkeypatch):
    """Generated values of every flag of sample.py, with a good checkpoint: refused in one line
    before any digit is drawn, or the digits written."""
    folder, _ = original
    tmp = tmp_path_factory.mktemp('sample')
    monkeypatch.chdir(tmp)
    argv = [folder]
    for flag, value in flags:
        if flag == '--num' and value.lstrip('-').isdigit() and 64 < int(value) < 10 ** 7:
            value = '64'  # accepted sizes are drawn small: the test is of refusals
        argv += [flag, value]
    if done_or_refused_in_one_line(sample.main, argv):
        args = sample.parse_args(argv)
        assert os.path.isfile(args.export or args.out) and 0 <= args.seed < 2 ** 32


# ============================== an exported model ==============================

@pytest.fixture(scope='module')
def exported(original, tmp_path_factory):
    folder, _ = original
    path = str(tmp_path_factory.mktemp('exported') / 'generator.onnx')
    sample.main([folder, '--export', path])
    return path


# Byte edits fall mostly near the start, where the graph and its shapes are (the weights fill
# the rest); metadata edits are re-saved as a valid model, so only the reader's checks stand.
MODEL_EDITS = st.one_of(
    st.tuples(st.just('truncate'), st.floats(0, 1), st.none()),
    st.tuples(st.just('bytes'), st.floats(0, 1), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just('metadata'), st.sampled_from(sorted(onnx_model.METADATA)
                                                   + sorted(onnx_model.OPTIONAL_METADATA)),
              st.one_of(st.text(max_size=12), st.integers(-2, 2 ** 70).map(str),
                        st.from_regex(r'\d{1,3}:[0-9.]{1,20}', fullmatch=True))))


@in_one_suite('gpu-box')  # files' checks: the same on every Python
@generated(15)
@given(edit=MODEL_EDITS)
def test_an_exported_model_edited(exported, tmp_path_factory, edit):
    """sample.py given an edited export: refused in one line, or digits drawn."""
    kind, where, value = edit
    path = str(tmp_path_factory.mktemp('model') / 'generator.onnx')
    with open(exported, 'rb') as f:
        data = bytearray(f.read())
    if kind == 'metadata':
        model = onnx.load_from_string(bytes(data))
        onnx.helper.set_model_props(model, dict(
            {p.key: p.value for p in model.metadata_props}, **{where: value}))
        data = model.SerializeToString()
    else:
        offset = int(where ** 4 * (len(data) - 1))
        data = data[:offset] if kind == 'truncate' else (
            data[:offset] + value + data[offset + len(value):])
    with open(path, 'wb') as f:
        f.write(data)
    out = path + '.png'
    if done_or_refused_in_one_line(sample.main, [path, '--num', '3', '--out', out]):
        assert visualize.read_grid(out).shape == (64, sample.GRID_COLUMNS * 64, 3)


SCORE_FLAGS = ['--num', '--seed', '--json', '--context']


@generated(30)
@given(flags=st.lists(st.tuples(st.sampled_from(SCORE_FLAGS),
                                st.one_of(FLAG_VALUES, PATHS, st.integers(8, 14).map(str))),
                      min_size=1, max_size=2))
def test_every_flag_of_score_py(original, data_dir, tmp_path_factory, flags, monkeypatch):
    """Generated values of every flag of score.py: refused in one line before scoring, or
    scored."""
    folder, _ = original
    tmp = tmp_path_factory.mktemp('score')
    monkeypatch.chdir(tmp)
    argv = [folder, '--no-baselines', '--data-dir', data_dir, '--cache-dir', str(tmp / 'cache'),
            '--json', str(tmp / 'score.json'), '--num', '10']  # the flags below come after
    for flag, value in flags:
        argv += [flag, value]
    if done_or_refused_in_one_line(score.main, argv):
        args = score.parse_args(argv)
        assert os.path.isfile(args.json) and 10 <= args.num <= 12


LAUNCH_VALUES = st.one_of(FLAG_VALUES, st.sampled_from(['local', 'ssh', 'mpi', 'yarn']))


@generated(300)
@given(flags=st.lists(st.tuples(st.sampled_from(['-n', '-s', '--launcher', '-H']),
                                LAUNCH_VALUES), max_size=4),
       command=st.booleans())
def test_every_flag_of_launch_py(flags, command, capsys):
    """Generated flags of launch.py: refused in one line with exit 2, or accepted with workers
    and servers the job can have and a launcher that is mended here."""
    argv = [word for pair in flags for word in pair]
    argv += ['python', 'dcgan_mnist.py'] if command else []
    try:
        workers, kind, _, _, _ = launch.parse_own_flags(argv)
    except SystemExit as stop:
        assert stop.code == 2 and one_line_refusal(capsys.readouterr().err)
        event('refused')
        return
    event('accepted')
    assert 1 <= workers <= 1024 and kind in ('local', 'ssh') and command


# ============================== as real processes, with a time limit ==============================

def run_command(command, *args, cwd, timeout=120):
    return subprocess.run([sys.executable, os.path.join(REPO, command)] + list(args), cwd=cwd,
                          capture_output=True, text=True, env=headless_env(), timeout=timeout)


@pytest.mark.parametrize('command, args, words', [
    ('dcgan_mnist.py', ['--seed', '-1'], "argument --seed: '-1' must be at least 0"),
    ('dcgan_mnist.py', ['--seed', '99999999999999999999'], 'must be at most 4294967295'),
    ('dcgan_mnist.py', ['--noise-dim', '1000000'], "'1000000' must be at most 131071"),
    ('dcgan_mnist.py', ['--batch-size', '100000', '--context', 'cpu'],
     'training with --batch-size 100000 and --noise-dim 100 needs about'),
    ('sample.py', ['RUN', '--num', '100000000'], '--num 100000000 in --columns 10 needs about'),
    ('sample.py', ['RUN', '--seed', '-1'], "argument --seed: '-1' must be at least 0"),
    ('sample.py', ['RUN', '--out', '/nonexistent/x.png'], 'the folder /nonexistent does not'),
    ('score.py', ['RUN', '--num', '3'], "argument --num: '3' must be at least 10"),
    ('score.py', ['RUN', '--json', '/nonexistent/x.json'], 'the folder /nonexistent does not'),
    ('launch.py', ['-n', '0', '--launcher', 'local', 'python', 'x'], "'0' must be at least 1"),
    ('launch.py', ['-n', '2', '-s', '0', '--launcher', 'local', 'python', 'x'], "'0' must be"),
    ('launch.py', ['-n', '2', 'python', 'x'], '--launcher ssh needs -H FILE'),
])
def test_the_cases_found_by_hand_as_real_processes(original, command, args, words, tmp_path):
    folder, _ = original
    done = run_command(command, *[folder if arg == 'RUN' else arg for arg in args],
                       cwd=str(tmp_path))
    assert done.returncode in (1, 2) and one_line_refusal(done.stderr), done.stderr
    assert words in done.stderr


@in_one_suite('gpu-box')  # files' checks: the same on every Python
@pytest.mark.parametrize('edit', ['generator.params is a link to /dev/zero',
                                  'the list names /dev/zero'])
def test_a_checkpoint_that_would_read_for_ever_is_refused_at_once(original, data_dir,
                                                                   tmp_path, edit):
    folder, state = original
    run, copy = linked_copy(folder, tmp_path / 'run')
    edited = json.loads(json.dumps(state))
    if edit.startswith('generator'):
        os.remove(os.path.join(copy, 'generator.params'))
        os.symlink('/dev/zero', os.path.join(copy, 'generator.params'))
    else:
        edited['files']['/dev/zero'] = '0' * 64
    write_state(copy, edited)
    for command in (['dcgan_mnist.py', '--resume', run, '--data-dir', data_dir],
                    ['sample.py', run, '--out', str(tmp_path / 'x.png')],
                    ['score.py', run, '--data-dir', data_dir]):
        done = run_command(*command, cwd=str(tmp_path), timeout=60)
        assert done.returncode == 1 and one_line_refusal(done.stderr), done.stderr


# ============================== messages that name the real problem ==============================

def test_a_run_s_checkpoints_folder_is_taken_for_the_run(original, tmp_path):
    folder, _ = original
    done = run_command('sample.py', os.path.dirname(folder), '--num', '4', '--out', 'd.png',
                       cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert 'Wrote 4 digits from %s to d.png' % folder in done.stdout


@pytest.mark.parametrize('args, words', [
    (['picture.png'], 'error: picture.png is a file but not an exported model (.onnx): '
                      'sample.py draws from a run folder, a checkpoint folder, or a generator '
                      'exported with --export'),
    (['RUN', '--out', 'd.gif'], 'error: --out d.gif: the file is written as .png or .jpg or '
                                '.jpeg or .pdf; name it so'),
    (['RUN', '--npy', 'd.png'], 'error: --npy d.png: the file is written as .npy; name it so'),
    (['RUN', '--export', 'g.png'], 'error: --export g.png: the file is written as .onnx; '
                                   'name it so'),
])
def test_sample_py_names_what_it_takes(original, tmp_path, args, words):
    folder, _ = original
    (tmp_path / 'picture.png').write_bytes(b'\x89PNG\r\n\x1a\n')
    done = run_command('sample.py', *[folder if arg == 'RUN' else arg for arg in args],
                       cwd=str(tmp_path))
    assert (done.returncode, done.stderr) == (1, words + '\n')
    assert sorted(os.listdir(tmp_path)) == ['picture.png']


@pytest.mark.parametrize('extension, magic', [('.jpg', b'\xff\xd8\xff'), ('.pdf', b'%PDF'),
                                              ('.png', b'\x89PNG')])
def test_the_grid_is_written_as_its_extension_says(original, tmp_path, extension, magic):
    folder, _ = original
    sample.main([folder, '--num', '4', '--out', str(tmp_path / ('d' + extension))])
    assert (tmp_path / ('d' + extension)).read_bytes().startswith(magic)
    assert sorted(os.listdir(tmp_path)) == ['d' + extension]


@pytest.fixture
def read_only_folder(tmp_path):
    """A read-only file system (a tmpfs mounted ro: root can write anywhere else)."""
    folder = tmp_path / 'ro'
    folder.mkdir()
    done = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip('cannot mount a read-only tmpfs here (%s)' % done.stderr.strip())
    yield str(folder)
    subprocess.run(['umount', '-l', str(folder)], check=False)


def test_a_read_only_output_dir_is_named_as_given(read_only_folder, data_dir):
    done = run_program('--data-dir', data_dir, '--output-dir', read_only_folder, '--max-iters',
                       '1', '--batch-size', '8')
    assert (done.returncode, done.stderr) == (
        1, 'error: --output-dir %s: cannot write in it (Read-only file system)\n'
        % read_only_folder)


def undescribed_flags(help_text):
    """The options of a --help text that have no words after them."""
    lines = help_text.splitlines()
    missing = []
    for at, line in enumerate(lines):
        words = line.split()
        if not line.startswith('  -') or line.startswith('   '):
            continue
        described = len(line) > 24 and line[24:].strip() and line[23] == ' '
        follows = at + 1 < len(lines) and lines[at + 1].startswith(' ' * 24)
        if not (described or follows):
            missing.append(words[0])
    return missing


@pytest.mark.parametrize('command', ['dcgan_mnist.py', 'sample.py', 'score.py', 'launch.py'])
def test_every_flag_is_described_in_help(command, tmp_path):
    done = run_command(command, '--help', cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert '--context' in done.stdout or command == 'launch.py'
    assert undescribed_flags(done.stdout) == []
