"""--tensorboard: event files read back with TensorBoard's own reader (the `tensorboard`
package's EventAccumulator), equal to metrics.csv, scores.csv and the fixed-noise PNGs; a
resume that leaves every step once; progress.gif; and the one-line refusal without the
writer."""
import csv
import io
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import visualize
from dcgan import event_log
from dcgan.csv_log import FIELDS
from helpers import ON_CPU, REPO, headless_env, in_one_suite, run_program

BATCH = 8
# The small MNIST's 52 digits make an epoch of 7 iterations: every run here is within one.
# A report every 2 iterations, and at the last.
FLAGS = ON_CPU + ['--batch-size', str(BATCH), '--seed', '2', '--no-show', '--vis-every',
                  '2', '--average-generator', '--tensorboard']


def train(data_dir, *flags):
    result = run_program('--data-dir', data_dir, *FLAGS, *flags)
    assert result.returncode == 0, result.stderr
    return result


def read_events(run):
    """TensorBoard's view of the run: its EventAccumulator, everything kept."""
    events = EventAccumulator(os.path.join(run, event_log.EVENTS_DIR),
                              size_guidance={'scalars': 0, 'images': 0})
    events.Reload()
    return events


def scalars(events, tag):
    return [(event.step, event.value) for event in events.Scalars(tag)]


def rows_of(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def assert_scalars_are_the_csv(events, rows, prefix, fields, steps):
    for field in fields:
        logged = scalars(events, prefix + field)
        assert [step for step, _ in logged] == steps, field
        assert np.allclose([value for _, value in logged], [float(row[field]) for row in rows],
                           rtol=1e-5, atol=1e-30), field


@pytest.fixture(scope='module')
def scored_run(data_dir, tmp_path_factory):
    """Six iterations, a report every two, scores every three, with --tensorboard."""
    out = str(tmp_path_factory.mktemp('tb') / 'run')
    train(data_dir, '--output-dir', out, '--max-iters', '6', '--score-every', '3',
          '--score-samples', '10')
    return out


def test_every_iteration_s_metrics_are_the_csv_s(scored_run):
    events = read_events(scored_run)
    rows = rows_of(os.path.join(scored_run, 'metrics.csv'))
    assert [int(row['global_iteration']) for row in rows] == [1, 2, 3, 4, 5, 6]
    assert_scalars_are_the_csv(events, rows, 'metrics/', FIELDS[1:], [1, 2, 3, 4, 5, 6])


def test_the_scores_are_the_csv_s(scored_run):
    events = read_events(scored_run)
    rows = rows_of(os.path.join(scored_run, 'scores.csv'))
    for name in ('plain', 'averaged'):
        mine = [row for row in rows if row['generator'] == name]
        assert [int(row['global_iteration']) for row in mine] == [3, 6]
        assert_scalars_are_the_csv(events, mine, 'scores/%s/' % name,
                                   ['inception_score', 'fid', 'kid', 'classes_covered',
                                    'precision', 'recall'], [3, 6])


def test_each_report_s_grids_are_the_fixed_noise_pngs(scored_run):
    events = read_events(scored_run)
    assert sorted(events.Tags()['images']) == ['fixed_noise/averaged', 'fixed_noise/plain']
    images = events.Images('fixed_noise/plain')
    assert [image.step for image in images] == [2, 4, 6]
    for image in images:
        decoded = np.asarray(Image.open(io.BytesIO(image.encoded_image_string)).convert('RGB'))
        png = visualize.read_grid(os.path.join(scored_run, 'fixed',
                                               'iter%07d.png' % image.step))
        assert (image.height, image.width) == png.shape[:2] == (3 * 64, 3 * 64)  # 8 digits
        assert np.array_equal(decoded, png)
    averaged = events.Images('fixed_noise/averaged')
    assert [image.step for image in averaged] == [2, 4, 6]
    assert averaged[-1].encoded_image_string != images[-1].encoded_image_string


def test_the_run_ends_with_progress_gif_of_its_grids(scored_run):
    gif = Image.open(os.path.join(scored_run, 'progress.gif'))
    assert gif.n_frames == 3  # the grids of iterations 2, 4 and 6


@in_one_suite()  # event files: the same on every Python and build
def test_a_resume_from_an_earlier_checkpoint_leaves_every_step_once(data_dir, tmp_path):
    """A run to 5 with a checkpoint at 3; resumed from that checkpoint to 7: the events of 4
    and 5 that the first run wrote are dropped, as metrics.csv's rows are, and 4..7 come from
    the resumed run."""
    run = str(tmp_path / 'run')
    train(data_dir, '--output-dir', run, '--max-iters', '5', '--checkpoint-every', '3')
    before = scalars(read_events(run), 'metrics/d_loss')
    assert [step for step, _ in before] == [1, 2, 3, 4, 5]
    train(data_dir, '--resume', os.path.join(run, 'checkpoints', 'iter-0000003'),
          '--max-iters', '7')
    events = read_events(run)
    rows = rows_of(os.path.join(run, 'metrics.csv'))
    assert [int(row['global_iteration']) for row in rows] == list(range(1, 8))
    assert_scalars_are_the_csv(events, rows, 'metrics/', FIELDS[1:], list(range(1, 8)))
    assert scalars(events, 'metrics/d_loss')[:3] == before[:3]
    assert [image.step for image in events.Images('fixed_noise/plain')] == [2, 4, 6, 7]
    assert len(event_log.event_files(os.path.join(run, event_log.EVENTS_DIR))) == 2


def test_a_record_cut_short_ends_the_file_and_the_rest_is_kept(tmp_path):
    """An event file whose last record a kill cut short: the complete records stay."""
    from tensorboardX import SummaryWriter
    folder = str(tmp_path / 'tb')
    writer = SummaryWriter(logdir=folder)
    for step in range(1, 6):
        writer.add_scalar('x', step * 1.5, step)
    writer.close()
    path, = event_log.event_files(folder)
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:-7])
    event_log.drop_events_after(folder, 3)
    events = EventAccumulator(folder)
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars('x')] == [(1, 1.5), (2, 3.0), (3, 4.5)]


def test_without_the_writer_the_flag_is_refused_in_one_line(data_dir, tmp_path):
    """In a process where `import tensorboardX` fails: one line naming the install, before
    any work (no run folder)."""
    out = str(tmp_path / 'run')
    code = ("import runpy, sys; sys.modules['tensorboardX'] = None; "
            "sys.argv = ['dcgan_mnist.py'] + sys.argv[1:]; "
            "runpy.run_path(%r, run_name='__main__')" % os.path.join(REPO, 'dcgan_mnist.py'))
    done = subprocess.run([sys.executable, '-c', code, '--data-dir', data_dir, *FLAGS,
                           '--output-dir', out], capture_output=True, text=True,
                          env=headless_env(), timeout=300)
    assert done.returncode == 1
    assert done.stderr == ('error: --tensorboard needs tensorboardX: pip install -r '
                           'requirements-tensorboard.txt\n')
    assert not os.path.exists(out)
