"""What the commands share: one-line errors, checked values, and the checks of what a request
needs (a folder to write in, memory) made before any work starts.

A `Check` is a kind and a range. It checks a flag's text (as an argparse type) and a value read
from a file (a checkpoint's state.json) with the same code, in the same words: `--batch-size 0`
is refused with "'0' must be at least 1", a state.json whose batch_size is 0 with "batch_size 0
must be at least 1".
"""
import argparse
import json
import math
import os
import shlex
import sys

import tempfile
import unicodedata

from dcgan.errors import SetupError, UserError  # noqa: F401  (the commands' one policy)


def one_line(text):
    """`text` with every control character (a line break among them: \\n, \\r, \\x85, ...)
    written as its escape, so that a message that quotes input stays one line."""
    return ''.join(c.encode('unicode_escape').decode('ascii')
                   if unicodedata.category(c) in ('Cc', 'Zl', 'Zp') else c for c in text)


def fail(error):
    """End the command with one line, `error: ...`, and exit status 1."""
    sys.exit('error: ' + one_line(str(error)))


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line instead of usage text plus a line, and
    takes flags as they are spelt only: a prefix is no abbreviation (`--data` is not
    `--data-dir`)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault('allow_abbrev', False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, '%s: error: %s (see --help)\n' % (self.prog, one_line(message)))


