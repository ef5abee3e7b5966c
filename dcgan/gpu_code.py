"""Which NVIDIA GPUs a libmxnet.so can run on, read from the GPU code the library carries.

nvcc stores a library's GPU code in its ELF section `.nv_fatbin`: a run of fatbin containers,
each holding entries of two kinds, machine code (a cubin) for one architecture sm_XY, or PTX
for one virtual architecture compute_XY, which the driver compiles for the card at first use.
A card of compute capability X.Y runs a build that has a cubin sm_XZ with Z <= Y (a cubin runs
on later minor versions of its major only), or PTX compute_VW with V.W <= X.Y.

Only headers are read, seeking from entry to entry through a memory map: a few milliseconds
for the 891 MB libmxnet.so of mxnet-cu112, whose every container has cubins for sm_50, 60, 70,
80 and 86 and no PTX. MXNet's CPU build has no such section. Nothing here imports MXNet.
"""
import importlib.util
import mmap
import os
import stat
import struct
import sys

from dcgan.errors import UserError

SECTION = b'.nv_fatbin'
CONTAINER_MAGIC = 0xBA55ED50
CONTAINER_HEADER = struct.Struct('<IHHQ')  # magic, version, header size, payload size
ENTRY_HEADER = struct.Struct('<HHIQ')  # kind, version, header size, padded payload size
ENTRY_ARCHITECTURE = struct.Struct('<I')  # at ARCHITECTURE_AT: 86 for sm_86 / compute_86
ARCHITECTURE_AT = 28
ENTRY_HEADER_SIZE = 64  # at least; the header says its own size
KIND_PTX, KIND_CUBIN = 1, 2
ALIGNMENT = 8  # containers start 8-byte aligned in the section, zeros between them

# ELF64, little-endian (x86-64 and aarch64 Linux): where the section header table is.
ELF_MAGIC = b'\x7fELF'
ELF64, LITTLE_ENDIAN = 2, 1
ELF_HEADER = struct.Struct('<40xQ10xHHH')  # e_shoff, e_shentsize, e_shnum, e_shstrndx
SECTION_HEADER = struct.Struct('<II16xQQ')  # sh_name, sh_type, sh_offset, sh_size
SH_NOBITS = 8

# The cards tools/check_gpu_install.py reports on, with examples of each.
CAPABILITIES_SHOWN = (((7, 0), 'Volta: V100'), ((7, 5), 'Turing: T4, RTX 20'),
                      ((8, 0), 'Ampere: A100, A30'), ((8, 6), 'Ampere: A10, A40, RTX 30'),
                      ((8, 9), 'Ada: L4, L40S, RTX 40'), ((9, 0), 'Hopper: H100, H200'),
                      ((10, 0), 'Blackwell: B200'))


class GpuCodeError(UserError):
    """The file is not an ELF library whose GPU code can be read."""


class GpuCode:
    """The architectures a library carries code for, as (major, minor) pairs."""

    def __init__(self, cubins=(), ptx=()):
        self.cubins, self.ptx = frozenset(cubins), frozenset(ptx)

    def __bool__(self):
        return bool(self.cubins or self.ptx)

    def runs_on(self, capability):
        major, minor = capability
        return (any(m == major and n <= minor for m, n in self.cubins)
                or any((m, n) <= (major, minor) for m, n in self.ptx))

    def describe(self):
        """'cubins sm_50, sm_86; PTX compute_90', or that there is no GPU code."""
        if not self:
            return 'no GPU code (a CPU build)'
        return '; '.join(
            '%s %s' % (label, ', '.join('%s_%d%d' % (prefix, m, n) for m, n in sorted(found))
                       if found else 'none')
            for label, prefix, found in (('cubins', 'sm', self.cubins),
                                         ('PTX', 'compute', self.ptx)))


def _architecture(number):
    return number // 10, number % 10


