"""Training on your own images (--data PATH): a folder of image files, or a RecordIO file made
by MXNet's own packer (im2rec: tools/im2rec.py), streamed through MXNet's C++ decoder.

    a folder     searched recursively (links to folders followed, a loop refused); every file
                 with an image extension is checked from its header (format, size: a
                 decompression bomb is refused before any decoding; truncation), then packed
                 as it is, no re-encoding, into a RecordIO file in data/image_cache/ (or
                 $DCGAN_IMAGE_CACHE), in the
                 tutorial's kind of order: one fixed shuffle (numpy's RandomState(1)). A file
                 that fails its check is left out, counted, and named in the first status
                 line: a scraped set always has a few. Packed once: the cache is keyed by the
                 folder's fingerprint (every image's path, size and time), so a later start
                 only lists the folder.
    a .rec file  used as it is, in its own order, with its index (.idx) beside it; every
                 record is checked as a folder's files are, once (the verdict is cached by the
                 index's fingerprint), and one that fails is refused: a record cannot be left
                 out of someone's file.

Why MXNet's ImageRecordIter: it decodes and resizes in C++ threads (preprocess_threads),
shards a file between workers itself (num_parts, part_index), scales to [-1, 1] (mean and
std of 127.5) and never holds more than a few batches. ImageIter and Gluon's ImageFolderDataset
read folders without packing, but decode image by image from Python. The preparation is
pytorch/examples' for a folder: the shorter side resized to 64 (bilinear), the centre cropped,
greyscale copied into three channels (OpenCV decodes every image to colour), RGB.

Batches are the tutorial's: the same order every epoch, the last batch of an epoch completed
from the start (NDArrayIter's 'pad'). ImageRecordIter's own epoch end would carry the overflow
over into the next epoch, so a fresh iterator is opened at each epoch's start and the loop
takes its own count of batches from it; a resumed run skips its batches by reading them (the
order is fixed, so it continues bit for bit). Distributed workers each read a part of the
file (MXNet splits it); all run the same number of batches per epoch (an uneven split cannot
hang dist_sync at an epoch's end, MXNet #9611), a worker with a smaller part going round it.
"""
import contextlib
import hashlib
import io
import json
import os
import sys

import numpy as np

from dcgan import REPOSITORY, files, mnist, record_file
from dcgan.batches import ORDER_SEED
from dcgan.errors import UserError

CACHE_ENV = 'DCGAN_IMAGE_CACHE'  # where packed folders go, when not data/image_cache
CACHE_FORMAT = 2  # of the packed files and their verdict; a change makes a new cache key
MAX_PIXELS = 64 * 1024 * 1024  # larger is refused from its header: a decompression bomb
MAX_FILE_BYTES = 256 * 1024 * 1024  # an image file larger is left out before it is read
# The files of a folder looked at, by their extensions, and of those the formats (as Pillow
# names them from their headers) that the OpenCV inside MXNet 1.9.1's wheel decodes: tried,
# WebP and PPM/PGM fail there (and a WebP record makes ImageRecordIter die of SIGFPE), GIF
# has no decoder in OpenCV. Those are left out, named.
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.jpe', '.png', '.bmp', '.dib', '.tif', '.tiff', '.webp',
                    '.ppm', '.pgm', '.pbm', '.pnm', '.gif')
DECODABLE_FORMATS = ('JPEG', 'PNG', 'BMP', 'TIFF')
NAMED_SKIPS = 3  # skipped files named in the status line; the rest counted


class ImageDataError(UserError):
    """The images cannot be trained on; the message says which and why, in one line."""


class BadImage(Exception):
    """One image that fails its check; the message says why."""


# ============================== one image ==============================

