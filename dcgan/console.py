"""Where a run speaks: status lines and warnings, printed above a live progress line.

The one place that tells a notebook from a terminal. Inside a Jupyter kernel the progress line
and the figure each get one output area under the running cell, replaced in place
(notebook.py); on a terminal the progress line redraws itself with a carriage return, and the
figure goes to a window when there is a display. Whatever prints goes through `Console.say`,
which blanks the progress line first, so that no status line starts in the middle of it.
"""
import sys
import time

import visualize
from dcgan import drawing


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


def sampling_progress(count, batch_size):
    """The progress line of drawing `count` digits in batches (`update` takes batches done),
    cleared when they are drawn: a function for Sampler.sample's `progress`."""
    progress = Progress(drawing.batches_for(count, batch_size), batch_size)

    def update(done):
        progress.update(done)
        if done == progress.total:
            progress.clear()
    return update


class Console:
    """A run's voice: `say` a line, `warn`, `update` the progress line; `viewer` is where the
    figure is shown besides its PNG (None: nowhere)."""

    def __init__(self, total, batch_size, done=0, show_figures=True):
        from dcgan import notebook  # builds on Progress above; IPython only inside a kernel
        if notebook.in_kernel():
            self.progress = notebook.NotebookProgress(total, batch_size, done=done)
            self.viewer = notebook.FigureInPlace() if show_figures else None
        else:
            self.progress = Progress(total, batch_size, done=done)
            self.viewer = visualize.window_viewer() if show_figures else None

    def say(self, line):
        self.progress.clear()
        print(line, flush=True)

    def warn(self, message):
        self.say('warning: ' + message)

    def after_iteration(self, it):
        """A hook (hooks.py): the progress line follows the iterations."""
        self.progress.update(it.done)

    def at_stop(self, reason):
        pass

    def close(self):
        pass
