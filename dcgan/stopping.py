"""Stopping a run on request: the first Ctrl-C (SIGINT) or SIGTERM asks the loop to stop after
the iteration under way, which then saves a checkpoint; a second Ctrl-C stops at once."""
import signal


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
