/* CUDA variant of the layer reduction's fold. */
#include "solomonik.h"

#include <cuda_runtime.h>

namespace solomonik {

namespace {

__global__ void fold_kernel(matmul::Tile c, matmul::Tile p)
{
  long long col = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  long long row = blockIdx.y * (long long)blockDim.y + threadIdx.y;
  if (row >= c.rows || col >= c.cols) return;
  c.base[row * c.ld + col * c.cs] += p.base[row * p.ld + col * p.cs];
}

}  // namespace

void fold_gpu(matmul::Tile c, matmul::Tile p, void *stream)
{
  if (c.rows == 0 || c.cols == 0) return;
  dim3 block(32, 8);
  dim3 grid((unsigned)((c.cols + 31) / 32), (unsigned)((c.rows + 7) / 8));
  fold_kernel<<<grid, block, 0, (cudaStream_t)stream>>>(c, p);
}

}  // namespace solomonik
