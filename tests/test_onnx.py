"""The generator outside MXNet: `sample.py RUN --export FILE.onnx` writes an ONNX model checked
against MXNet, and `sample.py FILE.onnx` draws the same digits with onnxruntime, importing no
MXNet. (Python 3.13 draws from an export in .ci/run, which has the packages to install.)"""
import json
import os
import stat
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import helper

import sample
import visualize
from dcgan import checkpoint, digit_request, lenet, onnx_export, run_state
from dcgan.framework import mx
from dcgan.onnx_model import OnnxGenerator
from dcgan.sampling import Sampler, sampler_from_checkpoint
from helpers import ON_CPU, REPO, headless_env, in_one_suite, run_program

pytestmark = in_one_suite('gpu-box')  # the export: .ci/run checks every Python's

BATCH = 8
DONE = 2


@pytest.fixture(scope='module')
def run(data_dir, tmp_path_factory):
    """A real two-iteration run that keeps an averaged generator."""
    out = str(tmp_path_factory.mktemp('onnx') / 'run')
    result = run_program('--data-dir', data_dir, '--batch-size', str(BATCH), '--seed', '4',
                         '--no-show', '--max-iters', str(DONE), '--average-generator',
                         '--output-dir', out)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope='module')
def exported(run, tmp_path_factory):
    path = str(tmp_path_factory.mktemp('export') / 'generator.onnx')
    sample.main([run, '--export', path, *ON_CPU])
    return path


def opened(run):
    return run_state.open_checkpoint(run, str)


def refusal(argv, capsys):
    """The one line sample.py ends with for `argv` (exit status 1)."""
    with pytest.raises(SystemExit) as ended:
        sample.main(argv)
    err = capsys.readouterr().err
    assert ended.value.code not in (0, None) and str(ended.value.code).startswith('error: ')
    assert '\n' not in str(ended.value.code) and 'Traceback' not in err
    return str(ended.value.code)


