"""Stopping a run on request: the first Ctrl-C (SIGINT) or SIGTERM asks the loop to stop after
the iteration under way, which then saves a checkpoint; a second Ctrl-C stops at once.

Python runs a signal's handler only when the main thread is back in Python code; while MXNet
computes (seconds, in C++), two Ctrl-C would trip the same flag and look like one. Each
signal's arrival is also written, a byte a signal, to a pipe (signal.set_wakeup_fd), and the
handler counts those: two Ctrl-C are two, however close.

In a distributed run the workers must stop after the same iteration: one that started another
would wait for the others' gradients for ever. So after every iteration they vote (StopVote):
each pushes whether it was asked to stop, and all stop when any was.
"""
import os
import signal

from dcgan.framework import mx

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequested:
    """Turns the first Ctrl-C (or SIGTERM) into a request to stop after the current iteration;
    a second Ctrl-C interrupts at once. A context manager: the handlers are the process's own
    again afterwards (a notebook kernel's, for one)."""

    def __init__(self):
        self.requested = False

    def __enter__(self):
        self.arrivals, writer = os.pipe()
        for end in (self.arrivals, writer):
            os.set_blocking(end, False)
        self.previous_wakeup = signal.set_wakeup_fd(writer, warn_on_full_buffer=False)
        self.writer = writer
        self.previous = {sig: signal.signal(sig, self._handle) for sig in STOP_SIGNALS}
        return self

    def _arrived(self):
        """The stop signals that arrived since the last look, in order (one byte each)."""
        try:
            return [number for number in os.read(self.arrivals, 4096) if number in STOP_SIGNALS]
        except BlockingIOError:  # none: counted by an earlier call already
            return []

    def _handle(self, signum, frame):
        for number in self._arrived():
            if self.requested and number == signal.SIGINT:
                raise KeyboardInterrupt
            if not self.requested:
                self.requested = True
                print('\nStopping after this iteration (Ctrl-C again to stop at once) ...',
                      flush=True)

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(self.previous_wakeup)
        os.close(self.arrivals)
        os.close(self.writer)


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
