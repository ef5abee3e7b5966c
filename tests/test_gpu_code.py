"""Which GPUs an MXNet library runs on, read from its own GPU code: shared libraries made here
with a .nv_fatbin section of our making, the installed CPU build, and mxnet-cu112's real
libmxnet.so; the device check and tools/check_gpu_install.py built on them."""
import os
import shutil
import struct
import subprocess
import sys

import pytest

from dcgan import devices, gpu_code
from helpers import REPO, with_the_cpu_build

CHECK = [sys.executable, os.path.join(REPO, 'tools', 'check_gpu_install.py')]


def fatbin_entry(kind, architecture, payload=b'\x7fELF-or-PTX-text'):
    """One entry: the 64-byte header (kind, version, header size, padded payload size, ...,
    architecture at byte 28), then the payload padded to 8 bytes."""
    padded = payload + b'\0' * (-len(payload) % 8)
    header = bytearray(struct.pack('<HHIQ', kind, 0x101, 64, len(padded)).ljust(64, b'\0'))
    struct.pack_into('<I', header, 28, architecture)
    return bytes(header) + padded


def fatbin_container(entries):
    payload = b''.join(fatbin_entry(kind, architecture) for kind, architecture in entries)
    return struct.pack('<IHHQ', gpu_code.CONTAINER_MAGIC, 1, 16, len(payload)) + payload


def shared_library(folder, name, containers):
    """A real ELF shared library, compiled here, whose .nv_fatbin section holds `containers`
    (lists of (kind, architecture)), with zeros between them as the linker aligns them; no
    section at all when `containers` is None."""
    if not (shutil.which('gcc') and shutil.which('objcopy')):
        pytest.skip('gcc and objcopy (Debian: gcc, binutils) make the test libraries')
    source, library = folder / (name + '.c'), folder / (name + '.so')
    source.write_text('int answer(void) { return 42; }\n')
    subprocess.run(['gcc', '-shared', '-fPIC', '-o', str(library), str(source)], check=True)
    if containers is not None:
        section = folder / (name + '.fatbin')
        section.write_bytes(b''.join(fatbin_container(entries) + b'\0' * 8
                                     for entries in containers))
        subprocess.run(['objcopy', '--add-section', '.nv_fatbin=%s' % section, str(library)],
                       check=True)
    return str(library)


CUBIN, PTX = gpu_code.KIND_CUBIN, gpu_code.KIND_PTX
BUILDS = {
    # like mxnet-cu112 1.9.1: cubins from Maxwell to Ampere, no PTX (in two containers)
    'cubins only': ([[(CUBIN, 50), (CUBIN, 60), (CUBIN, 70)], [(CUBIN, 80), (CUBIN, 86)]],
                    {(7, 0): True, (7, 5): True, (8, 0): True, (8, 6): True, (8, 9): True,
                     (9, 0): False, (10, 0): False, (6, 1): True, (3, 7): False}),
    # PTX alone: the driver compiles it for its card or any later one
    'PTX only': ([[(PTX, 80)]], {(7, 0): False, (7, 5): False, (8, 0): True, (8, 6): True,
                                 (8, 9): True, (9, 0): True, (10, 0): True}),
    # a Hopper build: a cubin for sm_90, PTX compute_90 for what comes after
    'both': ([[(CUBIN, 80), (CUBIN, 90), (PTX, 90)]],
             {(7, 0): False, (8, 0): True, (8, 6): True, (8, 9): True, (9, 0): True,
              (10, 0): True}),
}


