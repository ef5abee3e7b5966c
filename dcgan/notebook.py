"""Training watched from a Jupyter notebook (JupyterLab, Colab, SageMaker, VS Code).

Inside a kernel there is neither a terminal (a carriage-return progress line would print as
garbage) nor a window: the figure and the progress line each get one output area under the
running cell, replaced in place at every update through Jupyter's display ids, while the
status lines print as ever below. Outside a kernel nothing here is used, and IPython is never
imported.
"""
import sys

from dcgan.progress import Progress


def in_kernel():
    """True when this code runs inside a Jupyter kernel (IPython attached to a kernel)."""
    if 'IPython' not in sys.modules:  # never loaded: certainly not in a kernel
        return False
    shell = sys.modules['IPython'].get_ipython()
    return shell is not None and getattr(shell, 'kernel', None) is not None


class OutputInPlace:
    """One output area under the running cell: the first `show` creates it, later ones
    replace its content (update_display_data), so a run leaves one output, not hundreds."""

    def __init__(self):
        self.handle = None

    def show(self, content):
        from IPython.display import display
        if self.handle is None:
            self.handle = display(content, display_id=True)
        else:
            self.handle.update(content)


class FigureInPlace:
    """A figure viewer for visualize.ComparisonFigure: shows the PNG just saved."""

    def __init__(self):
        self.output = OutputInPlace()

    def __call__(self, figure, path):
        from IPython.display import Image
        self.output.show(Image(filename=path))


class PlainText:
    """Text shown as such (IPython would show a str with quotes, as its repr)."""

    def __init__(self, text):
        self.text = text

    def _repr_pretty_(self, printer, cycle):
        printer.text(self.text)


class NotebookProgress(Progress):
    """progress.Progress as a line of text in its own output area, replaced in place."""

    def __init__(self, total, batch_size, done=0):
        super().__init__(total, batch_size, done=done)
        self.output = OutputInPlace()

    def update(self, done):
        self.output.show(PlainText(self.describe(done)))

    def clear(self):
        """Nothing to blank: the line has its own output area."""


def exit_status(stop):
    """The exit code a SystemExit carries, printing its message (sys.exit('error: ...')) to
    stderr as the interpreter would have: a kernel must not end on it."""
    if isinstance(stop.code, str):
        print(stop.code, file=sys.stderr, flush=True)
        return 1
    return stop.code or 0
