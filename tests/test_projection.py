"""Reaching into a generator (sample.py --project, --digit, --noise): projection finds the
noise of an image the generator drew itself, and does not when its gradient is turned
around; a digit on request is what the classifier calls it; bad requests end in one line."""
import os
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

import sample
from dcgan import digit_request, drawing, lenet, mnist, projection, targets
from dcgan.framework import mx
from helpers import ON_CPU, REPO, SHARED_MNIST, headless_env, in_one_suite

Z, BATCH = 8, 4


def tiny_generator(seed=0):
    """(symbol, weights) of a small generator of 3x4x4 images from Z numbers, whose images tell
    their noise apart: one deconvolution and tanh."""
    rand = mx.sym.Variable('rand')
    symbol = mx.sym.Activation(mx.sym.Deconvolution(rand, name='g', kernel=(4, 4),
                                                    num_filter=3, no_bias=True),
                               act_type='tanh')
    weights = np.random.RandomState(seed).normal(0, 0.3, (Z, 3, 4, 4)).astype(np.float32)
    return symbol, {'g_weight': mx.nd.array(weights)}


def drawn_by_itself():
    """(projector, noise on the sphere, the images the generator drew of it)."""
    symbol, weights = tiny_generator()
    projector = projection.Projector(symbol, weights, {}, mx.cpu(), BATCH, Z)
    noise = projection.on_sphere(np.random.RandomState(1).standard_normal((BATCH, Z)))
    return projector, noise, projector.generate(noise.reshape(BATCH, Z, 1, 1))


def test_projection_recovers_the_noise_of_an_image_the_generator_drew():
    projector, noise, images = drawn_by_itself()
    found, drawn, errors, frames = projector.project(images, seed=3, steps=200, starts=2)
    cosines = (found * noise).sum(axis=1) / (np.linalg.norm(found, axis=1)
                                             * np.linalg.norm(noise, axis=1))
    assert cosines.min() > 0.999, cosines
    assert errors.max() < 1e-5, errors
    np.testing.assert_allclose(drawn, images, atol=0.01)
    assert frames.shape[1:] == (BATCH,) + images.shape[1:] and len(frames) > 2


def test_projection_fails_with_the_gradient_turned_around(monkeypatch):
    projector, noise, images = drawn_by_itself()
    forward = projection.image_loss_gradient
    monkeypatch.setattr(projection, 'image_loss_gradient',
                        lambda images, targets: (forward(images, targets)[0],
                                                 -forward(images, targets)[1]))
    _, _, errors, _ = projector.project(images, seed=3, steps=200, starts=2)
    assert errors.min() > 0.01, errors


def test_a_short_batch_is_filled_and_only_the_targets_move():
    """One target alone: the batch filled with typical noise that stays as it was."""
    projector, noise, images = drawn_by_itself()
    found, _, errors, _ = projector.project(images[:1], seed=3, steps=200, starts=2)
    assert found.shape == (1, Z) and errors[0] < 1e-3
    assert np.linalg.norm(found[0]) == pytest.approx(np.sqrt(Z), rel=1e-5)


# ============================== targets ==============================

def write_png(path, image):
    assert cv2.imwrite(str(path), image)
    return str(path)


def test_targets_are_prepared_as_the_generator_draws(tmp_path):
    digit = np.zeros((28, 28), np.uint8)
    digit[8:20, 12:16] = 255
    small = write_png(tmp_path / 'digit.png', digit)
    images, names = targets.read_targets(small, 64, SHARED_MNIST)
    np.testing.assert_array_equal(images[0], mnist.prepare_chunk(digit[np.newaxis], 64)[0])
    colour = np.zeros((64, 64, 3), np.uint8)
    colour[:, :, 2] = 255  # BGR: red
    folder = tmp_path / 'folder'
    folder.mkdir()
    write_png(folder / 'b.png', colour)
    write_png(folder / 'a.png', np.full((64, 64), 255, np.uint8))
    images, names = targets.read_targets(str(folder), 64, SHARED_MNIST)
    assert names == ['a.png', 'b.png']
    assert images.shape == (2, 3, 64, 64) and (images[0] == 1).all()
    assert (images[1][0] == 1).all() and (images[1][1:] == -1).all()  # RGB, red first


def test_mnist_test_digits_by_number():
    images, names = targets.read_targets('test:3,0-1', 64, SHARED_MNIST)
    assert names == ['test 3', 'test 0', 'test 1']
    _, (test_images, _) = mnist.load_mnist_sets(SHARED_MNIST)
    np.testing.assert_array_equal(images, mnist.prepare_chunk(test_images[[3, 0, 1]], 64))


