/* CUDA variants of the circuit kernels. */
#include "circuit.h"

#include <cuda_runtime.h>

namespace circuit {

namespace {

template <typename T>
__device__ inline T &at(const FieldView &f, long long i) { return *reinterpret_cast<T *>(f.base + i * f.stride); }

/* The point of thread t: the span holding t, by binary search over the span starts. */
__device__ inline long long point_of(const PointSpan *spans, int n, long long t)
{
  int lo = 0, hi = n - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (spans[mid].start <= t) lo = mid; else hi = mid - 1;
  }
  return spans[lo].lo + (t - spans[lo].start);
}

__global__ void calc_currents_kernel(CurrentsArgs a, const PointSpan *spans, int n, long long total)
{
  long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  if (t >= total) return;
  long long w = point_of(spans, n, t);
  float cur[WIRE_SEGMENTS], old_i[WIRE_SEGMENTS], v[WIRE_SEGMENTS + 1], old_v[WIRE_SEGMENTS - 1];
#pragma unroll
  for (int i = 0; i < WIRE_SEGMENTS; i++) old_i[i] = cur[i] = at<float>(a.current[i], w);
#pragma unroll
  for (int i = 0; i < WIRE_SEGMENTS - 1; i++) old_v[i] = v[i + 1] = at<float>(a.voltage[i], w);
  v[0] = at<float>(a.node_voltage[at<int>(a.in_loc, w)], at<long long>(a.in_ptr, w));
  v[WIRE_SEGMENTS] = at<float>(a.node_voltage[at<int>(a.out_loc, w)], at<long long>(a.out_ptr, w));
  const float ind = at<float>(a.inductance, w), rres = 1.0f / at<float>(a.resistance, w),
              rcap = 1.0f / at<float>(a.wire_cap, w), dt = a.dt, rdt = 1.0f / a.dt;
  for (int j = 0; j < a.steps; j++) {
#pragma unroll
    for (int i = 0; i < WIRE_SEGMENTS; i++) cur[i] = ((v[i + 1] - v[i]) - ind * (cur[i] - old_i[i]) * rdt) * rres;
#pragma unroll
    for (int i = 0; i < WIRE_SEGMENTS - 1; i++) v[i + 1] = old_v[i] + dt * (cur[i] - cur[i + 1]) * rcap;
  }
#pragma unroll
  for (int i = 0; i < WIRE_SEGMENTS; i++) at<float>(a.current[i], w) = cur[i];
#pragma unroll
  for (int i = 0; i < WIRE_SEGMENTS - 1; i++) at<float>(a.voltage[i], w) = v[i + 1];
}

__global__ void distribute_charge_kernel(ChargeArgs a, const PointSpan *spans, int n, long long total)
{
  long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  if (t >= total) return;
  long long w = point_of(spans, n, t);
  atomicAdd(&at<float>(a.charge[at<int>(a.in_loc, w)], at<long long>(a.in_ptr, w)), -a.dt * at<float>(a.current_in, w));
  atomicAdd(&at<float>(a.charge[at<int>(a.out_loc, w)], at<long long>(a.out_ptr, w)), a.dt * at<float>(a.current_out, w));
}

__global__ void update_voltages_kernel(VoltageArgs a, const PointSpan *spans, int n, long long total)
{
  long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  if (t >= total) return;
  long long i = point_of(spans, n, t);
  float &v = at<float>(a.voltage, i), &q = at<float>(a.charge, i);
  v = (v + q / at<float>(a.cap, i)) * (1.0f - at<float>(a.leakage, i));
  q = 0.0f;
}

constexpr int THREADS = 256;
unsigned blocks(long long total) { return (unsigned)((total + THREADS - 1) / THREADS); }

}  // namespace

void calc_currents_gpu(const CurrentsArgs &args, const PointSpan *spans, int n_spans, long long total, void *stream)
{
  if (total > 0) calc_currents_kernel<<<blocks(total), THREADS, 0, (cudaStream_t)stream>>>(args, spans, n_spans, total);
}

void distribute_charge_gpu(const ChargeArgs &args, const PointSpan *spans, int n_spans, long long total, void *stream)
{
  if (total > 0) distribute_charge_kernel<<<blocks(total), THREADS, 0, (cudaStream_t)stream>>>(args, spans, n_spans, total);
}

void update_voltages_gpu(const VoltageArgs &args, const PointSpan *spans, int n_spans, long long total, void *stream)
{
  if (total > 0) update_voltages_kernel<<<blocks(total), THREADS, 0, (cudaStream_t)stream>>>(args, spans, n_spans, total);
}

}  // namespace circuit
