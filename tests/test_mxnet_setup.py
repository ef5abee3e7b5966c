"""Thread defaults, the explanation of a failed MXNet load, and the choice of device."""
import types

import mxnet as mx
import pytest

import mxnet_setup


def test_thread_default_is_one_per_usable_cpu():
    environ = {}
    mxnet_setup.set_thread_defaults(environ)
    assert environ['OMP_NUM_THREADS'] == str(mxnet_setup.usable_cpu_count())


def test_a_users_thread_setting_is_respected():
    environ = {'OMP_NUM_THREADS': '1'}
    mxnet_setup.set_thread_defaults(environ)
    assert environ['OMP_NUM_THREADS'] == '1'


def test_other_load_failures_point_to_a_reinstall():
    line = mxnet_setup.explain_load_failure(OSError('libmxnet.so: undefined symbol: foo\nmore'))
    assert line == ("MXNet's native library could not be loaded (libmxnet.so: undefined symbol: "
                    "foo). Reinstall it: pip install -r requirements-cpu.txt")


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
    assert mxnet_setup.choose_context(fake_mxnet(gpus), choice) == expected


def test_a_driver_error_while_counting_gpus_counts_as_none():
    mx_fake = fake_mxnet(FakeMXNetError('CUDA: CUDA driver version is insufficient'))
    assert mxnet_setup.choose_context(mx_fake, 'auto')[0] == 'cpu(0)'
    with pytest.raises(mxnet_setup.ContextError, match='MXNet sees no GPU'):
        mxnet_setup.choose_context(mx_fake, 'gpu')


def test_on_this_cpu_build_auto_picks_the_cpu():
    assert mxnet_setup.choose_context(mx, 'auto')[0] == mx.cpu()
