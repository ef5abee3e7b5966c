"""What must happen before `import mxnet`: a Python that can run it, thread defaults, numpy's
removed aliases, the CUDA libraries of the GPU build, and a clear word when MXNet cannot load.
(The import itself is dcgan/framework.py's; the choice of device is dcgan/devices.py's.)

Import this module before numpy and MXNet: on a Python that MXNet 1.9.1 cannot run it stops the
program with one line saying which Pythons can. OpenMP reads its thread count once, when MXNet's
native library loads, and MXNet 1.9 on its own uses a single OpenMP thread on a two-core
machine (about twice as slow here as two threads). For the GPU build (mxnet-cu112) it loads
the CUDA 11 libraries that requirements.txt installs as PyPI wheels (nvidia-*-cu11), so that
no system CUDA toolkit is needed: libmxnet.so then finds them already loaded.
"""
import sys

CPU_REQUIREMENTS = 'requirements-cpu.txt'
GPU_REQUIREMENTS = 'requirements.txt'
# MXNet 1.9.1, the last release, runs on these Pythons only (README, "Quick start"): it needs
# numpy<2, which has no wheel for 3.13, and our pins (pytest 9) start at 3.10.
OLDEST_PYTHON = (3, 10)
NEWEST_PYTHON = (3, 12)


def python_support_problem(version=sys.version_info):
    """One line saying why this Python cannot run the project and how to get one that can, or
    None when it can."""
    if OLDEST_PYTHON <= tuple(version[:2]) <= NEWEST_PYTHON:
        return None
    newest = '%d.%d' % NEWEST_PYTHON
    return ('Python %d.%d cannot run MXNet 1.9.1, which supports Python %d.%d to %s; make an '
            'environment with one of those (uv venv --seed --python %s, pyenv install %s, or '
            'conda create -n dcgan python=%s), then pip install -r %s (or %s on a GPU box) in '
            'it' % (version[0], version[1], OLDEST_PYTHON[0], OLDEST_PYTHON[1], newest, newest,
                    newest, newest, CPU_REQUIREMENTS, GPU_REQUIREMENTS))


def refuse_unsupported_python():
    problem = python_support_problem()
    if problem:
        sys.exit('error: ' + problem)


# Before anything else, so that an old Python too gets this line rather than an ImportError.
refuse_unsupported_python()

import ctypes  # noqa: E402
import importlib.metadata  # noqa: E402
import importlib.util  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import warnings  # noqa: E402

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
    # With several devices a Module sums their gradients through a local kvstore. Updating on
    # the kvstore would keep the optimizer's state there, where checkpoints cannot reach it;
    # updating on each device with the summed gradients is the same step, and checkpointable.
    environ.setdefault('MXNET_UPDATE_ON_KVSTORE', '0')
    # cuDNN convolution autotuning, on a GPU: '1' (MXNet's own default, set here on purpose)
    # times the candidate algorithms of each convolution once, at its first run, within a
    # bounded workspace. The shapes never change during a run, so the few seconds it costs
    # are repaid every iteration. The fastest algorithms may be non-deterministic: set
    # MXNET_CUDNN_AUTOTUNE_DEFAULT=0 for runs that must repeat bit for bit on a GPU.
    environ.setdefault('MXNET_CUDNN_AUTOTUNE_DEFAULT', '1')


# CUDA libraries from the nvidia-*-cu11 wheels, in an order in which each one's own
# dependencies come first (the dynamic loader then reuses them by their sonames). cuDNN 8
# opens its sub-libraries by name at run time: loaded here, they are found.
CUDA_WHEEL_LIBRARIES = (
    'cuda_runtime/lib/libcudart.so.11.0', 'cublas/lib/libcublasLt.so.11',
    'cublas/lib/libcublas.so.11', 'cufft/lib/libcufft.so.10', 'curand/lib/libcurand.so.10',
    'cusolver/lib/libcusolver.so.11', 'cuda_nvrtc/lib/libnvrtc.so.11.2',
    'nvtx/lib/libnvToolsExt.so.1', 'nccl/lib/libnccl.so.2',
    'cudnn/lib/libcudnn_ops_infer.so.8', 'cudnn/lib/libcudnn_ops_train.so.8',
    'cudnn/lib/libcudnn_cnn_infer.so.8', 'cudnn/lib/libcudnn_cnn_train.so.8',
    'cudnn/lib/libcudnn_adv_infer.so.8', 'cudnn/lib/libcudnn_adv_train.so.8',
    'cudnn/lib/libcudnn.so.8')
GPU_DISTRIBUTION = 'mxnet-cu112'


def gpu_build_installed():
    try:
        importlib.metadata.distribution(GPU_DISTRIBUTION)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def cuda_wheel_libraries(paths=None):
    """{relative path: absolute path} of the CUDA wheel libraries found on `paths` (sys.path)."""
    found = {}
    for entry in paths if paths is not None else sys.path:
        for relative in CUDA_WHEEL_LIBRARIES:
            if relative not in found:
                candidate = os.path.join(entry, 'nvidia', relative)
                if os.path.isfile(candidate):
                    found[relative] = candidate
    return found


