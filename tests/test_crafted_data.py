"""Crafted folders and RecordIO files given to --data: none may hang a start, crash it, end it
in a traceback, or train on a damaged record without a word (dcgan/files.py,
dcgan/record_file.py, dcgan/own_images.py).

Every class of damage is generated (Hypothesis, deterministic) and given to own_images'
check in this process, which must refuse it in one line; and each class is given once to a
real 1-iteration run, which must end at once with one line and exit status 1."""
import os
import stat
import struct

import cv2
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from dcgan import own_images, record_file
from dcgan.framework import mx
from helpers import ON_CPU, in_one_suite, run_program

FLAGS = ON_CPU + ['--batch-size', '2', '--seed', '1', '--no-show', '--max-iters', '1']
RECORDS = 6
GENERATED = settings(derandomize=True, database=None, deadline=None, max_examples=40)


def png(index):
    image = np.full((20 + index, 24, 3), 40 * index % 256, np.uint8)
    cv2.circle(image, (12, 10), 5, (255, 255, 255), -1)
    return cv2.imencode('.png', image)[1].tobytes()


def write_rec(prefix, labels=None):
    """RECORDS PNG records in `prefix`.rec with their index; each with `labels` (a list of
    floats: im2rec --pack-label's kind) or one label."""
    writer = mx.recordio.MXIndexedRecordIO(str(prefix) + '.idx', str(prefix) + '.rec', 'w')
    for number in range(RECORDS):
        header = mx.recordio.IRHeader(0, labels if labels is not None else float(number),
                                      number, 0)
        writer.write_idx(number, mx.recordio.pack(header, png(number)))
    writer.close()
    return str(prefix) + '.rec'


def offsets_of(record):
    with open(os.path.splitext(record)[0] + '.idx') as f:
        return [int(line.split('\t')[1]) for line in f if line.strip()]


def refusal(path, cache):
    with pytest.raises(own_images.ImageDataError) as refused:
        own_images.open_images(str(path), str(cache))
    words = str(refused.value)
    assert '\n' not in words and words, words
    return words


# ============================== generated damage, checked here ==============================

def lie_about_a_length(data, offsets, which, length):
    at = offsets[which % len(offsets)] + 4
    word = struct.unpack_from('<I', data, at)[0]
    return data[:at] + struct.pack('<I', (word & ~record_file.LENGTH_MASK) | length) + data[at + 4:]


DAMAGE = st.one_of(
    st.tuples(st.just('a lying length'), st.integers(0, RECORDS - 1),
              st.integers(1, record_file.LENGTH_MASK)),
    st.tuples(st.just('truncated'), st.integers(1, 10 ** 6)),
    st.tuples(st.just('a magic number destroyed'), st.integers(0, RECORDS - 1),
              st.integers(0, 3), st.integers(1, 255)),
    st.tuples(st.just('not RecordIO at all'), st.binary(min_size=1, max_size=4000)),
)


@given(damage=DAMAGE)
@GENERATED
def test_a_damaged_rec_is_refused_in_one_line(tmp_path_factory, damage):
    folder = tmp_path_factory.mktemp('damaged')
    record = write_rec(folder / 'set')
    offsets = offsets_of(record)
    with open(record, 'rb') as f:
        data = f.read()
    kind = damage[0]
    if kind == 'a lying length':
        at = offsets[damage[1]]
        true_length = struct.unpack_from('<I', data, at + 4)[0] & record_file.LENGTH_MASK
        if damage[2] == true_length:
            return
        damaged = lie_about_a_length(data, offsets, damage[1], damage[2])
    elif kind == 'truncated':
        cut = damage[1] % len(data)
        damaged = data[:cut]
    elif kind == 'a magic number destroyed':
        at = offsets[damage[1]] + damage[2]
        damaged = data[:at] + bytes([data[at] ^ damage[3]]) + data[at + 1:]
    else:
        damaged = damage[1]
    with open(record, 'wb') as f:
        f.write(damaged)
    refusal(record, folder / 'cache')


@given(index=st.binary(min_size=1, max_size=200))
@GENERATED
def test_an_index_that_is_not_im2rec_s_text_is_refused_in_one_line(tmp_path_factory, index):
    folder = tmp_path_factory.mktemp('index')
    record = write_rec(folder / 'set')
    with open(os.path.splitext(record)[0] + '.idx', 'wb') as f:
        f.write(index)
    words = refusal(record, folder / 'cache')
    assert words.startswith(os.path.splitext(record)[0] + '.idx'), words


