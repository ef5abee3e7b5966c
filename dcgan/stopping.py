"""Stopping a run on request: the first Ctrl-C (SIGINT) or SIGTERM asks the loop to stop after
the iteration under way, which then saves a checkpoint; a second Ctrl-C stops at once.

In a distributed run the workers must stop after the same iteration: one that started another
would wait for the others' gradients for ever. So after every iteration they vote (StopVote):
each pushes whether it was asked to stop, and all stop when any was.
"""
import signal

from dcgan.framework import mx


class StopRequested:
    """Turns the first Ctrl-C (or SIGTERM) into a request to stop after the current iteration;
    a second Ctrl-C interrupts at once. A context manager: the handlers are the process's own
    again afterwards (a notebook kernel's, for one)."""

    def __init__(self):
        self.requested = False

    def __enter__(self):
        self.previous = {sig: signal.signal(sig, self._handle)
                         for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        print('\nStopping after this iteration (Ctrl-C again to stop at once) ...', flush=True)

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


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
