"""Distributed training's guard against a hang: a worker whose peers are gone stops.

With `--kvstore dist_sync` every iteration waits in the kvstore for all workers' gradients.
When one worker dies (a crash, SIGKILL, the OOM killer, a lost machine), MXNet 1.9.1's
parameter servers wait for it forever, and so does every other worker: ps-lite's heartbeats
are not acted on. The watchdog is a thread beside training that knows when the last
iteration ended; when none has ended for too long it calls `on_stall`, which must end the
process (the training thread is blocked inside MXNet and cannot be interrupted).

"Too long" is the larger of a floor (--stall-timeout) and STALL_FACTOR times the median
iteration so far, so that slow machines are not mistaken for a hang. Until the first iteration
has ended the limit is at least FIRST_ITERATION_SECONDS: the first carries one-time work (memory
allocated, oneDNN's kernels chosen, the kvstore's first exchange with a peer that may have
started later) whose length says nothing of the iterations after it, and on a loaded machine it
outlasts a short floor (CI's four suites on two cores: over 10 s, and the job ended as stalled
before it had begun). Work of this worker's own that holds the others up (the first worker's
checkpoints, figures and scores) is excluded with `paused()`.
"""
import contextlib
import statistics
import threading
import time

STALL_FACTOR = 10
FIRST_ITERATION_SECONDS = 120
CHECK_EVERY = 0.5  # seconds


class StallWatchdog:
    def __init__(self, floor_seconds, on_stall, clock=time.monotonic):
        self.floor = floor_seconds
        self.on_stall = on_stall
        self.clock = clock
        self.durations = []
        self.last = None   # when the last iteration ended (or watching began)
        self.pause_depth = 0
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._watch, name='stall-watchdog', daemon=True)

    def start(self):
        """Watch from now on: the first iteration is due within the limit too."""
        with self.lock:
            self.last = self.clock()
        self.thread.start()
        return self

    def limit(self):
        """Seconds without an iteration that count as a hang."""
        if not self.durations:
            return max(self.floor, FIRST_ITERATION_SECONDS)
        return max(self.floor, STALL_FACTOR * statistics.median(self.durations))

    def iteration_done(self):
        with self.lock:
            now = self.clock()
            if self.last is not None:
                self.durations.append(now - self.last)
            self.last = now

    @contextlib.contextmanager
    def paused(self):
        """Time spent in here is this worker's own work, not waiting for the others."""
        with self.lock:
            self.pause_depth += 1
        try:
            yield
        finally:
            with self.lock:
                self.pause_depth -= 1
                if self.last is not None:
                    self.last = self.clock()

    def stalled_for(self):
        """Seconds since the last iteration when that is a hang, else None."""
        with self.lock:
            if self.last is None or self.pause_depth:
                return None
            waited = self.clock() - self.last
            return waited if waited > self.limit() else None

    def _watch(self):
        while True:
            time.sleep(CHECK_EVERY)
            waited = self.stalled_for()
            if waited is not None:
                self.on_stall(waited, self.limit())
                return