@pytest.mark.parametrize('what, words', [
    ('test:5-2', 'give test digit numbers such as test:0-99'),
    ('test:x', 'give test digit numbers such as test:0-99'),
    ('test:10000', 'MNIST has 10000 test digits (0 to 9999), not 10000'),
    ('nowhere.png', 'no such file or folder'),
])
def test_bad_targets_are_named(what, words):
    with pytest.raises(targets.TargetError, match=re.escape(words)):
        targets.read_targets(what, 64, SHARED_MNIST)


@pytest.mark.parametrize('image, words', [
    (np.zeros((32, 32), np.uint8), 'is 32x32 with 1 channel; the generator draws 64x64'),
    (np.zeros((64, 64, 4), np.uint8), 'is 64x64 with 4 channels'),
    (np.zeros((28, 28, 3), np.uint8), 'is 28x28 with 3 channels'),
])
def test_images_of_another_size_or_channel_count_are_refused(tmp_path, image, words):
    path = write_png(tmp_path / 'odd.png', image)
    with pytest.raises(targets.TargetError, match=re.escape(words)):
        targets.read_targets(path, 64, SHARED_MNIST)


# ============================== a digit on request ==============================

def test_a_digit_on_request_is_what_the_classifier_calls_it():
    """A 'generator' that draws MNIST's test digits: the sevens chosen are sevens by the
    classifier and by MNIST's own labels, all different, in the order drawn."""
    _, (images, labels) = mnist.load_mnist_sets(SHARED_MNIST)
    prepared = mnist.prepare_chunk(images[:640], 64)
    served = iter(range(0, 640, 64))

    def real_digits(noise):
        start = next(served)
        return prepared[start:start + 64]
    classifier = lenet.load_classifier(lenet.SHIPPED, mx.cpu())
    chosen, noise, batches, places = digit_request.choose(real_digits, classifier, 7, 20,
                                                          seed=0, batch_size=64, noise_dim=100)
    assert chosen.shape == (20, 3, 64, 64) and noise.shape == (20, 100)
    probabilities, _ = classifier.predict(lenet.classifier_input(chosen))
    assert (probabilities.argmax(axis=1) == 7).all()
    indices = [64 * batch + row for batch, row in places]
    assert indices == sorted(set(indices))
    assert (labels[indices] == 7).mean() >= 0.95
    np.testing.assert_array_equal(noise[0], batches[places[0][0]][places[0][1]])


def test_the_page_s_labels_are_the_sure_digits_and_unsure_elsewhere(monkeypatch):
    """label_draws: the digit the classifier gives 90% or more, else UNSURE, for the digits of
    a seed's first whole batches: the noise each batch is drawn from is drawing.noise_for's."""
    class Classifier:  # probabilities set per image: its first pixel says which
        def predict(self, images):
            table = np.full((len(images), 10), 0.01)
            for i, value in enumerate(images[:, 0, 0, 0]):
                digit = int(round(value * 10)) % 10
                table[i, digit] = 0.95 if value > 0 else 0.5  # sure or not
            return table, None
    seen = []

    def generate(noise):
        seen.append(noise.copy())
        images = np.zeros((len(noise), 1, 28, 28), np.float32)
        images[:, 0, 0, 0] = [0.3, -0.4, 0.7, 0.0, 0.1, -0.9, 0.2, 0.5][:len(noise)]
        return images
    monkeypatch.setattr(lenet, 'classifier_input', lambda images: images)
    labels = digit_request.label_draws(generate, Classifier(), 8, 5, seed=3, draws=12)
    assert labels.tolist() == [3, -1, 7, -1, 1, -1, 2, 5] * 2  # 12 draws: two whole batches
    np.testing.assert_array_equal(np.concatenate(seen), drawing.noise_for(12, 3, 8, 5))


def test_a_digit_the_generator_hardly_draws_is_said_so():
    classifier = lenet.load_classifier(lenet.SHIPPED, mx.cpu())
    black = -np.ones((8, 3, 64, 64), np.float32)
    called = classifier.predict(lenet.classifier_input(black))[0].argmax(axis=1)[0]
    with pytest.raises(digit_request.DigitNotDrawn, match='0 of 2 %ds found in 200 draws'
                       % ((called + 1) % 10)):
        digit_request.choose(lambda noise: black, classifier, (called + 1) % 10, 2, seed=0,
                             batch_size=8, noise_dim=100)


# ============================== the command ==============================

def one_line(args, cwd):
    done = subprocess.run([sys.executable, os.path.join(REPO, 'sample.py')] + args, cwd=cwd,
                          capture_output=True, text=True, env=headless_env(), timeout=300)
    assert done.returncode != 0 and done.stdout == '', done.stdout
    assert done.stderr.count('\n') == 1, done.stderr
    assert done.stderr.startswith(('error: ', 'sample.py: error: ')), done.stderr
    assert 'Traceback' not in done.stderr
    return done.stderr