def test_records_with_several_labels_are_read_with_their_width(tmp_path):
    """im2rec --pack-label's records: MXNet's reader takes them with its label width set;
    records of different widths cannot be read together and are refused."""
    images = own_images.open_images(write_rec(tmp_path / 'three', [1.0, 2.0, 3.0]),
                                    str(tmp_path / 'cache'))
    assert (images.count, images.label_width) == (RECORDS, 3)
    batches = own_images.RecordBatches(images, 2, 64)
    assert batches.next().data[0].shape == (2, 3, 64, 64)
    writer = mx.recordio.MXIndexedRecordIO(str(tmp_path / 'mixed.idx'),
                                           str(tmp_path / 'mixed.rec'), 'w')
    for number, labels in enumerate([[1.0, 2.0], 5.0]):
        writer.write_idx(number, mx.recordio.pack(mx.recordio.IRHeader(0, labels, number, 0),
                                                  png(number)))
    writer.close()
    assert 'different numbers of labels (1, 2)' in refusal(tmp_path / 'mixed.rec',
                                                           tmp_path / 'cache')


def test_a_record_split_into_parts_is_joined_as_mxnet_joins_it(tmp_path):
    """dmlc's writer splits a record whose data holds the magic number at a 4-byte boundary;
    the walk puts the magic back between the parts."""
    data = b'abcd' + struct.pack('<I', record_file.MAGIC) + b'efgh' * 3
    writer = mx.recordio.MXRecordIO(str(tmp_path / 'parts.rec'), 'w')
    writer.write(data)
    writer.close()
    path = str(tmp_path / 'parts.rec')
    with open(path, 'rb') as f:
        size = os.path.getsize(path)
        assert list(record_file.walk(f, size, path)) == [(0, data)]


# ============================== special files in a folder ==============================

def test_special_files_in_a_folder_are_left_out_without_being_read(tmp_path):
    """A FIFO named like an image would hang the read, a link to /dev/zero would never end it:
    neither is opened for reading beyond a look at what it is."""
    folder = tmp_path / 'images'
    folder.mkdir()
    for index in range(4):
        (folder / ('%d.png' % index)).write_bytes(png(index))
    os.mkfifo(str(folder / 'x.png'))
    os.symlink('/dev/zero', str(folder / 'z.png'))
    os.symlink(str(tmp_path / 'nowhere.png'), str(folder / 'gone.png'))
    images = own_images.open_images(str(folder), str(tmp_path / 'cache'))
    why = dict(images.skipped)
    assert images.count == 4
    assert why['x.png'] == 'not a regular file (a FIFO)'
    assert why['z.png'] == 'not a regular file (a character device)'
    assert why['gone.png'].startswith('missing or unreadable')
    assert stat.S_ISFIFO(os.stat(str(folder / 'x.png')).st_mode)


# ============================== each class through a real run ==============================

def craft(kind, tmp_path):
    """A --data path of damage `kind`, made in `tmp_path`."""
    if kind == 'a FIFO and /dev/zero in a folder only':
        folder = tmp_path / 'specials'
        folder.mkdir()
        os.mkfifo(str(folder / 'x.png'))
        os.symlink('/dev/zero', str(folder / 'z.png'))
        return folder
    record = write_rec(tmp_path / 'set')
    offsets = offsets_of(record)
    with open(record, 'rb') as f:
        data = f.read()
    if kind == 'a lying length':
        data = lie_about_a_length(data, offsets, 1, record_file.LENGTH_MASK)
    elif kind == 'truncated mid-record':
        data = data[:offsets[2] + 20]
    elif kind == 'the first magic destroyed':
        data = b'\0' + data[1:]
    elif kind == 'not RecordIO at all':
        data = bytes(range(256)) * 8
    elif kind == 'an index of bytes':
        with open(os.path.splitext(record)[0] + '.idx', 'wb') as f:
            f.write(b'\xff\xfe\x00binary\n')
    with open(record, 'wb') as f:
        f.write(data)
    return record


@in_one_suite('gpu-box')  # the checks are Python's own file calls, the same on every Python
@pytest.mark.parametrize('kind', ['a FIFO and /dev/zero in a folder only', 'a lying length',
                                  'truncated mid-record', 'the first magic destroyed',
                                  'not RecordIO at all', 'an index of bytes'])
def test_a_run_given_crafted_data_ends_in_one_line(tmp_path, kind):
    run = tmp_path / 'run'
    done = run_program('--data', str(craft(kind, tmp_path)), *FLAGS, '--output-dir', str(run),
                       timeout=120)
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert done.stderr.count('\n') == 1 and done.stderr.startswith('error: '), done.stderr
    assert not run.exists()


@in_one_suite('gpu-box')
def test_a_run_on_records_with_several_labels_trains(tmp_path):
    done = run_program('--data', write_rec(tmp_path / 'three', [1.0, 2.0, 3.0]), *FLAGS,
                       '--output-dir', str(tmp_path / 'run'), timeout=300)
    assert done.returncode == 0, done.stderr
    assert 'Done: 1 iteration in all.' in done.stdout
