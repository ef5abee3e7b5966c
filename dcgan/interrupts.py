"""Ctrl-C in a command, from its first line to its last: never a traceback.

While a command starts (Python loading numpy, MXNet, matplotlib: a second or more) there is
nothing to save or clean up, and a KeyboardInterrupt raised inside `import mxnet` would print
thirty lines of import machinery. So a command's first act is `exit_at_once_while_starting()`:
until its work begins (`work_begins()`), a Ctrl-C ends it in one line with the shell's code for
an interrupted program. From then on Ctrl-C is Python's KeyboardInterrupt again, which each
command turns into its own last line (dcgan_mnist.py's first one asks training to stop after
its iteration: dcgan/stopping.py).

Inside a Jupyter kernel (or any IPython) nothing here is installed: there Ctrl-C interrupts
the cell, and the kernel must live on.
"""
import os
import signal
import sys

EXIT_INTERRUPTED = 130   # the shell's code for a program stopped by Ctrl-C
WHILE_STARTING = 'Interrupted while starting: nothing was written.'


def _exit_now(signum, frame):
    # Straight to the file descriptor and out: the interpreter may be inside an import.
    os.write(2, (WHILE_STARTING + '\n').encode())
    os._exit(EXIT_INTERRUPTED)


def exit_at_once_while_starting():
    """Until work_begins(), Ctrl-C ends the command in one line, exit status 130."""
    if 'IPython' not in sys.modules:
        signal.signal(signal.SIGINT, _exit_now)


def work_begins():
    """From here on, Ctrl-C raises KeyboardInterrupt for the command to handle (unless it was
    set to be ignored, as a distributed job's servers set it: dcgan/mxnet_setup.py)."""
    if signal.getsignal(signal.SIGINT) is _exit_now:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def run(main, interrupted='Interrupted.'):
    """A command's `main()` under the one error policy (dcgan/errors.py): a UserError ends it
    in one line, `error: ...`, and exit status 1; Ctrl-C in the line `interrupted` and 130;
    otherwise its return value is the exit status."""
    from dcgan.cli import UserError, fail
    work_begins()
    try:
        return main()
    except UserError as e:
        fail(e)  # SystemExit('error: ...'): the one line, exit status 1
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
