"""The training log: one CSV row per iteration, its curves as a PNG, the live progress line,
and the warnings a person watching training would want."""
import collections
import csv
import io
import math
import os
import sys
import time

import numpy as np

import visualize

FIELDS = ('global_iteration', 'epoch', 'iteration', 'd_loss', 'g_loss', 'd_real', 'd_fake',
          'd_fake_after', 'd_acc_real', 'd_acc_fake', 'seconds')
SCORE_FIELDS = ('global_iteration', 'generator', 'inception_score', 'fid', 'kid',
                'classes_covered', 'kl_to_uniform', 'mean_confidence', 'precision', 'recall',
                'classifier_sha256')
SMOOTHING = 25  # iterations in the moving average drawn over the raw curves
# The discriminator "wins outright" when, over this many iterations, its accuracy is above
# WIN_ACCURACY or its loss below WIN_LOSS: the generator then learns next to nothing.
WIN_STRETCH = 100
WIN_ACCURACY = 0.99
WIN_LOSS = 0.01


class MetricsLog:
    """Appends rows to `path`, a CSV with `fields` (FIELDS: one line per iteration), each line
    flushed as it is written.

    When a run resumes from iteration g, rows after g (logged after that checkpoint, before
    the run stopped) are dropped first, so the log never holds an iteration twice.
    """

    def __init__(self, path, resume_after=None, fields=FIELDS):
        self.path = path
        self.fields = fields
        if resume_after is not None and os.path.exists(path):
            self._truncate_after(resume_after)
        is_new = not os.path.exists(path)
        self.file = open(path, 'a', newline='')
        self.writer = csv.DictWriter(self.file, fieldnames=fields)
        if is_new:
            self.writer.writeheader()
            self.file.flush()

    def _truncate_after(self, global_iteration):
        with open(self.path, newline='') as f:
            text = f.read()
        if not text.endswith('\n'):  # a row cut short (a full disk, a kill): never a real row
            text = text[:text.rfind('\n') + 1]
        rows = [row for row in csv.DictReader(io.StringIO(text, newline=''))
                if int(row['global_iteration']) <= global_iteration]
        temporary = self.path + '.partial'
        with open(temporary, 'w', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=self.fields)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(temporary, self.path)

    def append(self, row):
        self.writer.writerow({field: _format(row[field]) for field in self.fields})
        self.file.flush()

    def close(self):
        self.file.close()


def _format(value):
    return '%.6g' % value if isinstance(value, float) else str(value)


def read_metrics(path):
    """The CSV as {field: numpy array}."""
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    return {field: np.array([float(row[field]) for row in rows]) for field in FIELDS}


def moving_average(values, window=SMOOTHING):
    """The mean of each value and up to `window - 1` before it (same length as `values`)."""
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    return (cumulative[1:] - cumulative[np.arange(len(values)) + 1 - counts]) / counts


def plot_curves(csv_path, png_path):
    """Losses, D's outputs and D's accuracy against the iteration, raw and smoothed."""
    import matplotlib.pyplot as plt
    metrics = read_metrics(csv_path)
    x = metrics['global_iteration']
    panels = [
        ('Losses', [('d_loss', 'loss_D'), ('g_loss', 'loss_G')], None),
        ('Discriminator output', [('d_real', 'D(x)'), ('d_fake', 'D(G(z)) before D step'),
                                  ('d_fake_after', 'D(G(z)) after D step')], (0, 1)),
        ('Discriminator accuracy', [('d_acc_real', 'on real'), ('d_acc_fake', 'on fakes')],
         (0, 1.02)),
    ]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 9), sharex=True)
    for ax, (title, series, limits) in zip(axes, panels):
        for field, label in series:
            line, = ax.plot(x, metrics[field], alpha=0.25, linewidth=0.8)
            ax.plot(x, moving_average(metrics[field]), color=line.get_color(), label=label)
        ax.set_title(title)
        ax.legend(loc='upper right', fontsize='small')
        ax.grid(alpha=0.3)
        if limits:
            ax.set_ylim(*limits)
    axes[-1].set_xlabel('iteration (faint: each one; solid: mean of the last %d)' % SMOOTHING)
    fig.tight_layout()
    visualize.save_figure(fig, png_path)
    plt.close(fig)


def format_duration(seconds):
    seconds = int(round(seconds))
    return '%d:%02d:%02d' % (seconds // 3600, seconds // 60 % 60, seconds % 60)


class Progress:
    """A one-line progress display (iteration of total, images/s, time left) on a terminal.

    It redraws itself in place with a carriage return; when the stream is not a terminal
    (a log file, a pipe) it stays silent, so logs hold only the status lines.
    """

    def __init__(self, total, batch_size, done=0, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.total, self.batch_size = total, batch_size
        self.started_at, self.started_done = time.perf_counter(), done

    def rate(self, done):
        """Iterations per second since this display started."""
        elapsed = time.perf_counter() - self.started_at
        return (done - self.started_done) / elapsed if elapsed > 0 else 0.0

    def seconds_per_iteration(self, done):
        rate = self.rate(done)
        return 1 / rate if rate > 0 else 0.0

    def time_left(self, done):
        """The time the remaining iterations take at the rate so far, as H:MM:SS."""
        return format_duration((self.total - done) * self.seconds_per_iteration(done))

    def describe(self, done):
        return '%d/%d  %.1f img/s  %s left' % (done, self.total,
                                               self.rate(done) * self.batch_size,
                                               self.time_left(done))

    def update(self, done):
        if self.enabled:
            self.stream.write('\r\033[K' + self.describe(done))
            self.stream.flush()

    def clear(self):
        """Blank the line, so that a status line printed next starts clean."""
        if self.enabled:
            self.stream.write('\r\033[K')
            self.stream.flush()


class HealthCheck:
    """Watches the per-iteration rows for NaN or inf and for a discriminator that wins outright;
    `check(row)` returns the warnings to print (each said once, until the condition ends)."""

    def __init__(self):
        self.recent = collections.deque(maxlen=WIN_STRETCH)
        self.diverged = False
        self.winning = False

    def check(self, row):
        warnings = []
        values = [row[field] for field in ('d_loss', 'g_loss', 'd_real', 'd_fake',
                                           'd_fake_after')]
        if not all(math.isfinite(value) for value in values) and not self.diverged:
            warnings.append('iteration %d: NaN or inf in the losses or in D\'s outputs; '
                            'training has diverged' % row['global_iteration'])
            self.diverged = True
        self.recent.append(row)
        if len(self.recent) == WIN_STRETCH:
            accuracy = np.mean([(r['d_acc_real'] + r['d_acc_fake']) / 2 for r in self.recent])
            loss = np.mean([r['d_loss'] for r in self.recent])
            wins = accuracy > WIN_ACCURACY or loss < WIN_LOSS
            if wins and not self.winning:
                warnings.append('iterations %d-%d: the discriminator wins outright (accuracy '
                                '%.3f, loss_D %.4f): the generator gets almost no signal'
                                % (self.recent[0]['global_iteration'],
                                   row['global_iteration'], accuracy, loss))
            self.winning = wins
        return warnings
