"""TensorBoard event files of a run (--tensorboard), in RUN/tb/, so that runs can be laid over
each other (`tensorboard --logdir runs`): every iteration the columns of metrics.csv, at every
report the fixed-noise grid (and the averaged generator's), and the scores of --score-every.
Steps are the run's global iteration. metrics.csv stays the record; this is a view of it.

Written with tensorboardX, which needs neither PyTorch nor TensorFlow, imported only when the
flag is given (MXNet's own mxboard is unmaintained since 2018 and pins an old protobuf).

A new run starts them anew (in a folder reused with --overwrite, another run's events are
removed, as its metrics.csv is replaced). A resumed run continues the same files: what was
written after the checkpoint it resumes from (the iterations the stopped run did past it) is
dropped first, as metrics.csv drops its rows, so every step is there once, for every reader.
TensorBoard's own remedy, a SessionLog START event at the step of the restart, is not relied
upon: readers other than TensorBoard's own ignore it.
"""
import glob
import os
import struct

from dcgan import files
from dcgan.errors import SetupError
from dcgan.csv_log import FIELDS

EVENTS_DIR = 'tb'
REQUIREMENTS = 'requirements-tensorboard.txt'
# The writer keeps events in memory and writes them this often, and at every report.
FLUSH_SECONDS = 30


def summary_writer_class():
    """tensorboardX's SummaryWriter, or SetupError naming the install."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise SetupError('--tensorboard needs tensorboardX: pip install -r %s'
                         % REQUIREMENTS) from None
    return SummaryWriter


# ============================== dropping what a resume redoes ==============================

# An event file is a sequence of TFRecords: the data's length (uint64), a checksum of the
# length (uint32), the data (one Event protobuf), a checksum of the data (uint32).
_LENGTH = struct.Struct('<Q')
_FRAMING = _LENGTH.size + 4 + 4


def read_records(path):
    """(whole record bytes, Event) for each complete record of the event file `path`; a record
    cut short (a full disk, a kill) ends the file."""
    from tensorboardX.proto.event_pb2 import Event
    with open(path, 'rb') as f:
        while True:
            header = f.read(_LENGTH.size + 4)
            if len(header) < _LENGTH.size + 4:
                return
            length, = _LENGTH.unpack_from(header)
            rest = f.read(length + 4)
            if len(rest) < length + 4:
                return
            yield header + rest, Event.FromString(rest[:length])


def event_files(folder):
    """The event files of `folder`, oldest first (their names begin with the time made)."""
    return sorted(glob.glob(os.path.join(folder, 'events.out.tfevents.*')))


def drop_events_after(folder, step):
    """Keep, of the event files in `folder`, only the events of steps up to `step` (and each
    file's opening record), joined in the oldest file's place."""
    found = event_files(folder)
    if not found:
        return
    # TensorBoard reads every file whose name holds "tfevents": the temporary's must not.
    with files.written_whole(found[0], prefix='kept-events') as partial, \
            open(partial, 'wb') as out:
        for path in found:
            for record, event in read_records(path):
                if event.step <= step or not event.HasField('summary'):
                    out.write(record)
    for path in found[1:]:
        os.remove(path)


# ============================== writing ==============================

class EventLog:
    """The run's event files: scalars and images at the run's global iteration."""

    def __init__(self, run_dir, resume_after=None):
        folder = os.path.join(run_dir, EVENTS_DIR)
        if resume_after is not None:
            drop_events_after(folder, resume_after)
        else:  # a new run, in a folder reused with --overwrite: another run's events go
            for path in event_files(folder):
                os.remove(path)
        self.writer = summary_writer_class()(logdir=folder, flush_secs=FLUSH_SECONDS)

    def metrics(self, row):
        """One row of metrics.csv (csv_log.FIELDS), at its global iteration."""
        for field in FIELDS[1:]:
            self.writer.add_scalar('metrics/' + field, row[field], row['global_iteration'])

    def grid(self, tag, grid, step):
        """An image grid, uint8 (H, W, 3), as the fixed-noise grid PNGs hold it."""
        self.writer.add_image(tag, grid, step, dataformats='HWC')

    def scores(self, tag, scores, step):
        for name, value in scores.items():
            self.writer.add_scalar('%s/%s' % (tag, name), value, step)

    def flush(self):
        self.writer.flush()

    def close(self):
        self.writer.close()
