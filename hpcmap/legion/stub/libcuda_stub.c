/* A libcuda.so.1 for hosts with no NVIDIA driver.
 *
 * The Legion and Realm libraries are built with CUDA support and need the driver library to load.
 * cuInit reports that there is no device, so Realm starts CPU-only. cuGetProcAddress is not
 * exported on purpose: Realm asserts when it finds it but cannot resolve entry points through it.
 * The other four symbols are referenced directly by liblegion and must exist to link and load. */
typedef int CUresult;
#define CUDA_SUCCESS 0
#define CUDA_ERROR_NO_DEVICE 100

CUresult cuInit(unsigned flags) { (void)flags; return CUDA_ERROR_NO_DEVICE; }
CUresult cuDriverGetVersion(int *version) { if (version) *version = 0; return CUDA_ERROR_NO_DEVICE; }
CUresult cuDeviceGetCount(int *count) { if (count) *count = 0; return CUDA_ERROR_NO_DEVICE; }

CUresult cuGetErrorName(CUresult error, const char **name)
{
  (void)error;
  if (name) *name = "CUDA_ERROR_NO_DEVICE";
  return CUDA_SUCCESS;
}

CUresult cuGetErrorString(CUresult error, const char **text)
{
  (void)error;
  if (text) *text = "no NVIDIA driver on this host (hpcmap libcuda stub)";
  return CUDA_SUCCESS;
}

CUresult cuMemFreeHost(void *ptr) { (void)ptr; return CUDA_ERROR_NO_DEVICE; }
CUresult cuMemFree_v2(unsigned long long ptr) { (void)ptr; return CUDA_ERROR_NO_DEVICE; }
