"""Which device(s) to train on: the tutorial's rule (gpu(0) when MXNet sees a GPU, else the
CPU), device lists for several GPUs, and a refusal, with the way out, of a GPU that the
installed MXNet build has no code for.

Every function takes the `mx` module as an argument, so that tests can hand it a stand-in for a
machine with GPUs.
"""
import ctypes


class ContextError(Exception):
    """The requested device is not available."""


def gpu_count(mx):
    """GPUs MXNet can use; 0 for the CPU build or when the CUDA runtime reports none."""
    try:
        return mx.context.num_gpus()
    except mx.base.MXNetError:  # GPU build, but the driver is missing or too old
        return 0


# mxnet-cu112 1.9.1 carries machine code for sm_50, 60, 70, 80 and 86 and no PTX: a card runs
# it when the code of its own major version is there (a cubin runs on later minor versions
# of the same major), so Maxwell to Ampere and Ada, not Kepler, Hopper (9.0) or newer.
SUPPORTED_MAJORS = (5, 6, 7, 8)
_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76


def compute_capability(device):
    """(major, minor) of GPU `device`, from the NVIDIA driver's own library."""
    cuda = ctypes.CDLL('libcuda.so.1')
    handle, major, minor = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    if (cuda.cuInit(0) or cuda.cuDeviceGet(ctypes.byref(handle), device)
            or cuda.cuDeviceGetAttribute(ctypes.byref(major),
                                         _CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, handle)
            or cuda.cuDeviceGetAttribute(ctypes.byref(minor),
                                         _CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, handle)):
        raise ContextError('the NVIDIA driver could not describe GPU %d' % device)
    return major.value, minor.value


def check_gpu_supported(device, capability=compute_capability):
    """Raise ContextError, with the way out, when this MXNet build has no code for the GPU."""
    major, minor = capability(device)
    if major not in SUPPORTED_MAJORS:
        raise ContextError(
            'GPU %d has compute capability %d.%d, which mxnet-cu112 1.9.1 has no code for (it '
            'carries sm_50/60/70/80/86 only, no PTX); build MXNet 1.9.1 from source with '
            'CUDA >= 11.8 and MXNET_CUDA_ARCH=%d.%d for this card, or train with --context cpu'
            % (device, major, minor, major, minor))


def choose_context(mx, choice, check=check_gpu_supported):
    """The device to train on for `choice` in ('auto', 'cpu', 'gpu'), and a notice or None.

    'auto' is the tutorial's rule, gpu(0) when MXNet sees a GPU and the CPU otherwise, and
    says so when it falls back to the CPU. A GPU this MXNet cannot run on is refused.
    """
    gpus = gpu_count(mx)
    if choice == 'cpu':
        return mx.cpu(), None
    if choice == 'gpu':
        if not gpus:
            raise ContextError('--context gpu: MXNet sees no GPU (is this the CPU build of '
                               'MXNet, or is the NVIDIA driver missing?)')
        check(0)
        return mx.gpu(0), None
    if gpus:
        check(0)
        return mx.gpu(0), None
    return mx.cpu(), 'No GPU visible to MXNet: training on the CPU, which is much slower.'


def choose_devices(mx, kind, devices, check=check_gpu_supported):
    """Contexts for a device list: ('gpu', [0, 1]) is [gpu(0), gpu(1)]. Each batch is split
    across them in equal parts, each part with its own BatchNorm statistics."""
    if kind == 'cpu':
        return [mx.cpu(device) for device in devices]
    gpus = gpu_count(mx)
    unknown = [device for device in devices if device >= gpus]
    if unknown:
        raise ContextError('GPU %d is not there: MXNet sees %d GPU%s'
                           % (unknown[0], gpus, '' if gpus == 1 else 's'))
    for device in devices:
        check(device)
    return [mx.gpu(device) for device in devices]