def check_image(data):
    """Raise BadImage unless `data` (a file's bytes) is an image MXNet's decoder reads, of a
    sane size, whole. Only its header is decoded (Pillow), never its pixels."""
    from PIL import Image, UnidentifiedImageError
    try:
        image = Image.open(io.BytesIO(data))
        image_format, (width, height) = image.format, image.size
    except UnidentifiedImageError:  # its words name Python's buffer object, not the file
        raise BadImage('not an image (no format Pillow knows begins so)') from None
    except Exception as e:  # Pillow raises many kinds for a file that is not an image
        raise BadImage('not an image (%s)' % (str(e).splitlines()[0] if str(e) else
                                              type(e).__name__)) from None
    if image_format not in DECODABLE_FORMATS:
        raise BadImage('%s, which MXNet\'s decoder (OpenCV) does not read' % image_format)
    if width * height > MAX_PIXELS:
        raise BadImage('%d x %d pixels, over the %d million allowed (a decompression bomb?)'
                       % (width, height, MAX_PIXELS // 2 ** 20))
    if image_format == 'JPEG' and not data.rstrip(b'\0').endswith(b'\xff\xd9'):
        raise BadImage('truncated (no end-of-image marker)')
    if image_format == 'PNG':
        try:
            Image.open(io.BytesIO(data)).verify()  # every chunk's CRC, to the end
        except Exception as e:
            raise BadImage('truncated or damaged (%s)' % str(e).splitlines()[0]) from None


# ============================== a folder ==============================

def list_image_files(folder):
    """The image files under `folder` as sorted paths relative to it, following links to
    folders; ImageDataError for a link loop."""
    found, seen = [], set()
    for root, folders, names in os.walk(folder, followlinks=True, onerror=_unreadable):
        info = os.stat(root)
        if (info.st_dev, info.st_ino) in seen:
            raise ImageDataError('%s: a link loop: %s leads back to a folder already searched'
                                 % (folder, root))
        seen.add((info.st_dev, info.st_ino))
        for name in names:
            if name.lower().endswith(IMAGE_EXTENSIONS):
                found.append(os.path.relpath(os.path.join(root, name), folder))
    return sorted(found)


def _unreadable(error):
    raise ImageDataError('%s cannot be read (%s)' % (error.filename, error.strerror))


def fingerprint(lines):
    return hashlib.sha256(('%d\n' % CACHE_FORMAT + '\n'.join(lines)).encode(
        'utf-8', 'surrogateescape')).hexdigest()


def folder_fingerprint(folder, names):
    """What identifies a folder's images: each one's path, size and modification time."""
    lines = []
    for name in names:
        try:
            try:
                info = os.stat(os.path.join(folder, name))
            except FileNotFoundError:  # a link to nothing: the link's own (it is left out)
                info = os.lstat(os.path.join(folder, name))
        except OSError as e:
            raise ImageDataError('%s cannot be read (%s)' % (os.path.join(folder, name),
                                                             e.strerror)) from None
        lines.append('%s\t%d\t%d' % (name, info.st_size, info.st_mtime_ns))
    return fingerprint(lines)


def pack_folder(folder, names, record_path, index_path):
    """Pack the images of `names` (relative to `folder`) that pass their check into the
    RecordIO file `record_path` and its index, in the fixed shuffled order, as they are;
    returns [(name, why)] of those left out."""
    from dcgan.framework import mx
    skipped, number = [], 0
    writer = mx.recordio.MXIndexedRecordIO(index_path, record_path, 'w')
    try:
        for at in np.random.RandomState(ORDER_SEED).permutation(len(names)):
            name = names[at]
            try:
                data = files.read_regular(os.path.join(folder, name), MAX_FILE_BYTES,
                                          too_large='more than an image file may be')
                check_image(data)
            except files.FileRefused as e:
                skipped.append((name, e.why))
                continue
            except BadImage as e:
                skipped.append((name, str(e)))
                continue
            header = mx.recordio.IRHeader(0, 0.0, number, 0)
            writer.write_idx(number, mx.recordio.pack(header, data))
            number += 1
    finally:
        writer.close()
    return skipped


# ============================== a RecordIO file ==============================

def _index_of(record_path):
    return os.path.splitext(record_path)[0] + '.idx'


def check_record_file(record_path):
    """(records, labels per record) of a .rec file and its index, read record by record in
    Python (dcgan/record_file.py): every record where the index says, whole, an image MXNet's
    decoder reads whole and of a sane size, all with the same number of labels. ImageDataError,
    naming the file and the record, otherwise."""
    index_path = _index_of(record_path)
    found, widths = [], set()
    try:
        with files.open_regular(record_path) as f:
            size = os.fstat(f.fileno()).st_size
            listed = record_file.read_index(index_path, size)
            for number, (offset, data) in enumerate(record_file.walk(f, size, record_path)):
                try:
                    width, image = record_file.image_of(data)
                    check_image(image)
                except (record_file.RecordError, BadImage) as e:
                    raise ImageDataError('%s: record %d (at byte %d): %s'
                                         % (record_path, number, offset, e)) from None
                found.append(offset)
                widths.add(width)
    except (files.FileRefused, record_file.RecordError) as e:
        raise ImageDataError(str(e)) from None
    if sorted(found) != sorted(listed):
        raise ImageDataError('%s lists %d records, and %s holds %d others or elsewhere: the '
                             'index is not this file\'s' % (index_path, len(listed),
                                                             record_path, len(found)))
    if len(widths) > 1:
        raise ImageDataError('%s: its records carry different numbers of labels (%s); MXNet\'s '
                             'reader takes one'
                             % (record_path, ', '.join(map(str, sorted(widths)))))
    return len(found), widths.pop()


def record_fingerprint(record_path):
    """What identifies a .rec file: its index's bytes, and the file's size and time."""
    try:
        index = files.read_regular(_index_of(record_path), record_file.MAX_INDEX_BYTES)
        info = os.stat(record_path)
    except (files.FileRefused, OSError) as e:
        raise ImageDataError(str(e) if isinstance(e, files.FileRefused)
                             else '%s cannot be read (%s)' % (record_path, e.strerror)) from None
    return fingerprint([hashlib.sha256(index).hexdigest(), str(info.st_size),
                        str(info.st_mtime_ns)])


# ============================== the images of a run ==============================

class Images:
    """A run's own images, ready to stream: `identity` (what state.json records), the RecordIO
    file to read, how many images, and what was left out [(name, why)]."""

    def __init__(self, identity, record_path, skipped, label_width=1):
        self.identity, self.record_path, self.skipped = identity, record_path, skipped
        self.label_width = label_width  # labels a record carries (im2rec --pack-label: more)

    @property
    def count(self):
        return self.identity['images']

    def describe(self):
        """The status line's words: where from, how many, what was left out."""
        words = '%d images from %s' % (self.count, self.identity['path'])
        if self.skipped:
            named = '; '.join('%s: %s' % item for item in self.skipped[:NAMED_SKIPS])
            more = len(self.skipped) - NAMED_SKIPS
            words += ' (%d left out: %s%s)' % (len(self.skipped), named,
                                               '; and %d more' % more if more > 0 else '')
        return words


def default_cache_dir():
    return os.environ.get(CACHE_ENV) or os.path.join(REPOSITORY, 'data', 'image_cache')


def open_images(path, cache_dir=None):
    """The images at `path` (a folder or a .rec file), checked, a folder packed (or its pack
    found in `cache_dir`); ImageDataError in one line when they cannot be trained on."""
    path = os.path.abspath(path)
    cache_dir = cache_dir or default_cache_dir()
    if not os.path.exists(path):
        raise ImageDataError('--data %s does not exist' % path)
    if os.path.isdir(path):
        return _open_folder(path, cache_dir)
    if not path.lower().endswith('.rec'):
        raise ImageDataError('--data %s is neither a folder of images nor a RecordIO file '
                             '(.rec, made by MXNet\'s im2rec: tools/im2rec.py)' % path)
    return _open_record_file(path, cache_dir)


def _open_folder(folder, cache_dir):
    names = list_image_files(folder)
    if not names:
        if mnist.find_file(folder, mnist.FILES['train_images']):
            raise ImageDataError('%s holds MNIST\'s files, not images: MNIST is the default '
                                 '(name its folder with --data-dir)' % folder)
        raise ImageDataError('%s holds no image: no .jpg, .png, .bmp or .tiff file in it or '
                             'in any folder below it' % folder)
    key = folder_fingerprint(folder, names)
    record_path, verdict_path = _cached(cache_dir, key, '.rec'), _cached(cache_dir, key, '.json')
    verdict = _read_verdict(verdict_path)
    if verdict is None:
        os.makedirs(cache_dir, exist_ok=True)
        with files.written_whole(_index_of(record_path)) as index, \
                files.written_whole(record_path) as records:
            skipped = pack_folder(folder, names, records, index)
        verdict = {'images': len(names) - len(skipped), 'skipped': skipped, 'label_width': 1}
        _write_verdict(verdict_path, verdict)
    if verdict['images'] == 0:
        raise ImageDataError('%s holds no image MXNet can decode: all %d were left out (%s: %s)'
                             % ((folder, len(names)) + tuple(verdict['skipped'][0])))
    identity = {'kind': 'folder', 'path': folder, 'images': verdict['images'],
                'fingerprint': key}
    return Images(identity, record_path, [tuple(item) for item in verdict['skipped']])


def _open_record_file(record_path, cache_dir):
    if not os.path.lexists(_index_of(record_path)):
        raise ImageDataError('%s has no index %s beside it (MXNet\'s im2rec, tools/im2rec.py, '
                             'writes both)' % (record_path, _index_of(record_path)))
    key = record_fingerprint(record_path)
    verdict_path = _cached(cache_dir, key, '.json')   # the file is the user's: only its verdict
    verdict = _read_verdict(verdict_path)
    if verdict is None:
        count, label_width = check_record_file(record_path)
        verdict = {'images': count, 'skipped': [], 'label_width': label_width}
        os.makedirs(cache_dir, exist_ok=True)
        _write_verdict(verdict_path, verdict)
    identity = {'kind': 'rec', 'path': record_path, 'images': verdict['images'],
                'fingerprint': key}
    return Images(identity, record_path, [], verdict['label_width'])


def _cached(cache_dir, key, extension):
    """The cache's file for the data of fingerprint `key`, by its extension."""
    return os.path.join(cache_dir, key[:32] + extension)


def _read_verdict(path):
    """The cached verdict of a pack or a check ({'images', 'skipped'}) at `path`, or None."""
    try:
        with open(path) as f:
            verdict = json.load(f)
        if (isinstance(verdict, dict) and isinstance(verdict.get('images'), int)
                and isinstance(verdict.get('skipped'), list)
                and isinstance(verdict.get('label_width'), int) and verdict['label_width'] >= 1):
            return verdict
    except (OSError, ValueError):
        pass
    return None


def _write_verdict(path, verdict):
    """Written last, whole: a pack counts as done only once its verdict is there."""
    with files.written_whole(path) as temporary, open(temporary, 'w') as f:
        json.dump(verdict, f)


# ============================== batches ==============================

@contextlib.contextmanager
def native_log_silenced():
    """MXNet's C++ logs a line on the process's stderr each time an ImageRecordIter is made
    (how many decoding threads), and one is made every epoch: that line is noise here. Its
    errors still arrive, as the exception's message."""
    sys.stderr.flush()
    kept = os.dup(2)
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 2)
    os.close(quiet)
    try:
        yield
    finally:
        os.dup2(kept, 2)
        os.close(kept)


class RecordBatches:
    """The tutorial's batches of a RecordIO file's images, 64x64 RGB in [-1, 1], decoded by
    MXNet's ImageRecordIter: a batches.Batches, as mnist.MnistBatches is. `shard` = (k, n):
    worker k of n reads part k of the file."""

    def __init__(self, images, batch_size, size, shard=(0, 1), threads=None):
        from dcgan.framework import mx
        from dcgan.mxnet_setup import usable_cpu_count
        self._mx = mx
        self.record_path, self.label_width = images.record_path, images.label_width
        self.batch_size, self.size = batch_size, size
        self.worker, self.workers = shard
        self.threads = threads or usable_cpu_count()
        # Every worker the same count (MNIST's rule), so all run the same number of batches.
        self.num_data = images.count // self.workers
        self.provide_data = [mx.io.DataDesc('data', (batch_size, 3, size, size))]
        self.provide_label = []
        self._reader = None

    def _open(self):
        scale = 255.0 / 2
        with native_log_silenced(), self._reader_errors():
            return self._mx.io.ImageRecordIter(
                path_imgrec=self.record_path, data_shape=(3, self.size, self.size),
                batch_size=self.batch_size, resize=self.size, rand_crop=False,
                rand_mirror=False, shuffle=False, round_batch=True, num_parts=self.workers,
                part_index=self.worker, preprocess_threads=self.threads, mean_r=scale,
                mean_g=scale, mean_b=scale, std_r=scale, std_g=scale, std_b=scale,
                label_width=self.label_width, data_name='data', label_name='label')

    @contextlib.contextmanager
    def _reader_errors(self):
        """Whatever MXNet's reader raises, as one line naming the file (it was checked when
        the run started: this is a file changed since, or a reader's own failure)."""
        try:
            yield
        except self._mx.base.MXNetError as e:
            words = next((line.strip() for line in str(e).splitlines()
                          if line.strip() and not line.startswith(('Traceback', '  File', '['))),
                         type(e).__name__)
            raise ImageDataError('%s could not be read by MXNet\'s reader: %s'
                                 % (self.record_path, words[:300])) from None

    def __iter__(self):
        return self

    def reset(self):
        """An epoch's start: a fresh reader at the start of the file (or of this part)."""
        self._reader = self._open()
        self._read = 0

    def skip(self, batches):
        """Read past `batches` batches (a resumed run's way back: decoded and dropped)."""
        for _ in range(batches):
            self.__next__()

    def __next__(self):
        if self._reader is None:
            self.reset()
        if self._read >= self.num_data:
            raise StopIteration
        with self._reader_errors():
            try:
                batch = self._reader.next()
            except StopIteration:  # a part smaller than its share (MXNet splits by bytes)
                self._reader = self._open()
                batch = self._reader.next()
        self._read += self.batch_size
        pad = max(0, self._read - self.num_data)
        # A copy: the reader's buffers are refilled while the step may still read this batch.
        return self._mx.io.DataBatch(data=[batch.data[0].copy()], label=[], pad=pad)

    next = __next__
