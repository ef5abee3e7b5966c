"""Stopping a run on request: the first Ctrl-C (SIGINT) or SIGTERM asks the loop to stop after
the iteration under way, which then saves a checkpoint; a second Ctrl-C stops at once.

Python runs a signal's handler only when the main thread is back in Python code; while MXNet
computes (seconds, in C++), two Ctrl-C would trip the same flag and look like one. Each
signal's arrival is also written, a byte a signal, to a pipe (signal.set_wakeup_fd), and the
stop signals are counted from there: two Ctrl-C are two, however close. The byte is written
by the thread that took the signal after Python is told of it, so a handler may run before
its own signal's byte is there: then the signal counts from the handler's call, and its byte,
when it comes, does not count again. Bytes that come after the last handler call are read
when the loop next asks whether to stop (`requested`).

In a distributed run the workers must stop after the same iteration: one that started another
would wait for the others' gradients for ever. So after every iteration they vote (StopVote):
each pushes whether it was asked to stop, and all stop when any was.
"""
import collections
import os
import signal

from dcgan.framework import mx

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequested:
    """Turns the first Ctrl-C (or SIGTERM) into a request to stop after the current iteration;
    a second Ctrl-C interrupts at once. A context manager: the handlers are the process's own
    again afterwards (a notebook kernel's, for one)."""

    def __init__(self):
        self._requested = False
        self.arrivals = None
        self.calls = 0           # handler calls, each for one signal at least
        self.counted = 0         # stop signals counted
        self.owed = collections.Counter()  # signals counted before their byte came

    def __enter__(self):
        self.arrivals, writer = os.pipe()
        for end in (self.arrivals, writer):
            os.set_blocking(end, False)
        self.previous_wakeup = signal.set_wakeup_fd(writer, warn_on_full_buffer=False)
        self.writer = writer
        self.previous = {sig: signal.signal(sig, self._handle) for sig in STOP_SIGNALS}
        return self

    @property
    def requested(self):
        """Whether a stop was asked for (a second Ctrl-C found here raises KeyboardInterrupt)."""
        self._count(self._arrived())
        return self._requested

    def _arrived(self):
        """The stop signals whose bytes came since the last look, in order."""
        if self.arrivals is None:
            return []
        try:
            return [number for number in os.read(self.arrivals, 4096) if number in STOP_SIGNALS]
        except BlockingIOError:  # none
            return []

    def _handle(self, signum, frame):
        self.calls += 1
        self._count(self._arrived(), signum)

    def _count(self, numbers, signum=None):
        """Count the signals of these bytes (but those counted already) and, for a handler's
        call of `signum` whose byte has not come yet, that signal."""
        fresh = []
        for number in numbers:
            if self.owed[number]:
                self.owed[number] -= 1
            else:
                fresh.append(number)
        self.counted += len(fresh)
        if signum is not None and self.counted < self.calls:
            fresh.append(signum)
            self.counted += 1
            self.owed[signum] += 1
        for number in fresh:
            if self._requested and number == signal.SIGINT:
                raise KeyboardInterrupt
            if not self._requested:
                self._requested = True
                print('\nStopping after this iteration (Ctrl-C again to stop at once) ...',
                      flush=True)

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(self.previous_wakeup)
        os.close(self.arrivals)
        os.close(self.writer)
        self.arrivals = None


class Interrupted(Exception):
    """Training stopped on request; a checkpoint was saved."""


class StopVote:
    """Whether the run stops after this iteration: the request of this process alone, or in a
    distributed run (`kvstore` given) of any worker, summed through the parameter servers."""

    KEY = 'dcgan_stop_requests'  # a string, as the Modules' keys are (a kvstore takes one kind)

    def __init__(self, kvstore=None):
        self.kvstore = kvstore
        if kvstore is not None:
            kvstore.init(self.KEY, mx.nd.zeros((1,)))
            self.total = mx.nd.zeros((1,))

    def agreed(self, requested):
        if self.kvstore is None:
            return requested
        self.kvstore.push(self.KEY, mx.nd.array([1.0 if requested else 0.0]))
        self.kvstore.pull(self.KEY, out=self.total)
        return self.total.asscalar() > 0
