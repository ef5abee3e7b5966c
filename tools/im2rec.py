"""MXNet's own packer, tools/im2rec.py of the mxnet wheel, run after this project's MXNet setup:

    python tools/im2rec.py --list --recursive faces ~/faces    # faces.lst
    python tools/im2rec.py --pass-through faces ~/faces        # faces.rec and faces.idx

Its flags are MXNet's (--help). `python -m mxnet.tools.im2rec` itself works on Python 3.10
and 3.11, but not on 3.12, where numpy 1.26 lacks the aliases MXNet's import uses
(np.bool ...): dcgan/mxnet_setup.py gives them back first, as in every command here.
"""
import os

import on_path  # noqa: F401  (the repository on sys.path)
from dcgan import mxnet_setup  # noqa: F401  (numpy's removed aliases, before MXNet loads)

import contextlib  # noqa: E402
import gc  # noqa: E402
import glob  # noqa: E402
import io  # noqa: E402
import re  # noqa: E402
import runpy  # noqa: E402
import sys  # noqa: E402

# What MXNet's im2rec prints that reads as a failure and is none: a progress dot with the
# number of the record it reached (". 0" before the first is done), the single-process
# notice, and its closing "time: ... count: N", where N is the last record's number, not
# their count. The summary below says what was written instead.
CHATTER = re.compile(r'^(\. \d+|multiprocessing not available.*|time: .*count: \d+)$')


def lines_in(path):
    with open(path, 'rb') as f:
        return sum(1 for line in f if line.strip())


def summary(prefix):
    """What was written for `prefix` (the first positional argument): the lists, the records."""
    written = []
    for listing in sorted(glob.glob(prefix + '*.lst')):
        record, index = listing[:-4] + '.rec', listing[:-4] + '.idx'
        if os.path.exists(index):
            written.append('%s and %s: %d records' % (record, index, lines_in(index)))
        else:
            written.append('%s: %d images listed' % (listing, lines_in(listing)))
    return written


def main():
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            module = runpy.run_module('mxnet.tools.im2rec', run_name='__main__', alter_sys=True)
            module.clear()  # its record writer, unreferenced, flushes and closes its files
            gc.collect()
    finally:
        for line in printed.getvalue().splitlines():
            if not CHATTER.match(line.strip()):
                print(line)
    positional = [word for word in sys.argv[1:] if not word.startswith('-')]
    if positional and '--help' not in sys.argv and '-h' not in sys.argv:
        for words in summary(os.path.abspath(positional[0])):
            print('Written: ' + words)


if __name__ == '__main__':
    main()
