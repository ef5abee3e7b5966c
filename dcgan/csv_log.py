"""A run's CSV files: metrics.csv, one row per iteration, and scores.csv (--score-every), each
row flushed as it is written, and kept free of rows a resumed run will do again."""
import csv
import io
import os

import numpy as np

from dcgan import files

FIELDS = ('global_iteration', 'epoch', 'iteration', 'd_loss', 'g_loss', 'd_real', 'd_fake',
          'd_fake_after', 'd_acc_real', 'd_acc_fake', 'seconds')
SCORE_FIELDS = ('global_iteration', 'generator', 'inception_score', 'fid', 'kid',
                'classes_covered', 'kl_to_uniform', 'mean_confidence', 'precision', 'recall',
                'classifier_sha256')


class MetricsLog:
    """Appends rows to `path`, a CSV with `fields` (FIELDS: one line per iteration), each line
    flushed as it is written.

    When a run resumes from iteration g, rows after g (logged after that checkpoint, before
    the run stopped) are dropped first, so the log never holds an iteration twice. A new run
    (`resume_after` None) starts the file anew: in a folder reused with --overwrite, another
    run's rows are not continued.
    """

    def __init__(self, path, resume_after=None, fields=FIELDS):
        self.path = path
        self.fields = fields
        resuming = resume_after is not None and os.path.exists(path)
        if resuming:
            self._truncate_after(resume_after)
        self.file = open(path, 'a' if resuming else 'w', newline='')
        self.writer = csv.DictWriter(self.file, fieldnames=fields)
        if not resuming:
            self.writer.writeheader()
            self.file.flush()

    def _truncate_after(self, global_iteration):
        with open(self.path, newline='') as f:
            text = f.read()
        if not text.endswith('\n'):  # a row cut short (a full disk, a kill): never a real row
            text = text[:text.rfind('\n') + 1]
        rows = [row for row in csv.DictReader(io.StringIO(text, newline=''))
                if int(row['global_iteration']) <= global_iteration]
        with files.written_whole(self.path) as temporary, \
                open(temporary, 'w', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=self.fields)
            writer.writeheader()
            writer.writerows(rows)

    def append(self, row):
        self.writer.writerow({field: _format(row[field]) for field in self.fields})
        self.file.flush()

    def close(self):
        self.file.close()


def _format(value):
    return '%.6g' % value if isinstance(value, float) else str(value)


def read_metrics(path):
    """The CSV as {field: numpy array}."""
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    return {field: np.array([float(row[field]) for row in rows]) for field in FIELDS}
