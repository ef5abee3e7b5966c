"""A RecordIO file (.rec) and its index (.idx), as MXNet's im2rec writes them, read and checked
in Python, record by record, before MXNet's C++ reader ever sees them: that reader aborts the
process on a record whose length lies (SIGABRT) and reads a damaged file without a word.

The format (dmlc-core's recordio.h): each record is the magic number 0xced7230a, a 32-bit
little-endian word whose upper 3 bits say which part of a record this is and whose lower 29
bits give its length, then that many bytes of data, zero-padded to a multiple of 4. A writer
splits a record whose data holds the magic number at a 4-byte boundary into parts (1 first,
2 middle, 3 last; 0 is a whole record) and drops the magic between them; a reader puts it
back. The data of an image record is MXNet's header (IRHeader: flag, label, id, id2; 24 bytes),
`flag` more float32 labels when flag > 0 (im2rec --pack-label), then the encoded image.

The index is text, one "key<TAB>offset" line a record; ImageRecordIter reads the file from its
start, so the index must list exactly the records a walk through the file finds.
"""
import struct

from dcgan import files
from dcgan.errors import UserError

MAGIC = 0xced7230a
LENGTH_MASK = (1 << 29) - 1
WHOLE, FIRST, MIDDLE, LAST = 0, 1, 2, 3
IR_HEADER = struct.Struct('<IfQQ')  # MXNet's IRHeader: flag, label, id, id2
MAX_INDEX_BYTES = 256 * 1024 * 1024  # 10 million lines and more
MAX_RECORD_BYTES = 256 * 1024 * 1024  # an image larger than any MAX_PIXELS one, encoded


class RecordError(UserError):
    """The file or its index is not what MXNet's reader can read whole; the message says
    where, in one line."""


def read_index(index_path, record_size):
    """The record offsets an index lists, in its order; RecordError unless it is text of
    "key<TAB>offset" lines, every offset within a file of `record_size` bytes."""
    try:
        raw = files.read_regular(index_path, MAX_INDEX_BYTES,
                                 too_large='more than an index of this program reads')
    except files.FileRefused as e:
        raise RecordError(str(e)) from None
    offsets = []
    for number, line in enumerate(raw.split(b'\n'), 1):
        if not line.strip():
            continue
        try:
            key, offset = line.decode('ascii').split('\t')
            int(key)
            offsets.append(int(offset))
        except (UnicodeDecodeError, ValueError):
            raise RecordError('%s, line %d, is not "key<TAB>offset" in plain text: not an '
                              'index MXNet\'s im2rec writes' % (index_path, number)) from None
        if not 0 <= offsets[-1] < record_size:
            raise RecordError('%s, line %d: offset %d is outside the %d bytes of its .rec file'
                              % (index_path, number, offsets[-1], record_size))
    if not offsets:
        raise RecordError('%s lists no record' % index_path)
    return offsets


def walk(f, size, path):
    """Each record of the open .rec file `f` (`size` bytes) in order: (offset, data), parts
    joined; RecordError where the magic, a length or the parts' order is wrong, or the file
    ends inside a record."""
    at, start, parts = 0, None, None
    while at < size:
        f.seek(at)
        head = f.read(8)
        if len(head) < 8:
            raise RecordError('%s ends inside a record\'s header at byte %d: the file is '
                              'truncated' % (path, at))
        magic, word = struct.unpack('<II', head)
        if magic != MAGIC:
            raise RecordError('%s: no record starts at byte %d (its magic number is %#x, not '
                              '%#x): not a RecordIO file, or damaged' % (path, at, magic, MAGIC))
        part, length = word >> 29, word & LENGTH_MASK
        if length > MAX_RECORD_BYTES or at + 8 + length > size:
            raise RecordError('%s: the record at byte %d says it is %d bytes long, past the '
                              'end of the file (%d bytes): truncated or damaged'
                              % (path, at, length, size))
        data = f.read(length)
        if (part in (WHOLE, FIRST)) != (parts is None) or part > LAST:
            raise RecordError('%s: the record at byte %d is part %d of a record, out of order: '
                              'damaged' % (path, at, part))
        if part == WHOLE:
            yield at, data
        elif part == FIRST:
            start, parts = at, [data]
        else:
            parts.append(data)
            if part == LAST:
                yield start, struct.pack('<I', MAGIC).join(parts)
                parts = None
        at += 8 + length + (-length % 4)
    if parts is not None:
        raise RecordError('%s ends inside a record split into parts: the file is truncated'
                          % path)


def image_of(data):
    """(number of labels, the encoded image) of an image record's data; RecordError (without
    the file's name) when it is too short for its header and labels."""
    if len(data) < IR_HEADER.size:
        raise RecordError('%d bytes, too short for MXNet\'s image header' % len(data))
    flag = IR_HEADER.unpack_from(data)[0]
    labels_end = IR_HEADER.size + 4 * flag
    if len(data) < labels_end:
        raise RecordError('shorter than the %d labels its header announces' % flag)
    return max(flag, 1), data[labels_end:]