class Check:
    """A whole number (`int`) or a finite number (`float`) in a range: from `low` (above it when
    `above`) to `high` (below it when `below`); None leaves that side open."""

    def __init__(self, kind, low=None, high=None, above=False, below=False):
        self.kind, self.low, self.high, self.above, self.below = kind, low, high, above, below
        self.__name__ = 'whole number' if kind is int else 'number'  # argparse's word for it

    def __repr__(self):
        return 'Check(%s %s)' % (self.__name__, self.range_words())

    def range_words(self, value=None):
        """What the range is, in words; for a whole number out of a two-sided range, the side
        `value` is off (the other bound would only distract)."""
        finite = '' if self.kind is int else 'a finite number '
        lower = ('must be %sabove %s' % (finite, self.low) if self.above
                 else 'must be at least %s' % self.low)
        upper = ('must be below %s' if self.below else 'must be at most %s') % self.high
        if self.high is None:
            return lower
        if self.low is None:
            return upper
        if self.kind is int and value is not None:
            return lower if value < self.low else upper
        if self.below:
            return 'must be at least %s and below %s' % (self.low, self.high)
        return 'must be from %s to %s' % (self.low, self.high)

    def in_range(self, value):
        if self.kind is float and not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.above else value < self.low):
            return False
        if self.high is not None and (value >= self.high if self.below else value > self.high):
            return False
        return True

    def value(self, value, shown=None):
        """`value` itself (a float for `float`) when it is of the kind and in range, else
        ValueError saying why; `shown` is how the message shows it (default: its repr)."""
        shown = repr(value) if shown is None else shown
        numeric = isinstance(value, int) or (self.kind is float and isinstance(value, float))
        if isinstance(value, bool) or not numeric:
            raise ValueError('%s is not %s' % (shown, 'a whole number' if self.kind is int
                                                else 'a number'))
        try:
            value = self.kind(value)
        except OverflowError:  # a whole number too large for a float: out of any range
            raise ValueError('%s %s' % (shown, self.range_words())) from None
        if not self.in_range(value):
            raise ValueError('%s %s' % (shown, self.range_words(value)))
        return value

    def __call__(self, text):
        """As an argparse type: the flag's text converted and checked."""
        try:
            value = self.kind(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError('%r is not %s' % (
                text, 'a whole number' if self.kind is int else 'a number')) from None
        try:
            return self.value(value, shown=repr(text))
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None


class Choice:
    """One of a few words: a flag's value (as an argparse type) and a checkpoint's field."""

    def __init__(self, *words):
        self.words = words
        self.__name__ = 'choice'

    def value(self, value, shown=None):
        """`value` when it is one of the words, else ValueError saying which it may be."""
        if not (isinstance(value, str) and value in self.words):
            raise ValueError('%s is not %s' % (repr(value) if shown is None else shown,
                                               ' or '.join(self.words)))
        return value

    def __call__(self, text):
        try:
            return self.value(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None


positive_int = Check(int, low=1)
positive_float = Check(float, low=0, above=True)
unit_interval = Check(float, low=0, high=1, below=True)
# numpy's RandomState, which draws the fixed noise and every sample's noise, takes seeds below
# 2**32.
seed = Check(int, low=0, high=2 ** 32 - 1)


def context_spec(text):
    """'auto', 'cpu', 'gpu', or a device list such as 'gpu:0,1' (or 'cpu:0,1') as
    (kind, [numbers])."""
    if text in ('auto', 'cpu', 'gpu'):
        return text
    kind, _, numbers = text.partition(':')
    try:
        devices = [int(number) for number in numbers.split(',')]
    except ValueError:
        devices = []
    if kind not in ('cpu', 'gpu') or not devices or min(devices) < 0 \
            or len(set(devices)) != len(devices):
        raise argparse.ArgumentTypeError(
            '%r is not auto, cpu, gpu, or a list of distinct devices such as gpu:0,1' % text)
    return kind, devices


def gpu_list(text):
    """--gpus 0,1 is --context gpu:0,1."""
    try:
        return context_spec('gpu:' + text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError('%r is not a list of distinct GPU numbers such as 0,1'
                                         % text) from None


# ============================== what a request needs ==============================

def check_writable(path, flag):
    """Raise SetupError unless a file can be written at `path` (given with `flag`): its folder
    exists and takes a new file."""
    if '\0' in path or not os.path.basename(path):
        raise SetupError('%s %r is not a file name' % (flag, path))
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise SetupError('%s %s is a folder, not a file name' % (flag, path))
    if not os.path.isdir(folder):
        raise SetupError('%s %s: the folder %s does not exist' % (flag, path, folder))
    problem = why_not_writable(folder)
    if problem:
        raise SetupError('%s %s: cannot write in %s (%s)' % (flag, path, folder, problem))


def check_writable_folder(folder, flag):
    """Raise SetupError unless files can be written in the existing folder `folder` (given
    with `flag`)."""
    problem = why_not_writable(folder)
    if problem:
        raise SetupError('%s %s: cannot write in it (%s)' % (flag, folder, problem))


def why_not_writable(folder):
    """Why no file can be written in `folder` (the system's words), or None when one can:
    tried for real (a temporary file), since permissions alone do not tell (root, read-only
    file systems)."""
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as e:
        return e.strerror
    return None


def available_memory():
    """Bytes of memory this machine can give a new allocation now (MemAvailable), or None
    where that cannot be read."""
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(needed, what, available=None):
    """Raise SetupError when `needed` bytes (for `what`, in words) are more than the machine has
    available."""
    available = available_memory() if available is None else available
    if available is not None and needed > available:
        raise SetupError('%s needs about %s of memory; this machine has %s available'
                         % (what, describe_bytes(needed), describe_bytes(available)))


def describe_bytes(count):
    for unit, size in (('TB', 1e12), ('GB', 1e9), ('MB', 1e6)):
        if count >= size:
            return '%.1f %s' % (count / size, unit)
    return '%d bytes' % count


# ============================== a distributed job's command ==============================

# launch.py puts its own command line here (JSON), for the workers: the chief of a job that
# stops on request says how to resume it with the same launch line.
LAUNCH_ARGV = 'DCGAN_LAUNCH_ARGV'


def command_to(command):
    """A function of a path that gives `command` followed by that path, quoted for a shell."""
    return lambda path: '%s %s' % (command, shlex.quote(path))


def resume_argv(argv, run_dir, drop=()):
    """The program's flags `argv` made to continue the run in `run_dir`: --resume RUN first,
    its --output-dir and --resume (with their values) and --overwrite gone, and the
    value-taking flags `drop` too; every other flag kept as given (the goal, --epochs or
    --max-iters, and the output options, which a resumed run takes anew; repeating a training
    setting is allowed, changing one is refused)."""
    dropped = ('--output-dir', '--resume') + tuple(drop)
    words, rest = [], iter(argv)
    for word in rest:
        if word in dropped:
            next(rest, None)
        elif word == '--overwrite' or word.startswith(tuple(flag + '=' for flag in dropped)):
            pass
        else:
            words.append(word)
    return ['--resume', run_dir] + words


def launch_resume_command(run_dir, environ=os.environ):
    """The launch line that started this distributed job, made to resume `run_dir` (the
    program's flags as `resume_argv` makes them). None when the job was not started by
    launch.py."""
    try:
        argv = json.loads(environ[LAUNCH_ARGV])
    except (KeyError, ValueError):
        return None
    if not (isinstance(argv, list) and all(isinstance(word, str) for word in argv)):
        return None
    program = next((at for at, word in enumerate(argv)
                    if os.path.basename(word) == 'dcgan_mnist.py'), None)
    if program is None:
        return None
    return 'python launch.py ' + shlex.join(argv[:program + 1]
                                             + resume_argv(argv[program + 1:], run_dir))