@in_one_suite()  # sample.py's checks of a request; its flags on every Python: test_bad_input.py
def test_bad_requests_end_in_one_line(small_export, tmp_path):
    run, model = small_export
    odd = write_png(tmp_path / 'odd.png', np.zeros((30, 30), np.uint8))
    cases = [
        ([run, '--project', str(tmp_path / 'missing.png')], 'no such file or folder'),
        ([run, '--project', odd], 'is 30x30 with 1 channel'),
        ([run, '--digit', '10'], '--digit'),
        ([run, '--digit', 'seven'], '--digit'),
        ([model, '--project', 'test:0'], 'is an exported model: --project and --digit take '
                                          'a run or a checkpoint'),
        ([run, '--walk', '3', '--noise', str(tmp_path / 'missing.npy')], '--noise'),
        ([run, '--noise', odd], '--noise goes with --walk or --arithmetic'),
        ([], 'RUN|CHECKPOINT|MODEL.onnx'),
    ]
    for args, words in cases:
        assert words in one_line(args + ON_CPU if args and args[0] == run else args,
                                 str(tmp_path)), args
    assert sorted(os.listdir(tmp_path)) == ['odd.png']


@in_one_suite()  # MXNet's arithmetic and files: the same on every Python
def test_a_projection_s_noise_walks_and_adds(small_export, tmp_path):
    """--project writes the figure, the noise and the GIF; --walk and --arithmetic take the
    noise; the noise drawn again gives the projections (the same company: a batch of them)."""
    run, _ = small_export
    out = str(tmp_path / 'found.png')
    sample.main([run, '--project', 'test:0-3', '--data-dir', SHARED_MNIST, '--out', out,
                 '--npy', str(tmp_path / 'images.npy'), '--project-steps', '20', '--starts',
                 '1', *ON_CPU])
    assert sorted(os.listdir(tmp_path)) == ['found.gif', 'found.npy', 'found.png', 'images.npy']
    noise = np.load(str(tmp_path / 'found.npy'))
    assert noise.shape == (4, 100) and noise.dtype == np.float32
    walk = str(tmp_path / 'walk.png')
    sample.main([run, '--walk', '3', '--steps', '4', '--noise', str(tmp_path / 'found.npy'),
                 '--out', walk, '--npy', str(tmp_path / 'walk.npy'), *ON_CPU])
    walked = np.load(str(tmp_path / 'walk.npy'))
    assert walked.shape == (8, 3, 64, 64)
    sample.main([run, '--arithmetic', '0 - 1 + 2,3', '--noise', str(tmp_path / 'found.npy'),
                 '--out', str(tmp_path / 'sum.png'), *ON_CPU])
    assert os.path.getsize(str(tmp_path / 'sum.png')) > 0


@in_one_suite()  # MXNet's arithmetic and files: the same on every Python
def test_npy_alone_writes_no_grid_and_numbers_stop_at_the_last_digit(small_export, tmp_path,
                                                                    monkeypatch):
    run, _ = small_export
    monkeypatch.chdir(tmp_path)
    sample.main([run, '--num', '3', '--npy', 'x.npy', *ON_CPU])
    assert os.listdir(tmp_path) == ['x.npy']
    sample.main([run, '--num', '12', '--numbered', '--out', 'cells.png', *ON_CPU])
    grid = cv2.imread('cells.png')
    assert grid.shape == (128, 640, 3)
    assert grid[64:72, 1 * 64:1 * 64 + 12].max() > 0       # the last digit, 11, numbered
    assert grid[64:72, 2 * 64:2 * 64 + 12].max() == 0      # the empty cell after it is not


# ============================== the measurements' own checks ==============================

def test_the_independent_check_reads_real_digits_and_the_spread_sees_copies():
    """tools/reach_study.py: its k-NN vote among MNIST's training digits names real test digits
    (it is the check of --digit's draws, so it must read handwriting itself), and the spread
    of one digit a hundred times is 0."""
    import reach_study
    (train_images, train_labels), (test_images, test_labels) = mnist.load_mnist_sets(
        SHARED_MNIST)
    queries = test_images[:200].astype(np.float32)[:, None] / 255.0
    votes = reach_study.nearest_neighbour_vote(queries, train_images, train_labels)
    assert (votes == test_labels[:200]).mean() >= 0.95
    rng = np.random.RandomState(0)
    assert reach_study.mean_pair_distance(np.repeat(queries[:1], 100, axis=0), rng) == 0
    assert reach_study.mean_pair_distance(queries, rng) > 5
