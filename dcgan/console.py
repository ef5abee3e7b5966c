"""Where a run speaks: status lines and warnings, printed above a live progress line.

The one place that tells a notebook from a terminal. Inside a Jupyter kernel the progress line
and the figure each get one output area under the running cell, replaced in place
(notebook.py); on a terminal the progress line redraws itself with a carriage return, and the
figure goes to a window when there is a display. Whatever prints goes through `Console.say`,
which blanks the progress line first, so that no status line starts in the middle of it.
"""
import visualize
from dcgan import notebook
from dcgan.progress import Progress


class Console:
    """A run's voice: `say` a line, `warn`, `update` the progress line; `viewer` is where the
    figure is shown besides its PNG (None: nowhere)."""

    def __init__(self, total, batch_size, done=0, show_figures=True):
        if notebook.in_kernel():  # IPython is imported only inside a kernel
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
