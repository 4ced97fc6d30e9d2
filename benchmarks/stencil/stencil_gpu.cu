/* CUDA variants of the stencil kernels. */
#include "stencil.h"

#include <cuda_runtime.h>

namespace stencil {

namespace {

__device__ inline double &at(const Block &b, long long x, long long y)
{
  return b.base[(x - b.lo_x) * b.sx + (y - b.lo_y) * b.sy];
}

__global__ void stencil_kernel(Block out, Block in)
{
  long long x = out.lo_x + blockIdx.x * (long long)blockDim.x + threadIdx.x;
  long long y = out.lo_y + blockIdx.y * (long long)blockDim.y + threadIdx.y;
  if (x > out.hi_x || y > out.hi_y) return;
  double sum = 0.0;
  for (int k = 1; k <= RADIUS; k++) {
    double w = 1.0 / (2.0 * k * RADIUS);
    sum += w * (at(in, x + k, y) - at(in, x - k, y)) + w * (at(in, x, y + k) - at(in, x, y - k));
  }
  at(out, x, y) += sum;
}

__global__ void increment_kernel(Block in)
{
  long long x = in.lo_x + blockIdx.x * (long long)blockDim.x + threadIdx.x;
  long long y = in.lo_y + blockIdx.y * (long long)blockDim.y + threadIdx.y;
  if (x > in.hi_x || y > in.hi_y) return;
  at(in, x, y) += 1.0;
}

__global__ void init_kernel(Block in, Block out)
{
  long long x = in.lo_x + blockIdx.x * (long long)blockDim.x + threadIdx.x;
  long long y = in.lo_y + blockIdx.y * (long long)blockDim.y + threadIdx.y;
  if (x > in.hi_x || y > in.hi_y) return;
  at(in, x, y) = double(x + y);
  at(out, x, y) = 0.0;
}

dim3 grid_for(const Block &b, dim3 threads)
{
  long long nx = b.hi_x - b.lo_x + 1, ny = b.hi_y - b.lo_y + 1;
  return dim3((unsigned)((nx + threads.x - 1) / threads.x), (unsigned)((ny + threads.y - 1) / threads.y));
}

bool empty(const Block &b) { return b.hi_x < b.lo_x || b.hi_y < b.lo_y; }

}  // namespace

void stencil_gpu(Block out, Block in, void *stream)
{
  if (empty(out)) return;
  dim3 threads(32, 8);
  stencil_kernel<<<grid_for(out, threads), threads, 0, (cudaStream_t)stream>>>(out, in);
}

void increment_gpu(Block in, void *stream)
{
  if (empty(in)) return;
  dim3 threads(32, 8);
  increment_kernel<<<grid_for(in, threads), threads, 0, (cudaStream_t)stream>>>(in);
}

void init_gpu(Block in, Block out, void *stream)
{
  if (empty(in)) return;
  dim3 threads(32, 8);
  init_kernel<<<grid_for(in, threads), threads, 0, (cudaStream_t)stream>>>(in, out);
}

}  // namespace stencil