@pytest.mark.parametrize('build', sorted(BUILDS))
def test_the_cards_a_library_runs_on_come_from_its_code(tmp_path, build):
    containers, runs = BUILDS[build]
    carried = gpu_code.read(shared_library(tmp_path, 'libmxnet', containers))
    everything = [entry for entries in containers for entry in entries]
    assert carried.cubins == {(a // 10, a % 10) for kind, a in everything if kind == CUBIN}
    assert carried.ptx == {(a // 10, a % 10) for kind, a in everything if kind == PTX}
    assert {capability: carried.runs_on(capability) for capability in runs} == runs


def test_a_library_without_gpu_code_carries_none(tmp_path):
    carried = gpu_code.read(shared_library(tmp_path, 'plain', None))
    assert not carried and carried.describe() == 'no GPU code (a CPU build)'
    assert not carried.runs_on((8, 0))


@with_the_cpu_build
def test_the_installed_cpu_build_carries_no_gpu_code():
    assert not gpu_code.read(gpu_code.installed_library())


def test_the_check_command_reports_any_library(tmp_path):
    library = shared_library(tmp_path, 'libmxnet', BUILDS['both'][0])
    result = subprocess.run(CHECK + ['--library', library], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == [library, '  GPU code: cubins sm_80, sm_90; PTX compute_90']
    verdicts = {line.split()[2]: line.split()[3] for line in lines[2:]}
    assert verdicts == {'7.0': 'DOES', '7.5': 'DOES', '8.0': 'runs', '8.6': 'runs',
                        '8.9': 'runs', '9.0': 'runs', '10.0': 'runs'}


@pytest.mark.parametrize('content, message', [
    (b'', 'too short to be a library'),
    (b'\x7fELF' + b'\0' * 60, 'not a 64-bit little-endian ELF library'),
    (b'#!/bin/sh\n' * 10, 'not a 64-bit little-endian ELF library'),
])
def test_what_is_not_a_library_is_refused_in_one_line(tmp_path, content, message):
    path = tmp_path / 'libmxnet.so'
    path.write_bytes(content)
    result = subprocess.run(CHECK + ['--library', str(path)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1 and result.stdout == ''
    assert result.stderr == 'error: %s: %s\n' % (path, message)


def test_broken_gpu_code_is_refused_in_one_line(tmp_path):
    library = shared_library(tmp_path, 'libmxnet', [[(CUBIN, 80)]])
    with open(library, 'r+b') as f:  # the container's magic, wherever objcopy put it
        data = f.read()
        f.seek(data.index(struct.pack('<I', gpu_code.CONTAINER_MAGIC)))
        f.write(b'\x01\x02\x03\x04')
    with pytest.raises(gpu_code.GpuCodeError, match='no fatbin container at byte'):
        gpu_code.read(library)
    for path in (str(tmp_path), str(tmp_path / 'missing.so')):
        with pytest.raises(gpu_code.GpuCodeError, match='^%s' % path):
            gpu_code.read(path)


# ------------------------- the device check uses the library's code -------------------------

def check(tmp_path, build, capability):
    library = shared_library(tmp_path, 'libmxnet', BUILDS[build][0])
    return devices.check_gpu_supported(0, capability=lambda device: capability,
                                       library=library)


@pytest.mark.parametrize('build', ['PTX only', 'both'])
def test_a_hopper_card_is_accepted_by_a_build_for_it(tmp_path, build):
    assert check(tmp_path, build, (9, 0)) is None


def test_a_hopper_card_is_refused_by_the_wheels_build_with_the_ways_out(tmp_path):
    with pytest.raises(devices.ContextError) as refused:
        check(tmp_path, 'cubins only', (9, 0))
    message = str(refused.value)
    assert '\n' not in message
    assert message.startswith('GPU 0 has compute capability 9.0, which this MXNet cannot run '
                              'on: %s carries cubins sm_50, sm_60, sm_70, sm_80, sm_86; PTX '
                              'none.' % (tmp_path / 'libmxnet.so'))
    assert devices.NGC_COMMAND in message
    assert 'README, "%s"' % devices.README_GPU_SECTION in message
    with open(os.path.join(REPO, 'README.md')) as readme:  # the section it names is there
        assert '\n## %s\n' % devices.README_GPU_SECTION in readme.read()
    assert 'CUDA >= 11.8, cuDNN 8.9 and MXNET_CUDA_ARCH=9.0' in message
    assert message.endswith('--context cpu')


def test_a_library_whose_code_cannot_be_told_is_not_refused(tmp_path):
    unreadable = tmp_path / 'libmxnet.so'
    unreadable.write_bytes(b'not a library')
    for library in (str(unreadable), shared_library(tmp_path, 'plain', None)):
        assert devices.check_gpu_supported(0, capability=lambda device: (9, 0),
                                           library=library) is None


# ------------------------- mxnet-cu112's real library -------------------------

@pytest.mark.slow
def test_the_real_gpu_wheel_carries_maxwell_to_ampere_and_no_ptx(gpu_wheel_library):
    result = subprocess.run(CHECK + ['--library', gpu_wheel_library], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == ('  GPU code: cubins sm_50, sm_60, sm_70, sm_80, '
                                             'sm_86; PTX none')
    verdicts = {line.split()[2]: line.split()[3] for line in result.stdout.splitlines()[2:]}
    assert verdicts == {'7.0': 'runs', '7.5': 'runs', '8.0': 'runs', '8.6': 'runs',
                        '8.9': 'runs', '9.0': 'DOES', '10.0': 'DOES'}
    with pytest.raises(devices.ContextError, match='compute capability 9.0, which this MXNet '
                                                   'cannot run on'):
        devices.check_gpu_supported(0, capability=lambda device: (9, 0),
                                    library=gpu_wheel_library)
