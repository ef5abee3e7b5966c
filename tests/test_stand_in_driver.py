"""The stand-in NVIDIA driver (tests/stand_in_libcuda.c) with which CI runs the GPU box's test
command on a machine without a GPU: it builds, answers "no device", defines every driver
function mxnet-cu112's library imports, and with it MXNet's GPU build sees no GPU and trains
on the CPU, writing the CPU build's checkpoints byte for byte. Without it (and without a
driver) the GPU build is refused in one line."""
import ctypes
import filecmp
import os
import shutil
import subprocess
import sys

import pytest

from dcgan import checkpoint
from helpers import REPO, cpu_build, headless_env, one_error_line, run_program

SOURCE = os.path.join(REPO, 'tests', 'stand_in_libcuda.c')
CUDA_ERROR_NO_DEVICE = 100
# A Python whose MXNet is the CPU build, to compare the GPU build with (CI's GPU-box leg sets it).
CPU_BUILD_PYTHON = 'DCGAN_CPU_BUILD_PYTHON'

with_the_gpu_build = pytest.mark.skipif(cpu_build(), reason='checks MXNet\'s GPU build '
                                        '(requirements.txt), and the CPU build is installed here')


def build_stand_in(folder):
    """Compile the stand-in into `folder`/libcuda.so.1; returns the folder, as a str."""
    if not shutil.which('gcc'):
        pytest.skip('gcc (Debian: gcc) builds the stand-in driver')
    subprocess.run(['gcc', '-shared', '-fPIC', '-Wall', '-Werror', '-o',
                    str(folder / 'libcuda.so.1'), SOURCE], check=True)
    return str(folder)


def dynamic_symbols(library, which):
    """The names of the `which` ('--defined-only' or '--undefined-only') dynamic symbols."""
    if not shutil.which('nm'):
        pytest.skip('nm (Debian: binutils) lists a library\'s symbols')
    listed = subprocess.run(['nm', '-D', which, library], capture_output=True, text=True,
                            check=True).stdout
    return {line.split()[-1].split('@')[0] for line in listed.splitlines() if line.strip()}


def driver_in(folder):
    """The variables that have libraries looked up first in `folder` (None: in the system's
    places only)."""
    return {'LD_LIBRARY_PATH': folder or ''}


def test_the_stand_in_answers_no_device(tmp_path):
    driver = ctypes.CDLL(os.path.join(build_stand_in(tmp_path), 'libcuda.so.1'))
    count = ctypes.c_int(-1)
    assert driver.cuInit(0) == CUDA_ERROR_NO_DEVICE
    assert driver.cuDeviceGetCount(ctypes.byref(count)) == CUDA_ERROR_NO_DEVICE
    assert count.value == -1
    version = ctypes.c_int()
    assert driver.cuDriverGetVersion(ctypes.byref(version)) == 0 and version.value == 11080
    text = ctypes.c_char_p()
    assert driver.cuGetErrorString(CUDA_ERROR_NO_DEVICE, ctypes.byref(text)) == 0
    assert text.value == b'no CUDA-capable device is detected'


@pytest.mark.slow
def test_the_stand_in_defines_every_driver_function_the_gpu_wheel_imports(tmp_path,
                                                                           gpu_wheel_library):
    stand_in = os.path.join(build_stand_in(tmp_path), 'libcuda.so.1')
    imported = {name for name in dynamic_symbols(gpu_wheel_library, '--undefined-only')
                if name.startswith('cu') and name[2:3].isupper()}
    assert 'cuLaunchKernel' in imported   # the list is read, not empty
    assert imported - dynamic_symbols(stand_in, '--defined-only') == set()


def system_has_a_driver():
    """Whether a libcuda.so.1 loads here without the stand-in (a real NVIDIA driver)."""
    loaded = subprocess.run([sys.executable, '-c', 'import ctypes; ctypes.CDLL("libcuda.so.1")'],
                            capture_output=True, env=headless_env(**driver_in(None)),
                            timeout=60)
    return loaded.returncode == 0


@with_the_gpu_build
def test_the_gpu_build_without_a_driver_is_refused_in_one_line():
    if system_has_a_driver():
        pytest.skip('this machine has an NVIDIA driver')
    result = run_program('--help', env=driver_in(None), context=None)
    assert result.returncode == 1
    assert one_error_line(result) == (
        "error: MXNet's GPU build is installed but no NVIDIA driver was found (libcuda.so.1: "
        "cannot open shared object file: No such file or directory). On a machine without a "
        "GPU: pip uninstall -y mxnet-cu112 && pip install -r requirements-cpu.txt")


def three_iterations(python, run, data_dir, driver):
    """Train 3 iterations at batch 8 with `python` and the driver in folder `driver`, the device
    chosen by the tutorial's rule (--context auto); returns the CompletedProcess."""
    return run_program('--data-dir', data_dir, '--batch-size', '8', '--max-iters', '3',
                       '--seed', '0', '--no-show', '--output-dir', str(run), python=python,
                       env=driver_in(driver), context=None)


def same_files(folder_a, folder_b):
    """Whether two folders hold the same file names with the same bytes."""
    names = sorted(os.listdir(folder_a))
    if names != sorted(os.listdir(folder_b)):
        return False
    matched, mismatched, errors = filecmp.cmpfiles(folder_a, folder_b, names, shallow=False)
    return not mismatched and not errors


@with_the_gpu_build
def test_the_gpu_build_with_the_stand_in_trains_on_the_cpu_as_the_cpu_build_does(tmp_path,
                                                                                 data_dir):
    cpu_python = os.environ.get(CPU_BUILD_PYTHON)
    if not cpu_python:
        message = '%s names no Python with MXNet\'s CPU build to compare with' % CPU_BUILD_PYTHON
        if os.environ.get('CI'):
            pytest.fail(message)   # CI's GPU-box leg sets it: a skip there would hide the check
        pytest.skip(message)
    asked = subprocess.run([cpu_python, '-c', 'import mxnet; '
                            'print(mxnet.runtime.Features().is_enabled("CUDA"))'],
                           capture_output=True, text=True, env=headless_env(**driver_in(None)),
                           timeout=120)
    assert asked.stdout.split()[-1:] == ['False'], '%s=%s: not the CPU build (%s)' % (
        CPU_BUILD_PYTHON, cpu_python, asked.stderr.strip())
    stand_in = build_stand_in(tmp_path)
    on_gpu_build = three_iterations(sys.executable, tmp_path / 'gpu-build', data_dir, stand_in)
    assert on_gpu_build.returncode == 0, on_gpu_build.stderr
    assert on_gpu_build.stdout.startswith('No GPU visible to MXNet: training on the CPU')
    assert 'Training on cpu(0)' in on_gpu_build.stdout
    on_cpu_build = three_iterations(cpu_python, tmp_path / 'cpu-build', data_dir, None)
    assert on_cpu_build.returncode == 0, on_cpu_build.stderr
    assert same_files(*(checkpoint.checkpoint_dir(str(tmp_path / build), 3)
                        for build in ('gpu-build', 'cpu-build')))
