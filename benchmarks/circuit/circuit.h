/* Circuit simulation: constants, the deterministic circuit generator, and the kernels' views.
 * Shared by the Legion tasks (circuit.cc), the CUDA kernels (circuit_gpu.cu) and the sequential
 * reference; nothing here depends on Legion. */
#pragma once

#include <cstdint>

namespace circuit {

constexpr int WIRE_SEGMENTS = 10;
constexpr float DELTAT = 1e-6f;

enum Location : int32_t { PRIVATE_PTR = 0, SHARED_PTR = 1, GHOST_PTR = 2 };

/* One field of a 1-D instance: the element of point i is *(T *)(base + i * stride). */
struct FieldView {
  char *base;
  long long stride;  // bytes
};

template <typename T>
inline T &elem(const FieldView &f, long long i) { return *reinterpret_cast<T *>(f.base + i * f.stride); }

/* The points of a (possibly sparse) 1-D index space as runs: run r covers points lo[r] ..
 * lo[r] + (start[r+1] - start[r]) - 1, and is the start[r]-th .. points of the whole space. */
struct PointSpan {
  long long lo, start;
};

/* Deterministic generator (splitmix64), so every task and the sequential reference build the
 * same circuit from (seed, piece). */
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  uint64_t next_u64()
  {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return double(next_u64() >> 11) * (1.0 / 9007199254740992.0); }  // [0, 1)
};

struct NodeInit {
  float cap, leakage, voltage;
};

struct WireInit {
  float resistance, inductance, cap;
  long long in_node, out_node;
};

inline NodeInit make_node(Rng &rng)
{
  NodeInit n;
  n.cap = float(rng.uniform() + 1.0);
  n.leakage = float(0.1 * rng.uniform());
  n.voltage = float(2.0 * rng.uniform() - 1.0);
  return n;
}

/* Wire `k` of `piece`: its in node lies in the piece; its out node too with probability pct%,
 * otherwise in another piece. */
inline WireInit make_wire(Rng &rng, long long piece, long long pieces, long long npp, int pct)
{
  WireInit w;
  w.resistance = float(rng.uniform() * 10.0 + 1.0);
  w.inductance = float((rng.uniform() + 0.1) * DELTAT * 1e-3);
  w.cap = float(rng.uniform() * 0.1 + 0.01);
  w.in_node = piece * npp + (long long)(rng.uniform() * npp);
  if (pieces == 1 || rng.uniform() * 100.0 < pct) {
    w.out_node = piece * npp + (long long)(rng.uniform() * npp);
  } else {
    long long other = (long long)(rng.uniform() * (pieces - 1));
    if (other >= piece) other++;
    w.out_node = other * npp + (long long)(rng.uniform() * npp);
  }
  return w;
}

inline uint64_t node_seed(uint64_t seed, long long piece) { return seed * 1000003ull + 2 * piece + 1; }
inline uint64_t wire_seed(uint64_t seed, long long piece) { return seed * 1000003ull + 2 * piece + 2; }

/* Views of the fields each kernel uses. */
struct CurrentsArgs {
  FieldView current[WIRE_SEGMENTS];          // RW
  FieldView voltage[WIRE_SEGMENTS - 1];      // RW
  FieldView in_ptr, out_ptr, in_loc, out_loc;  // RO: long long, long long, int32, int32
  FieldView inductance, resistance, wire_cap;  // RO
  FieldView node_voltage[3];                 // RO, by Location
  int steps;
  float dt;
};

struct ChargeArgs {
  FieldView in_ptr, out_ptr, in_loc, out_loc, current_in, current_out;  // RO
  FieldView charge[3];  // private RW, shared and ghost REDUCE (sum)
  float dt;
};

struct VoltageArgs {
  FieldView voltage, charge, cap, leakage;
};

/* Per-wire and per-node math, written once for the CPU variants and the reference. */
inline void wire_currents(float *cur, float *volt, float v_in, float v_out, float ind, float res, float cap,
                          int steps, float dt)
{
  float temp_v[WIRE_SEGMENTS + 1], old_i[WIRE_SEGMENTS], old_v[WIRE_SEGMENTS - 1];
  for (int i = 0; i < WIRE_SEGMENTS; i++) old_i[i] = cur[i];
  for (int i = 0; i < WIRE_SEGMENTS - 1; i++) old_v[i] = temp_v[i + 1] = volt[i];
  temp_v[0] = v_in;
  temp_v[WIRE_SEGMENTS] = v_out;
  const float rdt = 1.0f / dt, rres = 1.0f / res, rcap = 1.0f / cap;
  for (int j = 0; j < steps; j++) {
    for (int i = 0; i < WIRE_SEGMENTS; i++)
      cur[i] = ((temp_v[i + 1] - temp_v[i]) - ind * (cur[i] - old_i[i]) * rdt) * rres;
    for (int i = 0; i < WIRE_SEGMENTS - 1; i++) temp_v[i + 1] = old_v[i] + dt * (cur[i] - cur[i + 1]) * rcap;
  }
  for (int i = 0; i < WIRE_SEGMENTS - 1; i++) volt[i] = temp_v[i + 1];
}

inline void node_update(float &voltage, float &charge, float cap, float leakage)
{
  voltage = (voltage + charge / cap) * (1.0f - leakage);
  charge = 0.0f;
}

#ifdef HPCMAP_USE_CUDA
/* CUDA variants: launch on `stream` (a cudaStream_t) without synchronizing. `spans` (n_spans
 * entries plus one sentinel whose start is the total) must be readable by the device. */
void calc_currents_gpu(const CurrentsArgs &args, const PointSpan *spans, int n_spans, long long total, void *stream);
void distribute_charge_gpu(const ChargeArgs &args, const PointSpan *spans, int n_spans, long long total, void *stream);
void update_voltages_gpu(const VoltageArgs &args, const PointSpan *spans, int n_spans, long long total, void *stream);
#endif

}  // namespace circuit
