/* CUDA variants of the PENNANT kernels: one thread per point, zone or side, each calling the
 * physics shared with the CPU variants (pennant.h). The kernels use no memory but the regions'
 * instances: the runs that list a task's entities travel in the kernel arguments, and the
 * time-step minimum goes through a slot of a static device array. */
#include "pennant.h"

#include <atomic>
#include <cstring>
#include <cuda_runtime.h>

namespace pennant {

namespace {

constexpr int THREADS = 256;

/* Up to MAX_RUNS runs by value (kernel arguments are limited to 4 KiB); `runs[n]` is a sentinel
 * whose start is the chunk's entity count, and starts count from the chunk's first entity. */
constexpr int MAX_RUNS = 120;
struct RunChunk {
  Run runs[MAX_RUNS + 1];
  int n;
};

struct Flags {
  bool atomic[2];
};
static_assert(sizeof(Views) + sizeof(Params) + sizeof(RunChunk) + sizeof(Flags) + 64 < 4096, "kernel arguments over 4 KiB");

__device__ inline long long entity_of(const RunChunk &c, long long t)
{
  int lo = 0, hi = c.n - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (c.runs[mid].start <= t) lo = mid; else hi = mid - 1;
  }
  return c.runs[lo].lo + (t - c.runs[lo].start);
}

/* Time-step minima: a launch of K_ENERGY_DT takes a slot, resets it, folds its blocks' minima in
 * with atomicMin on order-preserving integer keys, and reads it back on its stream. A slot is
 * reused only SLOTS launches later, long after the launch that held it synchronized. */
constexpr unsigned SLOTS = 256;
__device__ unsigned long long dt_slots[SLOTS];
std::atomic<unsigned> next_slot{0};

__device__ inline unsigned long long order_key(double x)
{
  unsigned long long bits = (unsigned long long)__double_as_longlong(x);
  return bits >> 63 ? ~bits : bits | (1ull << 63);
}
inline double key_value(unsigned long long key)
{
  unsigned long long bits = key >> 63 ? key & ~(1ull << 63) : ~key;
  double x;
  memcpy(&x, &bits, sizeof(x));
  return x;
}

__global__ void kernel(GpuKernel k, Views v, Params prm, double dt, Flags flags, RunChunk chunk,
                       unsigned long long *dt_slot)
{
  __shared__ double block_min[THREADS];
  long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  double mine = 1e99;
  if (t < chunk.runs[chunk.n].start) {
    long long i = entity_of(chunk, t);
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
  if (threadIdx.x == 0) atomicMin(dt_slot, order_key(block_min[0]));
}

}  // namespace

double launch_gpu(GpuKernel k, const Views &v, const Params &prm, double dt, const bool *atomic, const Run *runs,
                  int n_runs, long long total, void *stream_ptr)
{
  if (total <= 0) return 1e99;
  cudaStream_t stream = (cudaStream_t)stream_ptr;
  Flags flags{{atomic[0], atomic[1]}};
  unsigned long long *slot = nullptr;
  if (k == K_ENERGY_DT) {
    cudaGetSymbolAddress((void **)&slot, dt_slots);
    slot += next_slot.fetch_add(1, std::memory_order_relaxed) % SLOTS;
    cudaMemsetAsync(slot, 0xff, sizeof(*slot), stream);  // the largest key
  }
  for (int first = 0; first < n_runs; first += MAX_RUNS) {
    RunChunk chunk;
    chunk.n = n_runs - first < MAX_RUNS ? n_runs - first : MAX_RUNS;
    const long long base = runs[first].start;
    for (int r = 0; r <= chunk.n; r++) chunk.runs[r] = Run{runs[first + r].lo, runs[first + r].start - base};
    const long long count = chunk.runs[chunk.n].start;
    if (count <= 0) continue;
    unsigned blocks = (unsigned)((count + THREADS - 1) / THREADS);
    kernel<<<blocks, THREADS, 0, stream>>>(k, v, prm, dt, flags, chunk, slot);
  }
  if (k != K_ENERGY_DT) return 0.0;
  unsigned long long key = ~0ull;
  cudaMemcpyAsync(&key, slot, sizeof(key), cudaMemcpyDeviceToHost, stream);
  cudaStreamSynchronize(stream);
  return key_value(key);
}

}  // namespace pennant