def _section(data, name):
    """(offset, size) of ELF section `name` in `data`, or None when there is none."""
    if data[:4] != ELF_MAGIC or data[4] != ELF64 or data[5] != LITTLE_ENDIAN:
        raise GpuCodeError('not a 64-bit little-endian ELF library')
    table, entry_size, count, names_index = ELF_HEADER.unpack_from(data)
    if entry_size < SECTION_HEADER.size or table + count * entry_size > len(data) \
            or names_index >= count:
        raise GpuCodeError('its ELF section table is cut short or malformed')

    def header(index):
        return SECTION_HEADER.unpack_from(data, table + index * entry_size)
    _, _, names_at, names_size = header(names_index)
    for index in range(count):
        name_at, kind, offset, size = header(index)
        start = names_at + name_at
        if data[start:start + len(name) + 1] == name + b'\0':
            if kind == SH_NOBITS or offset + size > len(data):
                raise GpuCodeError('its %s section lies outside the file' % name.decode())
            return offset, size
    return None


def _entries(data, start, end):
    """(kind, architecture) of each entry of the container whose payload is [start, end)."""
    at = start
    while at < end:
        if at + ENTRY_HEADER_SIZE > end:
            raise GpuCodeError('a fatbin entry at byte %d is cut short' % at)
        kind, _, header_size, payload_size = ENTRY_HEADER.unpack_from(data, at)
        if header_size < ENTRY_HEADER_SIZE:
            raise GpuCodeError('a fatbin entry at byte %d has a %d-byte header'
                               % (at, header_size))
        yield kind, _architecture(ENTRY_ARCHITECTURE.unpack_from(data, at + ARCHITECTURE_AT)[0])
        at += header_size + payload_size


def _containers(data, start, end):
    """(payload start, payload end) of each fatbin container in [start, end)."""
    at = start
    while at + CONTAINER_HEADER.size <= end:
        magic, _, header_size, payload_size = CONTAINER_HEADER.unpack_from(data, at)
        if magic == 0:  # padding up to the next container
            at += ALIGNMENT
            continue
        if magic != CONTAINER_MAGIC:
            raise GpuCodeError('no fatbin container at byte %d (magic %#x)' % (at, magic))
        payload = at + header_size
        if payload + payload_size > end:
            raise GpuCodeError('the fatbin container at byte %d is cut short' % at)
        yield payload, payload + payload_size
        at = payload + payload_size
        at += -(at - start) % ALIGNMENT


def read(path):
    """The GpuCode that the ELF library at `path` carries; raises GpuCodeError."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise GpuCodeError('not a regular file')
        with open(path, 'rb') as f:
            if os.fstat(f.fileno()).st_size < ELF_HEADER.size:
                raise GpuCodeError('too short to be a library')
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return _read_mapped(data)
    except OSError as e:
        raise GpuCodeError('%s: %s' % (path, e.strerror or e))
    except struct.error:
        raise GpuCodeError('%s: a header runs past the end of the file' % path)
    except GpuCodeError as e:
        raise GpuCodeError('%s: %s' % (path, e))


def _read_mapped(data):
    found = _section(data, SECTION)
    if found is None:
        return GpuCode()
    offset, size = found
    cubins, ptx = set(), set()
    for start, end in _containers(data, offset, offset + size):
        for kind, architecture in _entries(data, start, end):
            if kind == KIND_CUBIN:
                cubins.add(architecture)
            elif kind == KIND_PTX:
                ptx.add(architecture)
    return GpuCode(cubins, ptx)


def installed_library():
    """Where the installed MXNet's libmxnet.so is, found without importing MXNet; or None."""
    spec = importlib.util.find_spec('mxnet')
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], 'libmxnet.so')
    return path if os.path.isfile(path) else None


def loaded_library():
    """The libmxnet.so this process has loaded (MXNet finds it its own way: MXNET_LIBRARY_PATH,
    its package, a source tree's lib/), else the installed package's; None when neither."""
    mxnet = sys.modules.get('mxnet')
    loaded = getattr(getattr(getattr(mxnet, 'base', None), '_LIB', None), '_name', None)
    return loaded or installed_library()
