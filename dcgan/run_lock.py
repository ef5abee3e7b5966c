"""One writer per run folder. The process that trains into a folder (the one process, or the
chief of a distributed run) holds an exclusive lock on RUN/.training.lock for as long as it
writes there; a second training, resume or --overwrite of that folder is refused in one line
that names the holder. Readers (sample.py, score.py) take no lock: they read only complete
checkpoints, which appear whole (dcgan/checkpoint.py).

The lock is flock(2)'s: the kernel releases it when the process ends, however it ends, so a
killed run leaves nothing to clean up (the file stays, unlocked, and is reused). A run that
ends as it should removes the file, while it still holds the lock; whoever locked the removed
file meanwhile sees that it is no longer the one at the path and locks a new one. On a network
file system flock holds across machines where the file system supports locks (NFSv4; NFSv3
with its lock daemon); where it does not, the lock cannot be taken and the run goes on with
a warning that nothing keeps a second writer out.
"""
import errno
import fcntl
import os
import socket
import time

from dcgan.errors import SetupError

LOCK_FILE = '.training.lock'
HOLDER_LIMIT = 200  # bytes of the holder's line that are read back
# What to do about a folder in use, by what was asked of it.
FOR_A_NEW_RUN = 'wait for it to end, or train into another --output-dir'
FOR_A_RESUME = ('wait for it to end, or stop it (Ctrl-C where it runs, or kill -TERM to that '
                'process: it saves a checkpoint), then resume')


class RunInUse(SetupError):
    """Another process is training into the folder."""

    def __init__(self, run_dir, holder, advice):
        super().__init__('%s is in use: %s is training into it; %s'
                         % (run_dir, holder or 'another process', advice))


def _holder_line(fd):
    return os.pread(fd, HOLDER_LIMIT, 0).decode('utf-8', 'replace').strip()


def refuse_if_in_use(run_dir, advice):
    """Raise RunInUse when a process is training into `run_dir` now (a look, no lock kept)."""
    try:
        fd = os.open(os.path.join(run_dir, LOCK_FILE), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:  # no lock file (never trained into), or none to read: not in use
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise RunInUse(run_dir, _holder_line(fd), advice) from None
    finally:
        os.close(fd)  # with it the shared lock, if taken


class RunLock:
    """The lock of one run folder, held from `acquire` until `release` (or the process's end).
    A hook (dcgan/hooks.py): the run's hooks release it when they close, last."""

    def __init__(self, run_dir):
        self.path = os.path.join(run_dir, LOCK_FILE)
        self.fd = None
        self.locked = False

    def acquire(self, warn=print, advice=FOR_A_NEW_RUN):
        """Take the lock, or raise RunInUse naming its holder and saying what to do (`advice`).
        Where the file system cannot lock, `warn` is told and the run goes on unlocked."""
        while True:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                              0o644)
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                holder = _holder_line(self.fd)
                self._close()
                if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise RunInUse(os.path.dirname(self.path), holder, advice) from None
                warn('warning: cannot lock %s (%s): nothing keeps a second training out of '
                     'this folder' % (self.path, e.strerror))
                return self
            if self._still_the_file():
                break
            self._close()  # its holder removed it as it ended: take the lock of a new one
        self.locked = True
        holder = 'process %d on %s (since %s)' % (os.getpid(), socket.gethostname(),
                                                  time.strftime('%Y-%m-%d %H:%M:%S'))
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, holder.encode() + b'\n', 0)
        return self

    def _still_the_file(self):
        """Whether the locked descriptor is still the file at the path (not one a holder
        that ended meanwhile removed)."""
        try:
            named = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return False
        held = os.fstat(self.fd)
        return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)

    def _close(self):
        if self.fd is not None:
            os.close(self.fd)  # the lock goes with the last descriptor
            self.fd = None

    def release(self):
        """The file removed while still locked (a finished run keeps no lock file; one that
        waited for it finds it gone and takes a new one), then the lock."""
        if self.locked:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            self.locked = False
        self._close()

    # As a hook: nothing per iteration; released when the run's hooks close.
    def after_iteration(self, it):
        pass

    def at_stop(self, reason):
        pass

    def close(self):
        self.release()
