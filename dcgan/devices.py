"""Which device(s) to train on: the tutorial's rule (gpu(0) when MXNet sees a GPU, else the
CPU), device lists for several GPUs, and a refusal, with the ways out, of a GPU that the
MXNet library in use has no code for.

Every function takes the `mx` module as an argument, so that tests can hand it a stand-in for a
machine with GPUs.
"""
import ctypes

from dcgan import gpu_code
from dcgan.errors import UserError


class ContextError(UserError):
    """The requested device is not available."""


def gpu_count(mx):
    """GPUs MXNet can use; 0 for the CPU build or when the CUDA runtime reports none."""
    try:
        return mx.context.num_gpus()
    except mx.base.MXNetError:  # GPU build, but the driver is missing or too old
        return 0


_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76
# MXNet built for Hopper and later, ready to run: NVIDIA's own, told in this README section.
README_GPU_SECTION = 'On a GPU box, and on H100, H200 and other Hopper cards'
NGC_IMAGE = 'nvcr.io/nvidia/mxnet:24.06-py3'
NGC_COMMAND = 'docker run --gpus all -it --rm -v "$PWD":/work -w /work ' + NGC_IMAGE


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


def check_gpu_supported(device, capability=compute_capability, library=None):
    """Raise ContextError, with the ways out, when the MXNet library this process runs
    (`library`, a path; by default the loaded libmxnet.so) has no code for GPU `device`.

    Decided from the GPU code the library itself carries (dcgan/gpu_code.py), so that an MXNet
    built for the card (NVIDIA's container, a source build) is accepted. A library whose code
    cannot be read, or that has none (then it is not where MXNet was looked for), is not
    refused: MXNet will say for itself if it cannot run.
    """
    path = library or gpu_code.loaded_library()
    try:
        carried = gpu_code.read(path) if path else gpu_code.GpuCode()
    except gpu_code.GpuCodeError:
        return
    major, minor = capability(device)
    if not carried or carried.runs_on((major, minor)):
        return
    raise ContextError(
        'GPU %d has compute capability %d.%d, which this MXNet cannot run on: %s carries %s. '
        'Ways out: NVIDIA\'s MXNet container, built for it (%s; README, "%s"); MXNet 1.9.1 '
        'built from source with CUDA >= 11.8, cuDNN 8.9 and MXNET_CUDA_ARCH=%d.%d; or train '
        'on the CPU with --context cpu'
        % (device, major, minor, path, carried.describe(), NGC_COMMAND, README_GPU_SECTION,
           major, minor))


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
