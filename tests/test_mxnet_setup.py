"""Thread defaults, the CUDA wheels, the explanation of a failed MXNet load, the choice of
device."""
import ctypes
import os
import subprocess
import sys
import types
import warnings

import pytest

from dcgan import devices, mxnet_setup
from dcgan.framework import mx
from helpers import REPO, where_no_gpu, with_the_cpu_build


def test_thread_default_is_one_per_usable_cpu():
    environ = {}
    mxnet_setup.set_thread_defaults(environ)
    assert environ['OMP_NUM_THREADS'] == str(mxnet_setup.usable_cpu_count())


def test_a_users_thread_setting_is_respected():
    environ = {'OMP_NUM_THREADS': '1'}
    mxnet_setup.set_thread_defaults(environ)
    assert environ['OMP_NUM_THREADS'] == '1'


@pytest.mark.parametrize('gpu_build, requirements', [(False, 'requirements-cpu.txt'),
                                                     (True, 'requirements.txt')])
def test_other_load_failures_point_to_a_reinstall_of_the_same_build(gpu_build, requirements):
    line = mxnet_setup.explain_load_failure(OSError('libmxnet.so: undefined symbol: foo\nmore'),
                                            gpu_build=gpu_build)
    assert line == ("MXNet's native library could not be loaded (libmxnet.so: undefined symbol: "
                    "foo). Reinstall it: pip install -r " + requirements)


class FakeMXNetError(Exception):
    pass


def test_a_missing_cuda_library_points_to_both_requirements():
    """What importing mxnet-cu112 1.9.1 without the CUDA libraries printed here."""
    line = mxnet_setup.explain_load_failure(OSError(
        'libcudnn.so.8: cannot open shared object file: No such file or directory'))
    assert line == ("MXNet's GPU build is installed but a CUDA 11 library is missing "
                    "(libcudnn.so.8: cannot open shared object file: No such file or directory). "
                    "On a GPU box: pip install -r requirements.txt; on a machine without a GPU: "
                    "pip uninstall -y mxnet-cu112 && pip install -r requirements-cpu.txt")


def fake_mxnet(num_gpus):
    """Just enough of the mxnet module for choose_context: `num_gpus` is a count, or an
    exception that counting GPUs raises."""
    def count():
        if isinstance(num_gpus, Exception):
            raise num_gpus
        return num_gpus

    return types.SimpleNamespace(
        context=types.SimpleNamespace(num_gpus=count),
        base=types.SimpleNamespace(MXNetError=FakeMXNetError),
        cpu=lambda i=0: 'cpu(%d)' % i, gpu=lambda i=0: 'gpu(%d)' % i)


@pytest.mark.parametrize('choice, gpus, expected', [
    ('auto', 2, ('gpu(0)', None)),
    ('gpu', 1, ('gpu(0)', None)),
    ('cpu', 4, ('cpu(0)', None)),
    ('cpu', 0, ('cpu(0)', None)),
    ('auto', 0, ('cpu(0)', 'No GPU visible to MXNet: training on the CPU, which is much '
                           'slower.')),
])
def test_choose_context(choice, gpus, expected):
    assert devices.choose_context(fake_mxnet(gpus), choice,
                                      check=lambda device: None) == expected


def test_cuda_wheel_libraries_are_found_and_loaded_dependencies_first(tmp_path):
    site = tmp_path / 'site-packages'
    for relative in mxnet_setup.CUDA_WHEEL_LIBRARIES:
        if 'nccl' in relative:
            continue  # one wheel missing
        path = site / 'nvidia' / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b'')
    loaded = []
    missing = mxnet_setup.preload_cuda_libraries(
        paths=[str(tmp_path / 'elsewhere'), str(site)],
        load=lambda path, mode: loaded.append((os.path.relpath(path, site / 'nvidia'), mode)))
    assert missing == ['nccl/lib/libnccl.so.2']
    assert [relative for relative, _ in loaded] == [
        r for r in mxnet_setup.CUDA_WHEEL_LIBRARIES if 'nccl' not in r]
    assert loaded[0][0] == 'cuda_runtime/lib/libcudart.so.11.0'
    assert loaded[-1][0] == 'cudnn/lib/libcudnn.so.8'
    assert {mode for _, mode in loaded} == {ctypes.RTLD_GLOBAL}