def preload_cuda_libraries(paths=None, load=ctypes.CDLL):
    """Load the CUDA wheel libraries globally; returns the relative paths that are missing."""
    found = cuda_wheel_libraries(paths)
    for relative in CUDA_WHEEL_LIBRARIES:
        if relative in found:
            load(found[relative], mode=ctypes.RTLD_GLOBAL)
    return [relative for relative in CUDA_WHEEL_LIBRARIES if relative not in found]


# numpy 1.24 removed the aliases np.bool, np.int, np.float, np.complex, np.object and np.str
# (the builtins under other names); MXNet 1.9.1 still uses some of them at import and in its
# operators. numpy 1.23.5 (Python < 3.12) has them; numpy 1.26.4 (Python 3.12, where 1.23.5
# has no wheel) does not, and gets them back here. This can go when MXNet is left behind.
REMOVED_NUMPY_ALIASES = {'bool': bool, 'int': int, 'float': float, 'complex': complex,
                         'object': object, 'str': str}


def restore_numpy_aliases(numpy):
    """Give `numpy` back the removed aliases it lacks (never replacing its own); returns the
    names restored."""
    with warnings.catch_warnings():  # numpy 1.20-1.26 warn when they are looked up
        warnings.simplefilter('ignore')
        missing = [name for name in REMOVED_NUMPY_ALIASES if not hasattr(numpy, name)]
    for name in missing:
        setattr(numpy, name, REMOVED_NUMPY_ALIASES[name])
    return missing


def serve_until_the_workers_end(environ=os.environ, set_handler=signal.signal):
    """A parameter server or the scheduler of a distributed job (DMLC_ROLE, set by MXNet's
    launcher) serves inside `import mxnet` until every worker has finished. A stop signal to
    the whole job (SIGTERM from a cluster's scheduler, Ctrl-C at a terminal) must not end it
    first: the workers are finishing their iteration and the chief saves a checkpoint through
    it. So these roles ignore SIGINT and SIGTERM, and end when the workers do (launch.py kills
    what is left when they cannot). Returns whether it was such a role."""
    if environ.get('DMLC_ROLE') not in ('server', 'scheduler'):
        return False
    for number in (signal.SIGINT, signal.SIGTERM):
        set_handler(number, signal.SIG_IGN)
    return True


# The packages every command that runs MXNet imports (by module name): where one is missing,
# this Python is not the project's environment.
REQUIRED_MODULES = ('numpy', 'mxnet', 'cv2', 'matplotlib')


def missing_requirements_problem(find_spec=importlib.util.find_spec):
    """One line saying that this Python lacks the requirements and what to do, or None."""
    missing = [name for name in REQUIRED_MODULES if find_spec(name) is None]
    if not missing:
        return None
    return ('this Python (%s) lacks %s: it is not the environment made for this project. '
            'Activate that one (source .venv/bin/activate), or make it: python -m venv .venv '
            '&& .venv/bin/pip install -r %s (%s on a GPU box)'
            % (sys.executable, ', '.join(missing), CPU_REQUIREMENTS, GPU_REQUIREMENTS))


def refuse_missing_requirements():
    problem = missing_requirements_problem()
    if problem:
        sys.exit('error: ' + problem)


refuse_missing_requirements()
set_thread_defaults()
serve_until_the_workers_end()
import numpy  # noqa: E402  (after the thread defaults: its BLAS reads them as it loads)
restore_numpy_aliases(numpy)
if gpu_build_installed():
    preload_cuda_libraries()


def explain_load_failure(error, gpu_build=None):
    """One line saying why MXNet's native library did not load, and what to do about it
    (`gpu_build`: whether the installed MXNet is the GPU build; by default, looked up)."""
    reason = str(error).splitlines()[0]
    without_gpu = 'pip uninstall -y mxnet-cu112 && pip install -r %s' % CPU_REQUIREMENTS
    if 'libcuda.so' in reason:
        return ('MXNet\'s GPU build is installed but no NVIDIA driver was found (%s). On a '
                'machine without a GPU: %s' % (reason, without_gpu))
    if any(library in reason for library in CUDA_LIBRARIES):
        return ('MXNet\'s GPU build is installed but a CUDA 11 library is missing (%s). On a '
                'GPU box: pip install -r %s; on a machine without a GPU: %s'
                % (reason, GPU_REQUIREMENTS, without_gpu))
    if gpu_build is None:
        gpu_build = gpu_build_installed()
    return ('MXNet\'s native library could not be loaded (%s). Reinstall it: '
            'pip install -r %s' % (reason, GPU_REQUIREMENTS if gpu_build else CPU_REQUIREMENTS))
