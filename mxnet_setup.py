"""What must happen around `import mxnet`: thread defaults, a clear word when it cannot load,
and the choice of device.

Import this module before MXNet itself: OpenMP reads its thread count once, when MXNet's
native library loads, and MXNet 1.9 on its own uses a single OpenMP thread on a two-core
machine (about twice as slow here as two threads).
"""
import os

CPU_REQUIREMENTS = 'requirements-cpu.txt'
GPU_REQUIREMENTS = 'requirements.txt'
# The CUDA libraries that mxnet-cu112's libmxnet.so links against, besides the driver's libcuda.
CUDA_LIBRARIES = ('libcudart', 'libcublas', 'libcudnn', 'libcufft', 'libcurand', 'libcusolver',
                  'libnvrtc', 'libnvToolsExt', 'libnccl')


def usable_cpu_count():
    """CPUs this process may run on (respects taskset and container CPU sets)."""
    if hasattr(os, 'sched_getaffinity'):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def set_thread_defaults(environ=os.environ):
    """One OpenMP thread per usable CPU, unless the user already chose (OMP_NUM_THREADS)."""
    environ.setdefault('OMP_NUM_THREADS', str(usable_cpu_count()))
    # MXNet logs a line every time it binds a graph with oneDNN; that is noise here.
    environ.setdefault('MXNET_SUBGRAPH_VERBOSE', '0')


set_thread_defaults()


def explain_load_failure(error):
    """One line saying why MXNet's native library did not load, and what to do about it."""
    reason = str(error).splitlines()[0]
    without_gpu = 'pip uninstall -y mxnet-cu112 && pip install -r %s' % CPU_REQUIREMENTS
    if 'libcuda.so' in reason:
        return ('MXNet\'s GPU build is installed but no NVIDIA driver was found (%s). On a '
                'machine without a GPU: %s' % (reason, without_gpu))
    if any(library in reason for library in CUDA_LIBRARIES):
        return ('MXNet\'s GPU build is installed but a CUDA 11 library is missing (%s). On a '
                'GPU box: pip install -r %s; on a machine without a GPU: %s'
                % (reason, GPU_REQUIREMENTS, without_gpu))
    return ('MXNet\'s native library could not be loaded (%s). Reinstall it: '
            'pip install -r %s' % (reason, CPU_REQUIREMENTS))


class ContextError(Exception):
    """The requested device is not available."""


def gpu_count(mx):
    """GPUs MXNet can use; 0 for the CPU build or when the CUDA runtime reports none."""
    try:
        return mx.context.num_gpus()
    except mx.base.MXNetError:  # GPU build, but the driver is missing or too old
        return 0


def choose_context(mx, choice):
    """The device to train on for `choice` in ('auto', 'cpu', 'gpu'), and a notice or None.

    'auto' is the tutorial's rule, gpu(0) when MXNet sees a GPU and the CPU otherwise, and
    says so when it falls back to the CPU.
    """
    gpus = gpu_count(mx)
    if choice == 'cpu':
        return mx.cpu(), None
    if choice == 'gpu':
        if not gpus:
            raise ContextError('--context gpu: MXNet sees no GPU (is this the CPU build of '
                               'MXNet, or is the NVIDIA driver missing?)')
        return mx.gpu(0), None
    if gpus:
        return mx.gpu(0), None
    return mx.cpu(), 'No GPU visible to MXNet: training on the CPU, which is much slower.'
