"""Looking inside a generator (dcgan/latent.py, sample.py --walk, --arithmetic, --numbered):
the walk's geometry, the expression's refusals, the pictures written, and both routes, MXNet's
checkpoint and its ONNX export, drawing the same images."""
import os
import subprocess
import sys

import numpy as np
import pytest

import visualize
from dcgan import latent
from dcgan.onnx_export import TOLERANCE
from helpers import REPO, headless_env, in_one_suite


def test_a_walk_keeps_to_the_sphere_and_passes_through_its_points():
    noise = latent.walk_noise(4, seed=3, noise_dim=100, steps=7)
    anchors = np.random.RandomState(3).standard_normal((4, 100)).astype(np.float32)
    assert noise.shape == (3, 7, 100) and noise.dtype == np.float32
    for k in range(3):
        np.testing.assert_allclose(noise[k, 0], anchors[k], atol=1e-5)
        np.testing.assert_allclose(noise[k, -1], anchors[k + 1], atol=1e-5)
        norms = np.linalg.norm(noise[k], axis=1)
        ends = np.linalg.norm(anchors[k:k + 2], axis=1)
        assert norms.min() >= ends.min() - 1e-3 and norms.max() <= ends.max() + 1e-3
    middle = (anchors[0] + anchors[1]) / 2  # a straight line would sag well inside
    assert np.linalg.norm(middle) < 0.85 * np.linalg.norm(noise[0, 3])


@pytest.mark.parametrize('text, words', [
    ('0,1,2', 'give at least two groups'),
    ('0,1,2 - 3,x,5', "'3,x,5' is not a group of cell numbers"),
    ('0,1,2 - - 3', "'' is not a group"),
    ('0,1,2 - 3,4,99', 'cell 99 is outside the grid of 16 (0 to 15)'),
])
def test_a_bad_expression_is_refused_saying_why(text, words):
    with pytest.raises(latent.ExpressionError, match=words.replace('(', r'\(').replace(')', r'\)')):
        latent.parse_expression(text, 16)


def test_an_expression_is_groups_with_signs():
    assert latent.parse_expression(' 0,1,2 - 3, 4 ,5 + 6,7,8 ', 16) == [
        (1, [0, 1, 2]), (-1, [3, 4, 5]), (1, [6, 7, 8])]


def test_arithmetic_averages_and_adds_in_the_noise():
    grid = np.random.RandomState(0).standard_normal((9, 5))
    groups = latent.parse_expression('0,1,2 - 3,4,5 + 6,7,8', 9)
    averages, y, neighbours = latent.arithmetic_noise(groups, grid, seed=0)
    np.testing.assert_allclose(averages[1], grid[3:6].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(y, averages[0] - averages[1] + averages[2], rtol=1e-5)
    assert neighbours.shape == (8, 5)
    assert np.abs(neighbours - y).max() <= latent.NEIGHBOUR_SPREAD + 1e-6


def draw(source, *flags, cwd):
    done = subprocess.run([sys.executable, os.path.join(REPO, 'sample.py'), source, *flags],
                          cwd=str(cwd), capture_output=True, text=True, env=headless_env(),
                          timeout=300)
    return done


@in_one_suite()  # MXNet's and onnxruntime's arithmetic, the same on every Python
@pytest.mark.parametrize('flags', [['--walk', '3', '--steps', '5'],
                                   ['--num', '16', '--arithmetic', '0,1,2 - 3,4,5 + 6,7,8']])
def test_both_routes_draw_the_same_pictures(small_export, tmp_path, flags):
    run, model = small_export
    for name, source in (('mxnet', run), ('onnx', model)):
        done = draw(source, *flags, '--out', name + '.png', '--npy', name + '.npy',
                    cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    mxnet, onnx = (np.load(str(tmp_path / (name + '.npy'))) for name in ('mxnet', 'onnx'))
    assert mxnet.shape == ((10, 3, 64, 64) if '--walk' in flags else (13, 3, 64, 64))
    assert np.abs(mxnet - onnx).max() <= TOLERANCE
    png = visualize.read_grid(str(tmp_path / 'mxnet.png'))
    if '--walk' in flags:
        assert png.shape == (2 * 64, 5 * 64, 3)  # a row a segment
        assert (tmp_path / 'mxnet.gif').read_bytes().startswith(b'GIF89a')
        np.testing.assert_array_equal(png, visualize.batch_to_grid(mxnet, 5))
    else:
        assert png.shape[0] > 300 and png.shape[1] > 600  # the figure


@in_one_suite()  # a drawing's pixels: the same on every Python
def test_numbered_cells_carry_their_numbers_and_nothing_else_changes(small_export, tmp_path):
    run, _ = small_export
    for name, flags in (('plain', []), ('numbered', ['--numbered'])):
        assert draw(run, '--num', '12', '--columns', '4', '--out', name + '.png', *flags,
                    cwd=tmp_path).returncode == 0
    plain, numbered = (visualize.read_grid(str(tmp_path / (name + '.png')))
                       for name in ('plain', 'numbered'))
    differs = np.any(plain != numbered, axis=2)
    rows, columns = np.nonzero(differs)
    assert (rows % 64 <= visualize.NUMBER_HEIGHT).all() and (columns % 64 < 16).all()
    assert differs[64:64 + 12, 64:80].any()  # cell 5's number


@in_one_suite()  # sample.py's checks of a request; its flags on every Python: test_bad_input.py
@pytest.mark.parametrize('flags, words', [
    (['--walk', '1'], "argument --walk: '1' must be at least 2"),
    (['--walk', '3', '--arithmetic', '0 - 1'], 'error: --walk and --arithmetic: one at a time'),
    (['--arithmetic', '0,1 - 2,200'], 'error: --arithmetic \'0,1 - 2,200\': cell 200 is '
                                      'outside the grid of 100 (0 to 99)'),
    (['--arithmetic', '0,1 * 2 - 3'], "'0,1 * 2' is not a group of cell numbers"),
    (['--walk', '3', '--out', 'walk.jpg'], 'error: --out walk.jpg: the file is written as '
                                           '.png; name it so'),
    (['--web', 'page'], 'error: --web takes an exported model: python sample.py '),
])
def test_bad_requests_are_refused_in_one_line_with_nothing_written(small_export, tmp_path,
                                                                   flags, words):
    run, _ = small_export
    done = draw(run, *flags, cwd=tmp_path)
    assert done.returncode in (1, 2) and done.stderr.count('\n') == 1, done.stderr
    assert words in done.stderr
    assert os.listdir(str(tmp_path)) == []
