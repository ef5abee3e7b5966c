/* A stand-in for the NVIDIA driver's libcuda.so.1 on a machine without a GPU: every driver
 * call answers CUDA_ERROR_NO_DEVICE, as the real driver does where no card is present.
 *
 * MXNet's GPU build (mxnet-cu112) links libcuda.so.1: without one the library cannot even be
 * loaded, and every command refuses in one line naming the missing driver. With this one,
 * MXNet loads, counts no GPU (the CUDA runtime's "no device" is zero GPUs to MXNet) and the
 * program trains on the CPU: the GPU box's own test command can run in CI, which has no GPU.
 *
 * Build:  gcc -shared -fPIC -o STAND_IN/libcuda.so.1 tests/stand_in_libcuda.c
 * Use:    LD_LIBRARY_PATH=STAND_IN python -m pytest   (in a venv of requirements.txt)
 *
 * The functions defined are those libmxnet.so 1.9.1 (mxnet-cu112) imports from libcuda.so.1
 * (`nm -D --undefined-only libmxnet.so | grep ' cu[A-Z]'`), which the dynamic linker must
 * find, and those the program and the CUDA runtime call to find a device. The CUDA runtime
 * (libcudart) opens libcuda.so.1 itself and looks up what it needs: a name it cannot find
 * counts, to it, as a driver too old, which MXNet also takes as zero GPUs.
 * tests/test_stand_in_driver.py checks all of this.
 */

#define CUDA_SUCCESS 0
#define CUDA_ERROR_INVALID_VALUE 1
#define CUDA_ERROR_NO_DEVICE 100

/* What the real driver answers on a machine with no card. */
#define NO_DEVICE(name) int name(void) { return CUDA_ERROR_NO_DEVICE; }

/* Finding a device: what the CUDA runtime and dcgan/devices.py ask first. */
NO_DEVICE(cuInit)
NO_DEVICE(cuDeviceGetCount)
NO_DEVICE(cuDeviceGetAttribute)
NO_DEVICE(cuGetProcAddress)

/* Imported by libmxnet.so: never reached without a device. */
NO_DEVICE(cuDeviceGet)
NO_DEVICE(cuDevicePrimaryCtxRetain)
NO_DEVICE(cuGraphKernelNodeGetParams)
NO_DEVICE(cuGraphNodeGetType)
NO_DEVICE(cuLaunchKernel)
NO_DEVICE(cuModuleGetFunction)
NO_DEVICE(cuModuleLoadData)
NO_DEVICE(cuModuleLoadDataEx)
NO_DEVICE(cuModuleUnload)

/* The driver's version: a CUDA 11.8 driver, so that "no device" is the only answer given. */
int cuDriverGetVersion(int *version)
{
    if (!version)
        return CUDA_ERROR_INVALID_VALUE;
    *version = 11080;
    return CUDA_SUCCESS;
}

/* The driver's words for an error, which MXNet prints. */
int cuGetErrorString(int error, const char **text)
{
    if (!text)
        return CUDA_ERROR_INVALID_VALUE;
    *text = error == CUDA_ERROR_NO_DEVICE ? "no CUDA-capable device is detected"
                                          : "unknown error (stand-in driver)";
    return CUDA_SUCCESS;
}

int cuGetErrorName(int error, const char **name)
{
    if (!name)
        return CUDA_ERROR_INVALID_VALUE;
    *name = error == CUDA_ERROR_NO_DEVICE ? "CUDA_ERROR_NO_DEVICE" : "CUDA_ERROR_UNKNOWN";
    return CUDA_SUCCESS;
}
