"""Files, the one way: a file this project writes appears whole or not at all, and a file
someone gave us is bounded before a byte of it is read.

Writing (`written_whole`): into a temporary file beside the target, renamed over it only when
complete, removed when anything fails; a reader never sees half a file, a crash leaves at most
a `.partial` file behind. The fsync policy, said once: a checkpoint is flushed to the disk
before its rename and its folder after (`durable=True`, dcgan/checkpoint.py: it is the work
of hours); pictures, logs, caches and exports are not (a crash loses at most the newest one,
which the next report, run or command writes again).

Reading a file someone gave us (a checkpoint's file, an exported model, an image, a RecordIO
file and its index, a --noise array): bounded before a byte is read.

Only a regular file is read: a FIFO or a device named like an image would hang the read or
never end it (/dev/zero), so the file is opened without blocking and looked at (fstat) first.
Its size is checked against a limit the caller names before anything is read, and no more
than that is ever read. A checkpoint's files may also be refused when they are links, so
that no read follows a link out of its folder.
"""
import contextlib
import errno
import os
import random
import stat

from dcgan.errors import UserError

# What fstat says a file is, for a refusal's words.
KINDS = ((stat.S_ISDIR, 'a folder'), (stat.S_ISFIFO, 'a FIFO'), (stat.S_ISCHR, 'a character '
         'device'), (stat.S_ISBLK, 'a block device'), (stat.S_ISSOCK, 'a socket'))


class FileRefused(UserError):
    """The file cannot be read as asked: '<path> is <why>', in one line."""

    def __init__(self, path, why):
        super().__init__('%s is %s' % (path, why))
        self.path, self.why = path, why


def kind_of(mode):
    return next((words for test, words in KINDS if test(mode)), 'not a regular file')


def open_regular(path, limit=None, follow_links=True, too_large='more than allowed'):
    """A binary file object of `path`, refused (FileRefused) unless it is a regular file of at
    most `limit` bytes (`too_large` says what the limit is, in the message); with
    `follow_links` false, a symbolic link is refused too. Opening never blocks."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_links else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == errno.ELOOP and not follow_links:
            raise FileRefused(path, 'a symbolic link, not a file') from None
        raise FileRefused(path, 'missing or unreadable (%s)' % e.strerror) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise FileRefused(path, 'not a regular file (%s)' % kind_of(info.st_mode))
    if limit is not None and info.st_size > limit:
        os.close(fd)
        raise FileRefused(path, '%d bytes, %s (at most %d)' % (info.st_size, too_large, limit))
    os.set_blocking(fd, True)
    return os.fdopen(fd, 'rb')


def read_regular(path, limit, **how):
    """The bytes of `path`, read as `open_regular` allows (never more than `limit`)."""
    with open_regular(path, limit, **how) as f:
        return f.read(limit + 1)


# ============================== writing ==============================

@contextlib.contextmanager
def written_whole(path, suffix='.partial', prefix=None, durable=False):
    """Yields a temporary path beside `path` (named `prefix` or the target's name, then a
    unique part, then `suffix`: a writer that goes by the extension gets one) to write the
    file to; when the block ends it is renamed over `path` (with `durable`, flushed to the disk
    first, and the folder after), and when it fails it is removed."""
    folder = os.path.dirname(os.path.abspath(path))
    temporary = _new_file(folder, (prefix or os.path.basename(path)) + '.', suffix)
    try:
        yield temporary
        if durable:
            fsync_file(temporary)
        os.replace(temporary, path)
        if durable:
            fsync_folder(folder)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def _new_file(folder, prefix, suffix):
    """A new empty file in `folder` of a name no other writer has (two processes may write the
    same target at once), created with the permissions the umask gives, as `open` would
    (tempfile.mkstemp's are the owner's alone)."""
    while True:
        path = os.path.join(folder, '%s%d.%08x%s' % (prefix, os.getpid(),
                                                      random.getrandbits(32), suffix))
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return path
        except FileExistsError:
            continue


def fsync_file(path):
    with open(path, 'rb') as f:
        os.fsync(f.fileno())


def fsync_folder(path):
    """Flush a folder's entries (a rename in it) to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
