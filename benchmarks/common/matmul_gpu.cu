/* CUDA leaves of the matrix multiplications: the tile fill and cuBLAS DGEMM on the task's stream. */
#include "matmul_leaf.h"

#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>
#ifdef HPCMAP_USE_CUBLAS
#include <cublas_v2.h>
#endif

namespace matmul {

namespace {

__global__ void fill_kernel(Tile t, int which)
{
  long long c = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  long long r = blockIdx.y * (long long)blockDim.y + threadIdx.y;
  if (r >= t.rows || c >= t.cols) return;
  t.base[r * t.ld + c * t.cs] = which == 2 ? 0.0 : value_of(which, t.row0 + r, t.col0 + c);
}

}  // namespace

void fill_gpu(Tile t, int which, void *stream)
{
  if (t.rows == 0 || t.cols == 0) return;
  dim3 block(32, 8);
  dim3 grid((unsigned)((t.cols + 31) / 32), (unsigned)((t.rows + 7) / 8));
  fill_kernel<<<grid, block, 0, (cudaStream_t)stream>>>(t, which);
}

#ifdef HPCMAP_USE_CUBLAS
namespace {

__global__ void add_one_kernel(double *p) { *p += 1.0; }

/* One cuBLAS handle per thread: a GPU processor's threads all run on that processor's GPU. */
cublasHandle_t handle()
{
  thread_local cublasHandle_t h = nullptr;
  if (!h && cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) {
    fprintf(stderr, "matmul: cublasCreate failed\n");
    abort();
  }
  return h;
}

}  // namespace

void gemm_gpu(Tile c, Tile a, Tile b, bool corrupt, void *stream)
{
  if (c.rows && c.cols && a.cols) {
    cublasHandle_t h = handle();
    cublasSetStream(h, (cudaStream_t)stream);
    const double one = 1.0;
    /* Row-major C = A B is column-major C^T = B^T A^T. */
    cublasStatus_t status = cublasDgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, (int)c.cols, (int)c.rows, (int)a.cols, &one,
                                        b.base, (int)b.ld, a.base, (int)a.ld, &one, c.base, (int)c.ld);
    if (status != CUBLAS_STATUS_SUCCESS) {
      fprintf(stderr, "matmul: cublasDgemm failed with status %d\n", (int)status);
      abort();
    }
  }
  if (corrupt && c.rows && c.cols) add_one_kernel<<<1, 1, 0, (cudaStream_t)stream>>>(c.base);
}
#endif

}  // namespace matmul
