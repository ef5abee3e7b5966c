"""Stopping a run on request: the first Ctrl-C (SIGINT) or SIGTERM asks the loop to stop after
the iteration under way, which then saves a checkpoint; a second Ctrl-C stops at once. Only a
second SIGINT does: a Ctrl-C at a distributed job's terminal reaches every worker, and the
launcher passes it on as SIGTERM, in either order on a busy machine; that is one request.

Python runs a signal's handler only when the main thread is back in Python code; while MXNet
computes (seconds, in C++), two Ctrl-C would trip the same flag and look like one. Each
signal's arrival is also written, a byte a signal, to a pipe (signal.set_wakeup_fd), and the
handler counts the stop signals there: two Ctrl-C are two, however close. The byte is written
by the thread that took the signal just after Python is told of it, so the handler waits for
it (WAKEUP_WAIT); if it is later still (that thread descheduled on a busy machine), the signal
counts from the handler's call and its byte, when it comes, does not count again. A handler
that Python starts inside another (a signal arriving meanwhile) leaves its byte to the one
running, which reads the pipe until it is empty.

In a distributed run the workers must stop after the same iteration: one that started another
would wait for the others' gradients for ever. So after every iteration they vote (StopVote):
each pushes whether it was asked to stop, and all stop when any was.
"""
import collections
import os
import select
import signal

from dcgan.framework import mx

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
WAKEUP_WAIT = 0.1  # seconds a handler waits for its signal's byte (microseconds, as a rule)


class StopRequested:
    """Turns the first Ctrl-C (or SIGTERM) into a request to stop after the current iteration;
    a second Ctrl-C interrupts at once. A context manager: the handlers are the process's own
    again afterwards (a notebook kernel's, for one)."""

    def __init__(self):
        self.requested = False
        self.arrivals = None
        self.reading = False  # a handler is counting: one started inside it leaves it be
        self.late = collections.Counter()  # signals counted before their byte came
        self.interrupts = 0  # Ctrl-C counted

    def __enter__(self):
        self.arrivals, writer = os.pipe()
        for end in (self.arrivals, writer):
            os.set_blocking(end, False)
        self.previous_wakeup = signal.set_wakeup_fd(writer, warn_on_full_buffer=False)
        self.writer = writer
        self.previous = {sig: signal.signal(sig, self._handle) for sig in STOP_SIGNALS}
        return self

    def _arrived(self, wait):
        """The stop signals whose bytes are in the pipe, in order; waiting up to `wait`
        seconds for the first."""
        if not select.select([self.arrivals], [], [], wait)[0]:
            return []
        return [number for number in os.read(self.arrivals, 4096) if number in STOP_SIGNALS]

    def _handle(self, signum, frame):
        if self.reading:
            return
        self.reading = True
        try:
            numbers = self._arrived(WAKEUP_WAIT)
            if not numbers:  # its byte is late: the signal counts now, its byte will not
                self.late[signum] += 1
                self._count(signum)
            while numbers:
                for number in numbers:
                    if self.late[number]:
                        self.late[number] -= 1
                    else:
                        self._count(number)
                numbers = self._arrived(0)
        finally:
            self.reading = False

    def _count(self, number):
        if number == signal.SIGINT:
            self.interrupts += 1
            if self.interrupts > 1:
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
