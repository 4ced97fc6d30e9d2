/* CUDA variants of the PENNANT kernels: one thread per point, zone or side, each calling the
 * physics shared with the CPU variants (pennant.h). */
#include "pennant.h"

#include <cuda_runtime.h>

namespace pennant {

namespace {

constexpr int THREADS = 256;

__device__ inline long long entity_of(const Run *runs, int n, long long t)
{
  int lo = 0, hi = n - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (runs[mid].start <= t) lo = mid; else hi = mid - 1;
  }
  return runs[lo].lo + (t - runs[lo].start);
}

struct Flags {
  bool atomic[2];
};

__global__ void kernel(GpuKernel k, Views v, Params prm, double dt, Flags flags, const Run *runs, int n, long long total,
                       double *scratch)
{
  __shared__ double block_min[THREADS];
  long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  double mine = 1e99;
  if (t < total) {
    long long i = entity_of(runs, n, t);
    switch (k) {
      case K_ADV_POS_HALF: adv_pos_half(v, i, dt); break;
      case K_GEOMETRY_HALF: calc_geometry_half(v, i); break;
      case K_FORCES: calc_forces(v, prm, i, dt); break;
      case K_SUM_TO_POINTS: sum_to_points(v, i, flags.atomic); break;
      case K_ADV_POS_FULL: adv_pos_full(v, i, dt); break;
      case K_GEOMETRY_FULL_WORK: calc_geometry_full_work(v, i, dt); break;
      case K_ENERGY_DT: mine = calc_energy_dt(v, prm, i, dt); break;
    }
  }
  if (k != K_ENERGY_DT) return;
  block_min[threadIdx.x] = mine;
  __syncthreads();
  for (int stride = THREADS / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) block_min[threadIdx.x] = dmin(block_min[threadIdx.x], block_min[threadIdx.x + stride]);
    __syncthreads();
  }
  if (threadIdx.x == 0) scratch[blockIdx.x] = block_min[0];
}

}  // namespace

double launch_gpu(GpuKernel k, const Views &v, const Params &prm, double dt, const bool *atomic, const Run *runs,
                  int n_runs, long long total, double *scratch, void *stream)
{
  if (total <= 0) return 1e99;
  unsigned blocks = (unsigned)((total + THREADS - 1) / THREADS);
  Flags flags{{atomic[0], atomic[1]}};
  kernel<<<blocks, THREADS, 0, (cudaStream_t)stream>>>(k, v, prm, dt, flags, runs, n_runs, total, scratch);
  if (k != K_ENERGY_DT) return 0.0;
  cudaStreamSynchronize((cudaStream_t)stream);
  double m = 1e99;
  for (unsigned b = 0; b < blocks; b++) m = dmin(m, scratch[b]);
  return m;
}

}  // namespace pennant