def test_the_export_carries_its_metadata_and_a_free_batch_axis(run, exported):
    found, state = opened(run)
    model = onnx.load(exported)
    properties = {p.key: p.value for p in model.metadata_props}
    labelled = properties.pop('dcgan.labelled_draws')
    assert properties == {
        'dcgan.noise_dim': '100', 'dcgan.batch_size': str(BATCH),
        'dcgan.output_layout': 'N,3,64,64', 'dcgan.output_range': '-1,1',
        'dcgan.normalisation': 'batch statistics', 'dcgan.generator': 'plain',
        'dcgan.iteration': str(DONE),
        'dcgan.params_sha256': checkpoint.sha256_of(os.path.join(found, 'generator.params'))}
    # The page's labelled draws: the classifier's labels of seed 0's first 512 digits, drawn
    # from the checkpoint as sample.py draws them.
    sampler = sampler_from_checkpoint(found, state, mx.cpu())
    classifier = lenet.load_classifier(lenet.SHIPPED, mx.cpu())
    labels = digit_request.label_draws(sampler.generate, classifier, BATCH, 100)
    assert len(labels) == digit_request.PAGE_DRAWS
    assert labelled == '0:' + ''.join('.' if k < 0 else str(k) for k in labels)

    def dims(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
    assert [(v.name, dims(v)) for v in model.graph.input] == [('rand', ['N', 100, 1, 1])]
    assert [dims(v) for v in model.graph.output] == [['N', 3, 64, 64]]
    # Batch statistics, not the moving averages: no BatchNormalization, no moving arrays.
    assert 'BatchNormalization' not in {node.op_type for node in model.graph.node}
    assert not [t.name for t in model.graph.initializer if 'moving' in t.name]
    assert [n.op_type for n in model.graph.node].count('ConvTranspose') == 5


def test_onnxruntime_gives_mxnet_s_images_for_any_batch(run, exported):
    """Batches of 1, the training batch and three times it: onnxruntime's images equal those
    of MXNet's training-mode BatchNorm within the export's tolerance; MXNet's inference mode
    (the moving averages, what the exporter alone would give) is far from them."""
    found, state = opened(run)
    trained = sampler_from_checkpoint(found, state, mx.cpu())
    params = (dict(trained.executor.arg_dict), dict(trained.executor.aux_dict))
    model = OnnxGenerator(exported)
    for size in (1, BATCH, 3 * BATCH):
        mxnet = Sampler(mx.cpu(), size, 100)
        mxnet.set_params(*params)
        noise = np.random.RandomState(size).standard_normal((size, 100, 1, 1)).astype('f4')
        images = model.generate(noise)
        assert images.shape == (size, 3, 64, 64)
        assert np.abs(images - mxnet.generate(noise)).max() <= onnx_export.TOLERANCE
        if size > 1:
            mxnet.executor.forward(is_train=False, rand=noise)
            moving = mxnet.executor.outputs[0].asnumpy()
            assert np.abs(images - moving).max() > 100 * onnx_export.TOLERANCE


def draw(source, tmp_path, name, *flags):
    png, npy = str(tmp_path / (name + '.png')), str(tmp_path / (name + '.npy'))
    sample.main([source, '--num', '20', '--seed', '7', '--out', png, '--npy', npy, *flags,
                 *ON_CPU])
    return visualize.read_grid(png), np.load(npy)


def test_a_seed_draws_the_same_digits_from_the_checkpoint_and_from_its_export(
        run, exported, tmp_path):
    grid, images = draw(run, tmp_path, 'mxnet')
    portable_grid, portable_images = draw(exported, tmp_path, 'onnx')
    assert images.shape == portable_images.shape == (20, 3, 64, 64)
    assert np.abs(images - portable_images).max() <= onnx_export.TOLERANCE
    # 20 digits in batches of 8 (the last filled up): drawn as sample.py draws them, so the
    # grids agree but for a grey level where a value sits on a rounding edge.
    assert grid.shape == portable_grid.shape
    assert np.abs(grid.astype(int) - portable_grid).max() <= 1


def test_the_averaged_generator_exports_and_draws_its_own_digits(run, exported, tmp_path):
    found, state = opened(run)
    path = str(tmp_path / 'average.onnx')
    sample.main([run, '--averaged', '--export', path, *ON_CPU])
    properties = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert properties['dcgan.generator'] == 'averaged'
    assert properties['dcgan.params_sha256'] == checkpoint.sha256_of(
        os.path.join(found, checkpoint.AVERAGE))
    _, averaged = draw(run, tmp_path, 'mxnet', '--averaged')
    _, portable = draw(path, tmp_path, 'onnx')
    _, plain = draw(exported, tmp_path, 'plain')
    assert np.abs(averaged - portable).max() <= onnx_export.TOLERANCE
    assert np.abs(averaged - plain).max() > 100 * onnx_export.TOLERANCE


def test_drawing_from_an_export_imports_neither_mxnet_nor_onnx(exported, tmp_path):
    """In a process where `import mxnet` and `import onnx` fail, sample.py still draws."""
    out = str(tmp_path / 'digits.png')
    code = ("import runpy, sys; sys.modules['mxnet'] = sys.modules['onnx'] = None; "
            "sys.argv = ['sample.py'] + sys.argv[1:]; "
            "runpy.run_path(%r, run_name='__main__')" % os.path.join(REPO, 'sample.py'))
    done = subprocess.run([sys.executable, '-c', code, exported, '--num', '12', '--out', out],
                          capture_output=True, text=True, env=headless_env(), timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith('Wrote 12 digits from %s (plain generator of iteration %d)'
                                  % (exported, DONE))
    assert visualize.read_grid(out).shape == (2 * 64, 10 * 64, 3)


def test_an_export_that_would_differ_from_mxnet_writes_nothing(run, tmp_path, capsys,
                                                               monkeypatch):
    """Left with the exporter's own BatchNormalization (the moving averages), the model fails
    the export's check: one line with the gap, and no file, not even a partial one."""
    monkeypatch.setattr(onnx_export, 'with_batch_statistics', lambda model: model)
    path = str(tmp_path / 'generator.onnx')
    line = refusal([run, '--export', path], capsys)
    assert line.startswith("error: the exported generator differs from MXNet's by ")
    assert line.endswith('(allowed: %g); nothing was written' % onnx_export.TOLERANCE)
    assert os.listdir(str(tmp_path)) == []


def test_an_existing_file_is_replaced_only_with_overwrite(run, exported, tmp_path, capsys):
    path = tmp_path / 'mine.onnx'
    path.write_bytes(b'a model of my own')
    assert refusal([run, '--export', str(path)], capsys) == (
        'error: %s exists; choose another name or pass --overwrite' % path)
    assert path.read_bytes() == b'a model of my own'
    sample.main([run, '--export', str(path), '--overwrite'])
    assert OnnxGenerator(str(path)).metadata['iteration'] == DONE
    assert sorted(os.listdir(str(tmp_path))) == ['mine.onnx']


def model_with(tmp_path, name, noise_shape, image_shape, properties):
    """A small valid ONNX model, `rand` of `noise_shape` through Identity to `gact5` declared
    `image_shape`, with the metadata `properties`."""
    noise = helper.make_tensor_value_info('rand', onnx.TensorProto.FLOAT, noise_shape)
    images = helper.make_tensor_value_info('gact5', onnx.TensorProto.FLOAT, image_shape)
    graph = helper.make_graph([helper.make_node('Identity', ['rand'], ['gact5'])], 'g',
                              [noise], [images])
    model = helper.make_model(graph)
    helper.set_model_props(model, properties)
    path = str(tmp_path / name)
    onnx.save(model, path)
    return path


def test_files_that_are_not_a_generator_are_refused_in_one_line(exported, tmp_path, capsys):
    good = {p.key: p.value for p in onnx.load(exported).metadata_props}
    junk = tmp_path / 'junk.onnx'
    junk.write_bytes(b'\x08\x07not a model')
    empty = tmp_path / 'empty.onnx'
    empty.write_bytes(b'')
    fifo = str(tmp_path / 'fifo.onnx')
    os.mkfifo(fifo)
    cases = [
        (str(junk), 'is not an ONNX model onnxruntime can run ('),
        (str(empty), 'is not an ONNX model onnxruntime can run ('),
        (fifo, 'fifo.onnx is not a regular file'),
        (model_with(tmp_path, 'bare.onnx', ['N', 100, 1, 1], ['N', 100, 1, 1], {}),
         'is not a generator exported by sample.py --export (its metadata has no '
         'dcgan.noise_dim)'),
        (model_with(tmp_path, 'noise.onnx', ['N', 7, 1, 1], ['N', 7, 1, 1], good),
         'takes tensor(float) (N, 7, 1, 1); its metadata says noise (N, 100, 1, 1) float'),
        (model_with(tmp_path, 'images.onnx', ['N', 100, 1, 1], ['N', 100, 1, 1], good),
         'gives tensor(float) (N, 100, 1, 1); its metadata says images (N, 3, 64, 64) float'),
        (model_with(tmp_path, 'batch.onnx', ['N', 100, 1, 1], ['N', 100, 1, 1],
                    dict(good, **{'dcgan.batch_size': '0'})),
         "metadata dcgan.batch_size: 0 must be at least 1"),
        (model_with(tmp_path, 'sha.onnx', ['N', 100, 1, 1], ['N', 100, 1, 1],
                    dict(good, **{'dcgan.params_sha256': 'abc'})),
         "metadata dcgan.params_sha256: 'abc' is not a SHA-256 in hex"),
        (model_with(tmp_path, 'grey.onnx', ['N', 100, 1, 1], ['N', 1, 64, 64],
                    dict(good, **{'dcgan.output_layout': 'N,1,64,64'})),
         'grey.onnx draws 1-channel images; the PNG grid needs 3 (RGB)'),
    ]
    for path, expected in cases:
        line = refusal([path, '--num', '4', '--out', str(tmp_path / 'x.png')], capsys)
        assert expected in line, (path, line)
    assert not os.path.exists(str(tmp_path / 'x.png'))
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_checkpoint_flags_are_refused_for_an_export(exported, tmp_path, capsys):
    for flags in (['--averaged'], ['--export', str(tmp_path / 'again.onnx')],
                  ['--context', 'gpu']):
        line = refusal([exported, *flags, '--out', str(tmp_path / 'x.png')], capsys)
        assert line == ('error: %s is an exported model: --export, --averaged and --context '
                        'gpu apply to checkpoints' % exported)
    assert os.listdir(str(tmp_path)) == []


def test_the_export_reads_the_checkpoint_only(run, tmp_path):
    """The run's folder is left as it was: nothing written beside the checkpoint."""
    found, _ = opened(run)
    before = sorted(os.listdir(found)), json.load(open(os.path.join(found, 'state.json')))
    sample.main([run, '--export', str(tmp_path / 'g.onnx')])
    assert (sorted(os.listdir(found)), json.load(open(os.path.join(found, 'state.json')))) \
        == before