def test_check_gpu_install_reads_ldd_output():
    import check_gpu_install
    text = ('\tlinux-vdso.so.1 (0x00007ffd)\n'
            '\tlibcudnn.so.8 => /site/nvidia/cudnn/lib/libcudnn.so.8 (0x00007f)\n'
            '\tlibcuda.so.1 => not found\n'
            '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n')
    assert check_gpu_install.parse_ldd(text) == {
        'libcudnn.so.8': '/site/nvidia/cudnn/lib/libcudnn.so.8', 'libcuda.so.1': None,
        'libc.so.6': '/lib/x86_64-linux-gnu/libc.so.6'}


@with_the_cpu_build
def test_check_gpu_install_on_this_cpu_build():
    result = subprocess.run([sys.executable, os.path.join(REPO, 'tools', 'check_gpu_install.py')],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == ("This is MXNet's CPU build: it needs no CUDA "
                                              "library.")


def test_a_driver_error_while_counting_gpus_counts_as_none():
    mx_fake = fake_mxnet(FakeMXNetError('CUDA: CUDA driver version is insufficient'))
    assert devices.choose_context(mx_fake, 'auto')[0] == 'cpu(0)'
    with pytest.raises(devices.ContextError, match='MXNet sees no GPU'):
        devices.choose_context(mx_fake, 'gpu')


@where_no_gpu
def test_on_this_cpu_build_auto_picks_the_cpu():
    assert devices.choose_context(mx, 'auto')[0] == mx.cpu()


# ============================== Pythons ==============================

@pytest.mark.parametrize('version', [(3, 10), (3, 11), (3, 12)])
def test_supported_pythons_pass(version):
    assert mxnet_setup.python_support_problem(version + (0, 'final', 0)) is None


@pytest.mark.parametrize('version', [(3, 9), (3, 13), (3, 14), (4, 0)])
def test_other_pythons_are_refused_with_the_way_to_a_supported_one(version):
    line = mxnet_setup.python_support_problem(version)
    assert line.startswith('Python %d.%d cannot run MXNet 1.9.1, which supports Python 3.10 to '
                           '3.12' % version)
    assert 'uv venv --seed --python 3.12' in line and 'pyenv install 3.12' in line
    assert '\n' not in line


def pyenv_python(minor):
    """A pyenv interpreter of version `minor` ('3.13'), or None."""
    root = os.path.join(os.path.expanduser('~'), '.pyenv', 'versions')
    names = sorted(os.listdir(root)) if os.path.isdir(root) else []
    found = [os.path.join(root, name, 'bin', 'python3') for name in names
             if name.startswith(minor + '.')]
    return found[-1] if found else None


def bare_python(minor, *args):
    """`args` run by a real interpreter of version `minor` with none of the requirements (and
    no user site), in the repository; skips when this machine has no such Python."""
    python = pyenv_python(minor)
    if python is None:
        pytest.skip('no Python %s on this machine (pyenv)' % minor)
    return subprocess.run([python, '-E', '-s', *args], capture_output=True, text=True,
                          cwd=REPO, timeout=60)


def assert_refused_in_one_line(done, start):
    assert done.returncode == 1
    assert done.stdout == ''
    assert done.stderr.startswith(start)
    assert done.stderr.count('\n') == 1


@pytest.mark.parametrize('minor', ['3.13', '3.9'])
@pytest.mark.parametrize('program', ['dcgan_mnist.py', 'score.py',
                                     os.path.join('tools', 'benchmark.py'),
                                     'launch.py', os.path.join('tests', 'conftest.py')])
def test_every_program_and_the_tests_refuse_other_pythons_in_one_line(program, minor):
    """The refusal comes before anything that Python lacks (numpy, or a module of a newer
    standard library)."""
    done = bare_python(minor, os.path.join(REPO, program), '--help')
    assert_refused_in_one_line(done, 'error: Python %s cannot run MXNet 1.9.1' % minor)


def test_sample_py_on_python_3_13_draws_from_exports_only(tmp_path):
    """sample.py runs on 3.13 (its exported-model route needs no MXNet): help is given, a
    checkpoint is refused as MXNet's setup refuses it, and a model file needs the portable
    packages, which this bare Python lacks: one line naming the install."""
    sample = os.path.join(REPO, 'sample.py')
    done = bare_python('3.13', sample, '--help')
    assert done.returncode == 0 and done.stdout.startswith('usage: sample.py')
    assert_refused_in_one_line(bare_python('3.13', sample, str(tmp_path)),
                               'error: Python 3.13 cannot run MXNet 1.9.1')
    model = tmp_path / 'generator.onnx'
    model.write_bytes(b'')
    assert_refused_in_one_line(bare_python('3.13', sample, str(model)),
                               'error: drawing from an ONNX model needs numpy: pip install '
                               '-r requirements-portable.txt')
    assert_refused_in_one_line(bare_python('3.9', sample, '--help'),
                               'error: Python 3.9 cannot run sample.py, which needs Python '
                               '3.10 or newer')


class Numpy124:
    """numpy >= 1.24 as MXNet meets it: the builtin aliases gone, np.bool_ still there."""
    bool_ = bool


def test_removed_numpy_aliases_are_restored():
    numpy = Numpy124()
    assert mxnet_setup.restore_numpy_aliases(numpy) == ['bool', 'int', 'float', 'complex',
                                                        'object', 'str']
    assert (numpy.bool, numpy.int, numpy.float, numpy.object) == (bool, int, float, object)


def test_numpys_own_names_are_never_replaced():
    """numpy 2 has np.bool again, as its own boolean type: it must stay numpy's."""
    numpy = Numpy124()
    numpy.bool = numpy.bool_ = type('numpy_bool', (), {})
    assert 'bool' not in mxnet_setup.restore_numpy_aliases(numpy)
    assert numpy.bool is numpy.bool_


def test_the_aliases_mxnet_uses_are_there_after_setup():
    import numpy as np
    with warnings.catch_warnings():  # numpy 1.23 warns on each look-up
        warnings.simplefilter('ignore', DeprecationWarning)
        assert all(hasattr(np, name) for name in mxnet_setup.REMOVED_NUMPY_ALIASES)


NGC_LIKE = '''
import site, sys
site.addsitedir(sys.argv[1])
sys.path.insert(0, sys.argv[2])
import importlib.metadata
from dcgan import mxnet_setup
assert mxnet_setup.gpu_build_installed() is False
from dcgan.framework import mx
from dcgan import devices, gpu_code
assert [d.metadata['Name'] for d in importlib.metadata.distributions()
        if d.metadata['Name'].startswith('mxnet')] == ['mxnet-ngc']
with open('/proc/self/maps') as maps:
    assert '/nvidia/' not in maps.read()
print(devices.choose_context(mx, 'auto')[0], gpu_code.loaded_library())
'''


@with_the_cpu_build
def test_an_mxnet_of_another_distribution_is_used_as_it_is(tmp_path):
    """As in NVIDIA's container, whose MXNet is its own build (not mxnet or mxnet-cu112 from
    PyPI) and whose CUDA is the system's: nothing is preloaded (here, CUDA wheel files that
    would crash the import if they were loaded), nothing is refused, MXNet's library is found.
    A site folder of this environment's packages, with mxnet's record renamed."""
    real_site = os.path.dirname(os.path.dirname(mx.__file__))
    site = tmp_path / 'site-packages'
    site.mkdir()
    for name in os.listdir(real_site):
        if name.startswith('mxnet-') and name.endswith('.dist-info'):
            record = site / 'mxnet_ngc-1.9.1.dist-info'
            record.mkdir()
            (record / 'METADATA').write_text('Metadata-Version: 2.1\nName: mxnet-ngc\n'
                                             'Version: 1.9.1+nv24.6\n')
        elif name != 'nvidia':
            (site / name).symlink_to(os.path.join(real_site, name))
    for relative in mxnet_setup.CUDA_WHEEL_LIBRARIES:  # not libraries: loading one fails
        path = site / 'nvidia' / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b'not a library')
    result = subprocess.run([sys.executable, '-S', '-c', NGC_LIKE, str(site), REPO],
                            capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ['cpu(0)', os.path.join(str(site), 'mxnet', 'libmxnet.so')]
