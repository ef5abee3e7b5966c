"""The progress line: iteration (or batch) of total, images a second, time left; on a terminal
it redraws itself in place, elsewhere (a log file, a pipe) it stays silent. The console
(console.py) shows it under a run's status lines, the notebook (notebook.py) in an output area
of its own; sample.py and score.py show it while they draw."""
import sys
import time

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
