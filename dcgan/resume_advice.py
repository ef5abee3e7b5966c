"""What a run that stops says: where it can continue from, and the command that continues it.

A run stopped by Ctrl-C, a full disk, a stalled peer or the end of its goal prints one line
that ends in a command to copy (docs/checkpoints.md): this command's own flags with --resume
RUN for --output-dir, or, for a distributed job, the launch line that started it.
"""
import os
import shlex
import sys

from dcgan import checkpoint, run_length
from dcgan.cli import launch_resume_command, resume_argv

PROGRAM = 'python dcgan_mnist.py'
LENGTH_FLAGS = ('--epochs', '--max-iters')
EXIT_STALLED = 1


def describe_write_error(error):
    if isinstance(error, OSError) and error.filename:
        return 'writing %s failed: %s' % (error.filename, error.strerror)
    return str(error)


def where_to_resume(settings):
    """What a run stopped by an error can continue from, in words, with the command."""
    saved = checkpoint.list_checkpoints(settings.output_dir)
    if not saved:
        return 'no checkpoint was saved yet: start the run again'
    return 'the newest checkpoint is %s; continue with: %s' % (saved[-1],
                                                               resume_command(settings))


def resume_command(settings, run_dir=None):
    """The command that continues the run (in `run_dir`, by default its folder) to the goal it
    was started with, writing what it wrote: this command's own flags, --resume RUN for
    --output-dir; for a distributed job the launch line that started it, made so (or, not
    started by launch.py, that in words)."""
    run_dir = run_dir or settings.output_dir
    if settings.kvstore == 'local':
        return '%s %s' % (PROGRAM, shlex.join(resume_argv(settings.argv, run_dir)))
    return (launch_resume_command(run_dir)
            or 'the launch command again, its workers given --resume %s' % run_dir)


def finished_run_line(settings, done):
    """What a resume of a run that has reached its goal says: that it has, and the command
    that trains it as long again (a longer --max-iters; a given --epochs would cut it)."""
    goal = ['--max-iters', str(2 * done)]
    if settings.kvstore == 'local':
        command = '%s %s' % (PROGRAM, shlex.join(
            resume_argv(settings.argv, settings.output_dir, drop=LENGTH_FLAGS) + goal))
    else:
        command = 'the launch command, its workers given --resume %s %s' % (
            settings.output_dir, shlex.join(goal))
    return ('The run in %s has reached its goal: %s done. To train it further, give it a '
            'longer one: %s' % (settings.output_dir, run_length.count(done, 'iteration'),
                                command))


def exit_stalled_worker(rank, workers, settings, waited, limit):
    """The watchdog's verdict in a distributed run: say so in one line and end the process
    (its training thread is stuck inside MXNet, waiting for the others)."""
    print('error: worker %d of %d: no iteration finished in %.0f s (the limit is %.0f s): '
          'another worker or a parameter server stopped responding; %s'
          % (rank, workers, waited, limit, where_to_resume(settings)),
          file=sys.stderr, flush=True)
    os._exit(EXIT_STALLED)
