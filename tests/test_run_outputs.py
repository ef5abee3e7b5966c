"""What a run writes besides its checkpoints, part by part: metrics.csv across resumes, the
progress line and its figures, the progress strip. (A run's files as a whole, from real
training: test_runs.py.)"""
import io
import os

import numpy as np
import pytest

import visualize
from dcgan import csv_log, curves, progress

def row(n):
    return dict({field: 0.5 for field in csv_log.FIELDS}, global_iteration=n, epoch=0,
                iteration=n)


def log_of_five_rows(path):
    log = csv_log.MetricsLog(path)
    for n in range(1, 6):
        log.append(row(n))
    log.close()


def test_metrics_log_appends_and_drops_rows_after_the_resumed_checkpoint(tmp_path):
    path = str(tmp_path / 'metrics.csv')
    log_of_five_rows(path)
    log = csv_log.MetricsLog(path, resume_after=3)
    log.append(row(4))
    log.close()
    assert list(csv_log.read_metrics(path)['global_iteration']) == [1, 2, 3, 4]
    with open(path) as f:
        assert f.readline().strip() == ','.join(csv_log.FIELDS)


def test_a_new_metrics_log_over_another_run_s_starts_anew(tmp_path):
    """A folder reused with --overwrite: the new run's log holds its own rows only."""
    path = str(tmp_path / 'metrics.csv')
    log_of_five_rows(path)
    log = csv_log.MetricsLog(path)
    log.append(row(1))
    log.close()
    assert list(csv_log.read_metrics(path)['global_iteration']) == [1]


def test_moving_average():
    np.testing.assert_allclose(curves.moving_average(np.array([2.0, 4, 6, 8]), window=2),
                               [2, 3, 5, 7])
    np.testing.assert_allclose(curves.moving_average(np.arange(5.0), window=10),
                               [0, 0.5, 1, 1.5, 2])


def test_format_duration():
    assert progress.format_duration(3725.4) == '1:02:05'
    assert progress.format_duration(0) == '0:00:00'


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_line_redraws_on_a_terminal_only():
    terminal = FakeTerminal()
    line = progress.Progress(total=100, batch_size=64, stream=terminal)
    line.started_at -= 5.0  # 10 iterations in 5 s: 0.5 s each, 45 s for the other 90
    assert line.seconds_per_iteration(10) == pytest.approx(0.5, rel=0.01)
    assert line.time_left(10) == '0:00:45'
    line.update(10)
    line.clear()
    assert terminal.getvalue().startswith('\r\033[K10/100  ')
    assert 'img/s' in terminal.getvalue() and 'left' in terminal.getvalue()
    log_file = io.StringIO()
    quiet = progress.Progress(total=100, batch_size=64, stream=log_file)
    quiet.update(10)
    quiet.clear()
    assert log_file.getvalue() == ''


def test_progress_strip_shows_evenly_spread_snapshots_ending_with_the_last(tmp_path):
    grids = tmp_path / 'fixed'
    grids.mkdir()
    for n in range(1, 13):
        batch = np.full((4, 3, 64, 64), n / 12 * 2 - 1, np.float32)
        visualize.save_grid(visualize.batch_to_grid(batch), str(grids / ('iter%07d.png' % n)))
    shown = visualize.save_progress_strip(str(grids), str(tmp_path / 'p.png'), 4, 3)
    assert shown == [1, 5, 8, 12]
    assert os.path.exists(tmp_path / 'p.png')
    assert visualize.save_progress_strip(str(tmp_path / 'none'), str(tmp_path / 'q.png'),
                                         4, 3) == []


# ============================== sampling ==============================
