/* Circuit simulation written with Legion's C++ API.
 *
 * A random circuit of `pieces` pieces, each with `npp` nodes and `wpp` wires; a wire joins a node
 * of its piece to a node of the same piece (pct% of wires) or of another piece. Each wire has
 * WIRE_SEGMENTS segments whose currents and inner voltages are integrated for `steps` small time
 * steps per loop; the wires' end currents then move charge into the nodes, and the nodes update
 * their voltages.
 *
 * Regions: all_nodes, all_wires. Partitions (dependent partitioning):
 *   rp_owned   nodes by their piece field (partition_by_field)
 *   rw_pvt     wires by the owner of their in node (by_preimage of rp_owned)
 *   extended   nodes reached by a piece's wires (by_image of rw_pvt through out_ptr)
 *   ghost_tmp  extended - owned (by_difference)
 *   privacy    pending partition of all_nodes into all_private (difference) and all_shared (union
 *              of the ghost sets)
 *   rp_private, rp_shared   owned nodes intersected with all_private / all_shared (disjoint)
 *   rp_ghost   the ghost sets as a partition of all_shared (aliased)
 * Each loop: calculate_new_currents, distribute_charge (sum reductions into rp_shared and
 * rp_ghost), update_voltages, each an index launch over the pieces.
 *
 * The check compares node voltages and wire end currents with a sequential run of the same math
 * on plain arrays, value by value; above `-check-limit` wire-steps, with the fingerprint of such a
 * run kept for this problem in the `-reference` file (hpcmap_app::Fingerprint), when it has one.
 * `-reference-out FILE` appends the sequential run's fingerprint to FILE; `-reference-key 1`
 * prints the problem's key in that file and stops. `-fault stale` skips
 * piece 0's update_voltages in the first loop, leaving its node voltages stale; `-fault check`
 * corrupts one reference value. Either must fail the check. */
#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <vector>

#include "legion.h"
#include "hpcmap_app.h"
#include "hpcmap_mapper.h"
#include "circuit.h"
#ifdef HPCMAP_USE_CUDA
#include "realm/cuda/cuda_module.h"
#endif

using namespace Legion;
using namespace circuit;

namespace {

enum TaskIDs {
  TOP_LEVEL_TASK_ID = 1,
  INIT_NODES_TASK_ID,
  INIT_WIRES_TASK_ID,
  INIT_LOCATIONS_TASK_ID,
  CALC_CURRENTS_TASK_ID,
  DISTRIBUTE_CHARGE_TASK_ID,
  UPDATE_VOLTAGES_TASK_ID,
  CHECK_TASK_ID,
};

enum FieldIDs {
  FID_NODE_CAP = 100,
  FID_LEAKAGE,
  FID_CHARGE,
  FID_NODE_VOLTAGE,
  FID_PIECE_COLOR,
  FID_IN_PTR = 200,
  FID_OUT_PTR,
  FID_IN_LOC,
  FID_OUT_LOC,
  FID_INDUCTANCE,
  FID_RESISTANCE,
  FID_WIRE_CAP,
  FID_CURRENT = 300,                          // .. FID_CURRENT + WIRE_SEGMENTS - 1
  FID_WIRE_VOLTAGE = FID_CURRENT + WIRE_SEGMENTS,  // .. + WIRE_SEGMENTS - 2
};

constexpr ReductionOpID REDOP_SUM = LEGION_REDOP_SUM_FLOAT32;
typedef ReductionAccessor<SumReduction<float>, false, 1, coord_t, Realm::AffineAccessor<float, 1, coord_t>> RedAcc;

struct Params {
  long long pieces, npp, wpp;
  int pct, steps;
  uint64_t seed;
};

struct CheckArgs {
  long long nodes, wires;
  int has_reference;  // followed by `nodes` voltages and 2 * `wires` end currents
};

/* The checked quantities, as fingerprinted: node voltages, wire currents at the in and out ends. */
enum Quantity { Q_NODE_VOLTAGE, Q_CURRENT_IN, Q_CURRENT_OUT, NQ };
typedef hpcmap_app::Fingerprint<NQ> CircuitFingerprint;

struct CheckResult {
  long long compared, bad, nonfinite;
  double max_err;
  CircuitFingerprint fingerprint;
};

/* ---- helpers ---- */

DomainT<1> domain_of(Runtime *runtime, const PhysicalRegion &pr)
{
  return runtime->get_index_space_domain(IndexSpaceT<1>(pr.get_logical_region().get_index_space()));
}

template <typename T, PrivilegeMode MODE>
FieldView view(const PhysicalRegion &pr, FieldID fid)
{
  FieldAccessor<MODE, T, 1, coord_t, Realm::AffineAccessor<T, 1, coord_t>> acc(pr, fid);
  return FieldView{reinterpret_cast<char *>(acc.accessor.base), (long long)acc.accessor.strides[0]};
}

FieldView reduction_view(const PhysicalRegion &pr, FieldID fid)
{
  RedAcc acc(pr, fid, REDOP_SUM);
  return FieldView{reinterpret_cast<char *>(acc.accessor.base), (long long)acc.accessor.strides[0]};
}

/* A view only when the region has points (an empty region may have no instance to view). */
template <typename T, PrivilegeMode MODE>
FieldView view_if(Runtime *runtime, const PhysicalRegion &pr, FieldID fid)
{
  return domain_of(runtime, pr).empty() ? FieldView{nullptr, 0} : view<T, MODE>(pr, fid);
}

std::vector<PointSpan> spans_of(const DomainT<1> &dom, long long &total)
{
  std::vector<PointSpan> spans;
  total = 0;
  for (RectInDomainIterator<1> r(dom); r(); r++) {
    spans.push_back(PointSpan{r->lo[0], total});
    total += r->hi[0] - r->lo[0] + 1;
  }
  spans.push_back(PointSpan{0, total});
  return spans;
}

/* ---- init tasks (CPU) ---- */

void init_nodes_task(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  const Params &p = *(const Params *)task->args;
  long long piece = task->index_point[0];
  FieldAccessor<LEGION_WRITE_DISCARD, float, 1> cap(regions[0], FID_NODE_CAP), leak(regions[0], FID_LEAKAGE),
      charge(regions[0], FID_CHARGE), volt(regions[0], FID_NODE_VOLTAGE);
  FieldAccessor<LEGION_WRITE_DISCARD, Point<1>, 1> color(regions[0], FID_PIECE_COLOR);
  Rng rng(node_seed(p.seed, piece));
  for (PointInDomainIterator<1> it(domain_of(runtime, regions[0])); it(); it++) {
    NodeInit n = make_node(rng);
    cap[*it] = n.cap;
    leak[*it] = n.leakage;
    charge[*it] = 0.0f;
    volt[*it] = n.voltage;
    color[*it] = Point<1>((*it)[0] / p.npp);
  }
}

void init_wires_task(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  const Params &p = *(const Params *)task->args;
  long long piece = task->index_point[0];
  const PhysicalRegion &pr = regions[0];
  FieldAccessor<LEGION_WRITE_DISCARD, Point<1>, 1> in_ptr(pr, FID_IN_PTR), out_ptr(pr, FID_OUT_PTR);
  FieldAccessor<LEGION_WRITE_DISCARD, float, 1> ind(pr, FID_INDUCTANCE), res(pr, FID_RESISTANCE), cap(pr, FID_WIRE_CAP);
  std::vector<FieldAccessor<LEGION_WRITE_DISCARD, float, 1>> cur, volt;
  for (int i = 0; i < WIRE_SEGMENTS; i++) cur.emplace_back(pr, FID_CURRENT + i);
  for (int i = 0; i < WIRE_SEGMENTS - 1; i++) volt.emplace_back(pr, FID_WIRE_VOLTAGE + i);
  Rng rng(wire_seed(p.seed, piece));
  for (PointInDomainIterator<1> it(domain_of(runtime, pr)); it(); it++) {
    WireInit w = make_wire(rng, piece, p.pieces, p.npp, p.pct);
    in_ptr[*it] = Point<1>(w.in_node);
    out_ptr[*it] = Point<1>(w.out_node);
    ind[*it] = w.inductance;
    res[*it] = w.resistance;
    cap[*it] = w.cap;
    for (auto &a : cur) a[*it] = 0.0f;
    for (auto &a : volt) a[*it] = 0.0f;
  }
}

/* Where each wire's end nodes live, as seen from the wire's piece: regions rw_pvt (WD locs),
 * rw_pvt (RO ptrs), rp_private, rp_shared (only their index spaces are used). */
void init_locations_task(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  const Params &p = *(const Params *)task->args;
  long long first = task->index_point[0] * p.npp;
  std::vector<int32_t> loc(p.npp, -1);
  for (PointInDomainIterator<1> it(domain_of(runtime, regions[2])); it(); it++) loc[(*it)[0] - first] = PRIVATE_PTR;
  for (PointInDomainIterator<1> it(domain_of(runtime, regions[3])); it(); it++) loc[(*it)[0] - first] = SHARED_PTR;
  FieldAccessor<LEGION_WRITE_DISCARD, int32_t, 1> in_loc(regions[0], FID_IN_LOC), out_loc(regions[0], FID_OUT_LOC);
  FieldAccessor<LEGION_READ_ONLY, Point<1>, 1> in_ptr(regions[1], FID_IN_PTR), out_ptr(regions[1], FID_OUT_PTR);
  for (PointInDomainIterator<1> it(domain_of(runtime, regions[0])); it(); it++) {
    Point<1> pin = in_ptr[*it], pout = out_ptr[*it];
    long long a = pin[0] - first, b = pout[0] - first;
    in_loc[*it] = loc[a];
    out_loc[*it] = (b >= 0 && b < p.npp) ? loc[b] : GHOST_PTR;
  }
}

/* ---- the three loop tasks: argument views ---- */

CurrentsArgs currents_args(const Params &p, const std::vector<PhysicalRegion> &regions, Runtime *runtime)
{
  CurrentsArgs a;
  for (int i = 0; i < WIRE_SEGMENTS; i++) a.current[i] = view<float, LEGION_READ_WRITE>(regions[0], FID_CURRENT + i);
  for (int i = 0; i < WIRE_SEGMENTS - 1; i++)
    a.voltage[i] = view<float, LEGION_READ_WRITE>(regions[0], FID_WIRE_VOLTAGE + i);
  a.in_ptr = view<Point<1>, LEGION_READ_ONLY>(regions[1], FID_IN_PTR);
  a.out_ptr = view<Point<1>, LEGION_READ_ONLY>(regions[1], FID_OUT_PTR);
  a.in_loc = view<int32_t, LEGION_READ_ONLY>(regions[1], FID_IN_LOC);
  a.out_loc = view<int32_t, LEGION_READ_ONLY>(regions[1], FID_OUT_LOC);
  a.inductance = view<float, LEGION_READ_ONLY>(regions[1], FID_INDUCTANCE);
  a.resistance = view<float, LEGION_READ_ONLY>(regions[1], FID_RESISTANCE);
  a.wire_cap = view<float, LEGION_READ_ONLY>(regions[1], FID_WIRE_CAP);
  for (int k = 0; k < 3; k++) a.node_voltage[k] = view_if<float, LEGION_READ_ONLY>(runtime, regions[2 + k], FID_NODE_VOLTAGE);
  a.steps = p.steps;
  a.dt = DELTAT;
  return a;
}

ChargeArgs charge_args(const std::vector<PhysicalRegion> &regions, Runtime *runtime)
{
  ChargeArgs a;
  a.in_ptr = view<Point<1>, LEGION_READ_ONLY>(regions[0], FID_IN_PTR);
  a.out_ptr = view<Point<1>, LEGION_READ_ONLY>(regions[0], FID_OUT_PTR);
  a.in_loc = view<int32_t, LEGION_READ_ONLY>(regions[0], FID_IN_LOC);
  a.out_loc = view<int32_t, LEGION_READ_ONLY>(regions[0], FID_OUT_LOC);
  a.current_in = view<float, LEGION_READ_ONLY>(regions[0], FID_CURRENT);
  a.current_out = view<float, LEGION_READ_ONLY>(regions[0], FID_CURRENT + WIRE_SEGMENTS - 1);
  a.charge[PRIVATE_PTR] = view_if<float, LEGION_READ_WRITE>(runtime, regions[1], FID_CHARGE);
  a.charge[SHARED_PTR] = domain_of(runtime, regions[2]).empty() ? FieldView{nullptr, 0} : reduction_view(regions[2], FID_CHARGE);
  a.charge[GHOST_PTR] = domain_of(runtime, regions[3]).empty() ? FieldView{nullptr, 0} : reduction_view(regions[3], FID_CHARGE);
  a.dt = DELTAT;
  return a;
}

/* regions[rw] holds voltage and charge (RW), regions[ro] cap and leakage (RO). */
VoltageArgs voltage_args(const std::vector<PhysicalRegion> &regions, int rw, int ro)
{
  return VoltageArgs{view<float, LEGION_READ_WRITE>(regions[rw], FID_NODE_VOLTAGE),
                     view<float, LEGION_READ_WRITE>(regions[rw], FID_CHARGE),
                     view<float, LEGION_READ_ONLY>(regions[ro], FID_NODE_CAP),
                     view<float, LEGION_READ_ONLY>(regions[ro], FID_LEAKAGE)};
}

/* ---- CPU variants ---- */

/* calculate_new_currents: regions rw_pvt (RW currents, voltages), rw_pvt (RO ptrs, locs, wire
 * parameters), rp_private, rp_shared, rp_ghost (RO node voltage). Wires go LANES at a time so
 * the compiler can vectorize across wires. */
void calc_currents_cpu(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  const Params &p = *(const Params *)task->args;
  DomainT<1> dom = domain_of(runtime, regions[0]);
  if (dom.empty()) return;
  const CurrentsArgs a = currents_args(p, regions, runtime);
  constexpr int LANES = 8;
  const float dt = a.dt, rdt = 1.0f / a.dt;
  for (RectInDomainIterator<1> r(dom); r(); r++) {
    for (long long w0 = r->lo[0]; w0 <= r->hi[0]; w0 += LANES) {
      int n = (int)std::min<long long>(LANES, r->hi[0] - w0 + 1);
      float cur[WIRE_SEGMENTS][LANES], old_i[WIRE_SEGMENTS][LANES], v[WIRE_SEGMENTS + 1][LANES],
          old_v[WIRE_SEGMENTS - 1][LANES], ind[LANES], rres[LANES], rcap[LANES];
      for (int l = 0; l < LANES; l++) {
        long long w = w0 + std::min(l, n - 1);
        for (int i = 0; i < WIRE_SEGMENTS; i++) old_i[i][l] = cur[i][l] = elem<float>(a.current[i], w);
        for (int i = 0; i < WIRE_SEGMENTS - 1; i++) old_v[i][l] = v[i + 1][l] = elem<float>(a.voltage[i], w);
        v[0][l] = elem<float>(a.node_voltage[elem<int32_t>(a.in_loc, w)], elem<long long>(a.in_ptr, w));
        v[WIRE_SEGMENTS][l] = elem<float>(a.node_voltage[elem<int32_t>(a.out_loc, w)], elem<long long>(a.out_ptr, w));
        ind[l] = elem<float>(a.inductance, w);
        rres[l] = 1.0f / elem<float>(a.resistance, w);
        rcap[l] = 1.0f / elem<float>(a.wire_cap, w);
      }
      for (int j = 0; j < a.steps; j++) {
        for (int i = 0; i < WIRE_SEGMENTS; i++)
          for (int l = 0; l < LANES; l++)
            cur[i][l] = ((v[i + 1][l] - v[i][l]) - ind[l] * (cur[i][l] - old_i[i][l]) * rdt) * rres[l];
        for (int i = 0; i < WIRE_SEGMENTS - 1; i++)
          for (int l = 0; l < LANES; l++) v[i + 1][l] = old_v[i][l] + dt * (cur[i][l] - cur[i + 1][l]) * rcap[l];
      }
      for (int l = 0; l < n; l++) {
        for (int i = 0; i < WIRE_SEGMENTS; i++) elem<float>(a.current[i], w0 + l) = cur[i][l];
        for (int i = 0; i < WIRE_SEGMENTS - 1; i++) elem<float>(a.voltage[i], w0 + l) = v[i + 1][l];
      }
    }
  }
}

/* distribute_charge: regions rw_pvt (RO ptrs, locs, end currents), rp_private (RW charge),
 * rp_shared and rp_ghost (REDUCE sum charge). */
void distribute_charge_cpu(const Task *, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  DomainT<1> dom = domain_of(runtime, regions[0]);
  if (dom.empty()) return;
  const ChargeArgs a = charge_args(regions, runtime);
  std::optional<RedAcc> red[3];
  if (a.charge[SHARED_PTR].base) red[SHARED_PTR].emplace(regions[2], FID_CHARGE, REDOP_SUM);
  if (a.charge[GHOST_PTR].base) red[GHOST_PTR].emplace(regions[3], FID_CHARGE, REDOP_SUM);
  auto deposit = [&](int32_t loc, long long node, float q) {
    if (loc == PRIVATE_PTR) elem<float>(a.charge[PRIVATE_PTR], node) += q;
    else (*red[loc])[Point<1>(node)] <<= q;
  };
  for (PointInDomainIterator<1> it(dom); it(); it++) {
    long long w = (*it)[0];
    deposit(elem<int32_t>(a.in_loc, w), elem<long long>(a.in_ptr, w), -a.dt * elem<float>(a.current_in, w));
    deposit(elem<int32_t>(a.out_loc, w), elem<long long>(a.out_ptr, w), a.dt * elem<float>(a.current_out, w));
  }
}

/* update_voltages: regions rp_private, rp_shared (RW voltage, charge), rp_private, rp_shared
 * (RO cap, leakage). */
void update_voltages_cpu(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  if (hpcmap_app::skip_point(task)) return;
  for (int k = 0; k < 2; k++) {
    DomainT<1> dom = domain_of(runtime, regions[k]);
    if (dom.empty()) continue;
    VoltageArgs a = voltage_args(regions, k, k + 2);
    for (PointInDomainIterator<1> it(dom); it(); it++) {
      long long i = (*it)[0];
      node_update(elem<float>(a.voltage, i), elem<float>(a.charge, i), elem<float>(a.cap, i), elem<float>(a.leakage, i));
    }
  }
}

/* check: regions rp_private, rp_shared (RO voltage), rw_pvt (RO end currents). */
CheckResult check_cpu(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  const CheckArgs &args = *(const CheckArgs *)task->args;
  const float *ref_v = (const float *)((const char *)task->args + sizeof(CheckArgs));
  const float *ref_i = ref_v + args.nodes;
  CheckResult out{0, 0, 0, 0.0, CircuitFingerprint::zero()};
  auto compare = [&](float got, const float *want) {
    if (!std::isfinite(got)) out.nonfinite++;
    if (!args.has_reference) return;
    double err = std::fabs(double(got) - double(*want)) / (1e-3 + std::fabs(double(*want)));
    out.compared++;
    out.max_err = std::max(out.max_err, err);
    if (!(err <= 1e-3)) out.bad++;
  };
  for (int k = 0; k < 2; k++) {
    DomainT<1> dom = domain_of(runtime, regions[k]);
    if (dom.empty()) continue;
    FieldAccessor<LEGION_READ_ONLY, float, 1> v(regions[k], FID_NODE_VOLTAGE);
    for (PointInDomainIterator<1> it(dom); it(); it++) {
      compare(v[*it], ref_v + (*it)[0]);
      out.fingerprint.add(Q_NODE_VOLTAGE, (*it)[0], args.nodes, v[*it]);
    }
  }
  FieldAccessor<LEGION_READ_ONLY, float, 1> c0(regions[2], FID_CURRENT), c1(regions[2], FID_CURRENT + WIRE_SEGMENTS - 1);
  for (PointInDomainIterator<1> it(domain_of(runtime, regions[2])); it(); it++) {
    compare(c0[*it], ref_i + 2 * (*it)[0]);
    compare(c1[*it], ref_i + 2 * (*it)[0] + 1);
    out.fingerprint.add(Q_CURRENT_IN, (*it)[0], args.wires, c0[*it]);
    out.fingerprint.add(Q_CURRENT_OUT, (*it)[0], args.wires, c1[*it]);
  }
  return out;
}

/* ---- CUDA variants ---- */
#ifdef HPCMAP_USE_CUDA
/* The spans of `dom` in zero-copy memory the GPU can read; `buf` keeps them alive. */
const PointSpan *device_spans(const DomainT<1> &dom, DeferredBuffer<PointSpan, 1> &buf, int &n, long long &total)
{
  std::vector<PointSpan> spans = spans_of(dom, total);
  n = (int)spans.size() - 1;
  buf = DeferredBuffer<PointSpan, 1>(Rect<1>(0, n), Memory::Z_COPY_MEM);
  PointSpan *ptr = buf.ptr(Point<1>(0));
  std::copy(spans.begin(), spans.end(), ptr);
  return ptr;
}

void calc_currents_gpu_task(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  const Params &p = *(const Params *)task->args;
  DomainT<1> dom = domain_of(runtime, regions[0]);
  if (dom.empty()) return;
  DeferredBuffer<PointSpan, 1> buf;
  int n;
  long long total;
  const PointSpan *spans = device_spans(dom, buf, n, total);
  calc_currents_gpu(currents_args(p, regions, runtime), spans, n, total, Realm::Cuda::get_task_cuda_stream());
  Realm::Cuda::set_task_ctxsync_required(false);
}

void distribute_charge_gpu_task(const Task *, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  DomainT<1> dom = domain_of(runtime, regions[0]);
  if (dom.empty()) return;
  DeferredBuffer<PointSpan, 1> buf;
  int n;
  long long total;
  const PointSpan *spans = device_spans(dom, buf, n, total);
  distribute_charge_gpu(charge_args(regions, runtime), spans, n, total, Realm::Cuda::get_task_cuda_stream());
  Realm::Cuda::set_task_ctxsync_required(false);
}

void update_voltages_gpu_task(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  if (hpcmap_app::skip_point(task)) return;
  DeferredBuffer<PointSpan, 1> bufs[2];
  for (int k = 0; k < 2; k++) {
    DomainT<1> dom = domain_of(runtime, regions[k]);
    if (dom.empty()) continue;
    int n;
    long long total;
    const PointSpan *spans = device_spans(dom, bufs[k], n, total);
    update_voltages_gpu(voltage_args(regions, k, k + 2), spans, n, total, Realm::Cuda::get_task_cuda_stream());
  }
  Realm::Cuda::set_task_ctxsync_required(false);
}
#endif

/* ---- the sequential reference ---- */

struct Reference {
  std::vector<float> node_voltage, node_charge, node_cap, node_leak;  // per node
  std::vector<WireInit> wires;
  std::vector<float> current, wvolt;  // per wire: WIRE_SEGMENTS, WIRE_SEGMENTS - 1

  explicit Reference(const Params &p)
  {
    long long nodes = p.pieces * p.npp, nwires = p.pieces * p.wpp;
    node_voltage.resize(nodes), node_charge.assign(nodes, 0.0f), node_cap.resize(nodes), node_leak.resize(nodes);
    for (long long piece = 0; piece < p.pieces; piece++) {
      Rng rng(node_seed(p.seed, piece));
      for (long long k = 0; k < p.npp; k++) {
        NodeInit n = make_node(rng);
        long long i = piece * p.npp + k;
        node_cap[i] = n.cap, node_leak[i] = n.leakage, node_voltage[i] = n.voltage;
      }
      Rng wrng(wire_seed(p.seed, piece));
      for (long long k = 0; k < p.wpp; k++) wires.push_back(make_wire(wrng, piece, p.pieces, p.npp, p.pct));
    }
    current.assign(nwires * WIRE_SEGMENTS, 0.0f);
    wvolt.assign(nwires * (WIRE_SEGMENTS - 1), 0.0f);
  }

  void loop(const Params &p)
  {
    long long nwires = (long long)wires.size();
    hpcmap_app::parallel_ranges(nwires, [&](long long lo, long long hi) {  // wires are independent
      for (long long w = lo; w < hi; w++) {
        const WireInit &wi = wires[w];
        wire_currents(&current[w * WIRE_SEGMENTS], &wvolt[w * (WIRE_SEGMENTS - 1)], node_voltage[wi.in_node],
                      node_voltage[wi.out_node], wi.inductance, wi.resistance, wi.cap, p.steps, DELTAT);
      }
    });
    for (long long w = 0; w < nwires; w++) {
      node_charge[wires[w].in_node] += -DELTAT * current[w * WIRE_SEGMENTS];
      node_charge[wires[w].out_node] += DELTAT * current[w * WIRE_SEGMENTS + WIRE_SEGMENTS - 1];
    }
    for (size_t i = 0; i < node_voltage.size(); i++) node_update(node_voltage[i], node_charge[i], node_cap[i], node_leak[i]);
  }

  CircuitFingerprint fingerprint() const
  {
    CircuitFingerprint f = CircuitFingerprint::zero();
    long long nodes = (long long)node_voltage.size(), nwires = (long long)wires.size();
    for (long long i = 0; i < nodes; i++) f.add(Q_NODE_VOLTAGE, i, nodes, node_voltage[i]);
    for (long long w = 0; w < nwires; w++) {
      f.add(Q_CURRENT_IN, w, nwires, current[w * WIRE_SEGMENTS]);
      f.add(Q_CURRENT_OUT, w, nwires, current[w * WIRE_SEGMENTS + WIRE_SEGMENTS - 1]);
    }
    return f;
  }
};

/* ---- top level ---- */

LogicalPartition named_partition(Runtime *runtime, IndexPartition ip, LogicalRegion root, const char *name)
{
  runtime->attach_name(ip, name);
  LogicalPartition lp = runtime->get_logical_partition_by_tree(ip, root.get_field_space(), root.get_tree_id());
  runtime->attach_name(lp, name);
  return lp;
}

void top_level(const Task *, const std::vector<PhysicalRegion> &, Context ctx, Runtime *runtime)
{
  const InputArgs &args = Runtime::get_input_args();
  Params p;
  p.pieces = hpcmap_app::int_flag(args, "-p", 4);
  p.npp = hpcmap_app::int_flag(args, "-npp", 256);
  p.wpp = hpcmap_app::int_flag(args, "-wpp", 512);
  p.pct = (int)hpcmap_app::int_flag(args, "-pct", 95);
  p.steps = (int)hpcmap_app::int_flag(args, "-i", 1000);
  p.seed = (uint64_t)hpcmap_app::int_flag(args, "-s", 12345);
  long long loops = hpcmap_app::int_flag(args, "-l", 3), warmup = hpcmap_app::int_flag(args, "-warmup", 1);
  long long check_limit = hpcmap_app::int_flag(args, "-check-limit", 50000000);  // wire-steps for the sequential run
  std::string reference_file = hpcmap_app::str_flag(args, "-reference", "");
  std::string reference_out = hpcmap_app::str_flag(args, "-reference-out", "");
  bool trace = hpcmap_app::int_flag(args, "-trace", 1) != 0;
  std::string fault = hpcmap_app::str_flag(args, "-fault", "none");
  if (p.pieces < 1 || p.npp < 1 || p.wpp < 1 || p.pct < 0 || p.pct > 100 || p.steps < 1 || loops < 1 || warmup < 0) {
    fprintf(stderr, "circuit: bad sizes: need -p, -npp, -wpp, -i, -l >= 1, 0 <= -pct <= 100, -warmup >= 0\n");
    exit(2);
  }
  long long nodes = p.pieces * p.npp, nwires = p.pieces * p.wpp;
  // The problem's name in reference files: every parameter the answer depends on.
  char key[256];
  snprintf(key, sizeof(key), "circuit pieces=%lld npp=%lld wpp=%lld pct=%d steps=%d loops=%lld seed=%llu", p.pieces, p.npp,
           p.wpp, p.pct, p.steps, loops + warmup, (unsigned long long)p.seed);
  if (hpcmap_app::int_flag(args, "-reference-key", 0)) {  // print it and stop
    printf("HPCMAP_REFERENCE_KEY %s\n", key);
    return;
  }

  IndexSpace node_is = runtime->create_index_space(ctx, Rect<1>(0, nodes - 1));
  IndexSpace wire_is = runtime->create_index_space(ctx, Rect<1>(0, nwires - 1));
  IndexSpace piece_is = runtime->create_index_space(ctx, Rect<1>(0, p.pieces - 1));
  runtime->attach_name(node_is, "node_space");
  runtime->attach_name(wire_is, "wire_space");
  FieldSpace node_fs = runtime->create_field_space(ctx), wire_fs = runtime->create_field_space(ctx);
  {
    FieldAllocator a = runtime->create_field_allocator(ctx, node_fs);
    a.allocate_field(sizeof(float), FID_NODE_CAP), runtime->attach_name(node_fs, FID_NODE_CAP, "node_cap");
    a.allocate_field(sizeof(float), FID_LEAKAGE), runtime->attach_name(node_fs, FID_LEAKAGE, "leakage");
    a.allocate_field(sizeof(float), FID_CHARGE), runtime->attach_name(node_fs, FID_CHARGE, "charge");
    a.allocate_field(sizeof(float), FID_NODE_VOLTAGE), runtime->attach_name(node_fs, FID_NODE_VOLTAGE, "node_voltage");
    a.allocate_field(sizeof(Point<1>), FID_PIECE_COLOR), runtime->attach_name(node_fs, FID_PIECE_COLOR, "piece_color");
  }
  {
    FieldAllocator a = runtime->create_field_allocator(ctx, wire_fs);
    a.allocate_field(sizeof(Point<1>), FID_IN_PTR), runtime->attach_name(wire_fs, FID_IN_PTR, "in_ptr");
    a.allocate_field(sizeof(Point<1>), FID_OUT_PTR), runtime->attach_name(wire_fs, FID_OUT_PTR, "out_ptr");
    a.allocate_field(sizeof(int32_t), FID_IN_LOC), runtime->attach_name(wire_fs, FID_IN_LOC, "in_loc");
    a.allocate_field(sizeof(int32_t), FID_OUT_LOC), runtime->attach_name(wire_fs, FID_OUT_LOC, "out_loc");
    a.allocate_field(sizeof(float), FID_INDUCTANCE), runtime->attach_name(wire_fs, FID_INDUCTANCE, "inductance");
    a.allocate_field(sizeof(float), FID_RESISTANCE), runtime->attach_name(wire_fs, FID_RESISTANCE, "resistance");
    a.allocate_field(sizeof(float), FID_WIRE_CAP), runtime->attach_name(wire_fs, FID_WIRE_CAP, "wire_cap");
    char name[32];
    for (int i = 0; i < WIRE_SEGMENTS; i++) {
      a.allocate_field(sizeof(float), FID_CURRENT + i);
      snprintf(name, sizeof(name), "current_%d", i), runtime->attach_name(wire_fs, FID_CURRENT + i, name);
    }
    for (int i = 0; i < WIRE_SEGMENTS - 1; i++) {
      a.allocate_field(sizeof(float), FID_WIRE_VOLTAGE + i);
      snprintf(name, sizeof(name), "voltage_%d", i), runtime->attach_name(wire_fs, FID_WIRE_VOLTAGE + i, name);
    }
  }
  LogicalRegion all_nodes = runtime->create_logical_region(ctx, node_is, node_fs);
  LogicalRegion all_wires = runtime->create_logical_region(ctx, wire_is, wire_fs);
  runtime->attach_name(all_nodes, "all_nodes");
  runtime->attach_name(all_wires, "all_wires");
  Domain launch(Rect<1>(0, p.pieces - 1));
  UntypedBuffer params(&p, sizeof(p));

  /* Initial values, piece by piece over equal partitions. */
  LogicalPartition rp_equal = named_partition(runtime, runtime->create_equal_partition(ctx, node_is, piece_is), all_nodes, "rp_equal");
  LogicalPartition rw_equal = named_partition(runtime, runtime->create_equal_partition(ctx, wire_is, piece_is), all_wires, "rw_equal");
  {
    IndexLauncher init(INIT_NODES_TASK_ID, launch, params, ArgumentMap());
    init.add_region_requirement(RegionRequirement(rp_equal, 0, LEGION_WRITE_DISCARD, LEGION_EXCLUSIVE, all_nodes));
    for (FieldID f : {FID_NODE_CAP, FID_LEAKAGE, FID_CHARGE, FID_NODE_VOLTAGE, FID_PIECE_COLOR}) init.add_field(0, f);
    runtime->execute_index_space(ctx, init);
  }
  {
    IndexLauncher init(INIT_WIRES_TASK_ID, launch, params, ArgumentMap());
    init.add_region_requirement(RegionRequirement(rw_equal, 0, LEGION_WRITE_DISCARD, LEGION_EXCLUSIVE, all_wires));
    for (FieldID f : {FID_IN_PTR, FID_OUT_PTR, FID_INDUCTANCE, FID_RESISTANCE, FID_WIRE_CAP}) init.add_field(0, f);
    for (int i = 0; i < WIRE_SEGMENTS; i++) init.add_field(0, FID_CURRENT + i);
    for (int i = 0; i < WIRE_SEGMENTS - 1; i++) init.add_field(0, FID_WIRE_VOLTAGE + i);
    runtime->execute_index_space(ctx, init);
  }

  /* Dependent partitioning. */
  IndexPartition owned_ip = runtime->create_partition_by_field(ctx, all_nodes, all_nodes, FID_PIECE_COLOR, piece_is);
  LogicalPartition rp_owned = named_partition(runtime, owned_ip, all_nodes, "rp_owned");
  IndexPartition wire_ip = runtime->create_partition_by_preimage(ctx, owned_ip, all_wires, all_wires, FID_IN_PTR, piece_is,
                                                                 LEGION_DISJOINT_COMPLETE_KIND);
  LogicalPartition rw_pvt = named_partition(runtime, wire_ip, all_wires, "rw_pvt");
  IndexPartition extended_ip = runtime->create_partition_by_image(ctx, node_is, rw_pvt, all_wires, FID_OUT_PTR, piece_is);
  runtime->attach_name(extended_ip, "extended");
  IndexPartition ghost_tmp_ip = runtime->create_partition_by_difference(ctx, node_is, extended_ip, owned_ip, piece_is,
                                                                        LEGION_ALIASED_KIND);
  runtime->attach_name(ghost_tmp_ip, "ghost_tmp");
  IndexSpace privacy_colors = runtime->create_index_space(ctx, Rect<1>(0, 1));
  IndexPartition privacy_ip = runtime->create_pending_partition(ctx, node_is, privacy_colors, LEGION_DISJOINT_COMPLETE_KIND);
  IndexSpace all_shared_is = runtime->create_index_space_union(ctx, privacy_ip, DomainPoint(Point<1>(1)), ghost_tmp_ip);
  IndexSpace all_private_is = runtime->create_index_space_difference(ctx, privacy_ip, DomainPoint(Point<1>(0)), node_is,
                                                                      std::vector<IndexSpace>{all_shared_is});
  LogicalPartition privacy = named_partition(runtime, privacy_ip, all_nodes, "privacy");
  LogicalRegion all_private = runtime->get_logical_subregion_by_color(ctx, privacy, DomainPoint(Point<1>(0)));
  LogicalRegion all_shared = runtime->get_logical_subregion_by_color(ctx, privacy, DomainPoint(Point<1>(1)));
  runtime->attach_name(all_private, "all_private");
  runtime->attach_name(all_shared, "all_shared");
  LogicalPartition rp_private = named_partition(
      runtime, runtime->create_partition_by_intersection(ctx, all_private_is, owned_ip, LEGION_DISJOINT_KIND), all_nodes, "rp_private");
  LogicalPartition rp_shared = named_partition(
      runtime, runtime->create_partition_by_intersection(ctx, all_shared_is, owned_ip, LEGION_DISJOINT_KIND), all_nodes, "rp_shared");
  LogicalPartition rp_ghost = named_partition(
      runtime, runtime->create_partition_by_intersection(ctx, all_shared_is, ghost_tmp_ip, LEGION_ALIASED_KIND),
      all_nodes, "rp_ghost");
  {
    IndexLauncher init(INIT_LOCATIONS_TASK_ID, launch, params, ArgumentMap());
    init.add_region_requirement(RegionRequirement(rw_pvt, 0, LEGION_WRITE_DISCARD, LEGION_EXCLUSIVE, all_wires));
    init.add_field(0, FID_IN_LOC), init.add_field(0, FID_OUT_LOC);
    init.add_region_requirement(RegionRequirement(rw_pvt, 0, LEGION_READ_ONLY, LEGION_EXCLUSIVE, all_wires));
    init.add_field(1, FID_IN_PTR), init.add_field(1, FID_OUT_PTR);
    init.add_region_requirement(RegionRequirement(rp_private, 0, LEGION_READ_ONLY, LEGION_EXCLUSIVE, all_nodes));
    init.add_field(2, FID_PIECE_COLOR);
    init.add_region_requirement(RegionRequirement(rp_shared, 0, LEGION_READ_ONLY, LEGION_EXCLUSIVE, all_nodes));
    init.add_field(3, FID_PIECE_COLOR);
    runtime->execute_index_space(ctx, init);
  }

  /* The loop's three launchers. */
  IndexLauncher calc(CALC_CURRENTS_TASK_ID, launch, params, ArgumentMap());
  calc.add_region_requirement(RegionRequirement(rw_pvt, 0, LEGION_READ_WRITE, LEGION_EXCLUSIVE, all_wires));
  for (int i = 0; i < WIRE_SEGMENTS; i++) calc.add_field(0, FID_CURRENT + i);
  for (int i = 0; i < WIRE_SEGMENTS - 1; i++) calc.add_field(0, FID_WIRE_VOLTAGE + i);
  calc.add_region_requirement(RegionRequirement(rw_pvt, 0, LEGION_READ_ONLY, LEGION_EXCLUSIVE, all_wires));
  for (FieldID f : {FID_IN_PTR, FID_OUT_PTR, FID_IN_LOC, FID_OUT_LOC, FID_INDUCTANCE, FID_RESISTANCE, FID_WIRE_CAP})
    calc.add_field(1, f);
  calc.add_region_requirement(RegionRequirement(rp_private, 0, LEGION_READ_ONLY, LEGION_EXCLUSIVE, all_nodes));
  calc.add_field(2, FID_NODE_VOLTAGE);
  calc.add_region_requirement(RegionRequirement(rp_shared, 0, LEGION_READ_ONLY, LEGION_EXCLUSIVE, all_nodes));
  calc.add_field(3, FID_NODE_VOLTAGE);
  calc.add_region_requirement(RegionRequirement(rp_ghost, 0, LEGION_READ_ONLY, LEGION_EXCLUSIVE, all_nodes));
  calc.add_field(4, FID_NODE_VOLTAGE);

  IndexLauncher dist(DISTRIBUTE_CHARGE_TASK_ID, launch, params, ArgumentMap());
  dist.add_region_requirement(RegionRequirement(rw_pvt, 0, LEGION_READ_ONLY, LEGION_EXCLUSIVE, all_wires));
  for (FieldID f : {FID_IN_PTR, FID_OUT_PTR, FID_IN_LOC, FID_OUT_LOC}) dist.add_field(0, f);
  dist.add_field(0, FID_CURRENT), dist.add_field(0, FID_CURRENT + WIRE_SEGMENTS - 1);
  dist.add_region_requirement(RegionRequirement(rp_private, 0, LEGION_READ_WRITE, LEGION_EXCLUSIVE, all_nodes));
  dist.add_field(1, FID_CHARGE);
  dist.add_region_requirement(RegionRequirement(rp_shared, 0, REDOP_SUM, LEGION_EXCLUSIVE, all_nodes));
  dist.add_field(2, FID_CHARGE);
  dist.add_region_requirement(RegionRequirement(rp_ghost, 0, REDOP_SUM, LEGION_EXCLUSIVE, all_nodes));
  dist.add_field(3, FID_CHARGE);

  IndexLauncher update(UPDATE_VOLTAGES_TASK_ID, launch, params, ArgumentMap());
  update.add_region_requirement(RegionRequirement(rp_private, 0, LEGION_READ_WRITE, LEGION_EXCLUSIVE, all_nodes));
  update.add_field(0, FID_NODE_VOLTAGE), update.add_field(0, FID_CHARGE);
  update.add_region_requirement(RegionRequirement(rp_shared, 0, LEGION_READ_WRITE, LEGION_EXCLUSIVE, all_nodes));
  update.add_field(1, FID_NODE_VOLTAGE), update.add_field(1, FID_CHARGE);
  update.add_region_requirement(RegionRequirement(rp_private, 0, LEGION_READ_ONLY, LEGION_EXCLUSIVE, all_nodes));
  update.add_field(2, FID_NODE_CAP), update.add_field(2, FID_LEAKAGE);
  update.add_region_requirement(RegionRequirement(rp_shared, 0, LEGION_READ_ONLY, LEGION_EXCLUSIVE, all_nodes));
  update.add_field(3, FID_NODE_CAP), update.add_field(3, FID_LEAKAGE);

  long long loops_done = 0;
  auto run_loops = [&](long long count) {
    for (long long l = 0; l < count; l++, loops_done++) {
      bool stale = fault == "stale" && loops_done == 0;  // outside the trace: its launches differ
      hpcmap_app::StaleMark mark;
      if (stale) update.global_arg = hpcmap_app::stale_at(DomainPoint(Point<1>(0)), mark);
      if (trace && !stale) runtime->begin_trace(ctx, 1);
      runtime->execute_index_space(ctx, calc);
      runtime->execute_index_space(ctx, dist);
      runtime->execute_index_space(ctx, update);
      if (trace && !stale) runtime->end_trace(ctx, 1);
      if (stale) update.global_arg = params;
    }
  };
  run_loops(warmup);
  long long t0 = hpcmap_app::fenced_time_us(ctx, runtime);
  run_loops(loops);
  long long t1 = hpcmap_app::fenced_time_us(ctx, runtime);
  double elapsed = (t1 - t0) * 1e-6;

  /* Check: value by value against the sequential run, or by fingerprint against a stored one. */
  std::optional<CircuitFingerprint> stored;
  if (!reference_file.empty()) stored = hpcmap_app::read_fingerprint<NQ>(reference_file, key);
  bool small = double(nwires) * p.steps * (loops + warmup) <= double(check_limit);
  bool reference = !stored || small || !reference_out.empty();
  if (reference && !small && reference_out.empty())
    fprintf(stderr, "circuit: no stored reference for `%s` in %s; running the sequential reference (slow at this size)\n", key,
            reference_file.empty() ? "(no -reference file)" : reference_file.c_str());
  if (stored && fault == "check") stored->v[0] += 1.0;
  std::vector<char> check_buf(sizeof(CheckArgs) + (reference ? (nodes + 2 * nwires) * sizeof(float) : 0));
  CheckArgs *cargs = (CheckArgs *)check_buf.data();
  *cargs = CheckArgs{nodes, nwires, reference ? 1 : 0};
  if (reference) {
    Reference ref(p);
    for (long long l = 0; l < warmup + loops; l++) ref.loop(p);
    if (!reference_out.empty() && !hpcmap_app::append_fingerprint(reference_out, key, ref.fingerprint())) {
      fprintf(stderr, "circuit: cannot write %s\n", reference_out.c_str());
      exit(2);
    }
    float *v = (float *)(check_buf.data() + sizeof(CheckArgs)), *c = v + nodes;
    std::copy(ref.node_voltage.begin(), ref.node_voltage.end(), v);
    for (long long w = 0; w < nwires; w++) {
      c[2 * w] = ref.current[w * WIRE_SEGMENTS];
      c[2 * w + 1] = ref.current[w * WIRE_SEGMENTS + WIRE_SEGMENTS - 1];
    }
    if (fault == "check") v[0] += 1.0f;
  }
  IndexLauncher check(CHECK_TASK_ID, launch, UntypedBuffer(check_buf.data(), check_buf.size()), ArgumentMap());
  check.add_region_requirement(RegionRequirement(rp_private, 0, LEGION_READ_ONLY, LEGION_EXCLUSIVE, all_nodes));
  check.add_field(0, FID_NODE_VOLTAGE);
  check.add_region_requirement(RegionRequirement(rp_shared, 0, LEGION_READ_ONLY, LEGION_EXCLUSIVE, all_nodes));
  check.add_field(1, FID_NODE_VOLTAGE);
  check.add_region_requirement(RegionRequirement(rw_pvt, 0, LEGION_READ_ONLY, LEGION_EXCLUSIVE, all_wires));
  check.add_field(2, FID_CURRENT), check.add_field(2, FID_CURRENT + WIRE_SEGMENTS - 1);
  FutureMap results = runtime->execute_index_space(ctx, check);
  CheckResult total{0, 0, 0, 0.0, CircuitFingerprint::zero()};
  for (Domain::DomainPointIterator it(launch); it; it++) {
    const CheckResult &r = results.get_result<CheckResult>(*it);
    total.compared += r.compared, total.bad += r.bad, total.nonfinite += r.nonfinite;
    total.max_err = std::max(total.max_err, r.max_err);
    total.fingerprint.merge(r.fingerprint);
  }
  long long bad_bins = 0;
  if (!reference) bad_bins = total.fingerprint.differing_bins(*stored, 1e-4, total.max_err);
  bool passed = total.bad == 0 && total.nonfinite == 0 && bad_bins == 0 && (!reference || total.compared == nodes + 2 * nwires);
  if (!passed && reference)
    fprintf(stderr, "circuit: check failed: %lld of %lld values differ from the sequential reference (max rel. error %.3g), %lld not finite\n",
            total.bad, total.compared, total.max_err, total.nonfinite);
  if (!passed && !reference)
    fprintf(stderr, "circuit: check failed: %lld of %d fingerprint bins differ from the stored reference (max rel. error %.3g), %lld values not finite\n",
            bad_bins, CircuitFingerprint::SIZE / 2, total.max_err, total.nonfinite);

  double flops = (double(nwires) * (WIRE_SEGMENTS * 6 + (WIRE_SEGMENTS - 1) * 4) * p.steps + 4.0 * nwires + 4.0 * nodes) * loops;
  char extra[512];
  snprintf(extra, sizeof(extra),
           "\"pieces\": %lld, \"nodes_per_piece\": %lld, \"wires_per_piece\": %lld, \"pct_in_piece\": %d, \"steps\": %d, "
           "\"loops\": %lld, \"warmup\": %lld, \"check_kind\": \"%s\", \"max_rel_err\": %.3g, \"flops\": %.6g",
           p.pieces, p.npp, p.wpp, p.pct, p.steps, loops, warmup, reference ? "reference" : "stored", total.max_err, flops);
  hpcmap_app::print_result("circuit", elapsed, flops / elapsed / 1e9, "GFLOPS", passed, extra);

  runtime->destroy_logical_region(ctx, all_nodes);
  runtime->destroy_logical_region(ctx, all_wires);
  runtime->destroy_field_space(ctx, node_fs);
  runtime->destroy_field_space(ctx, wire_fs);
  runtime->destroy_index_space(ctx, privacy_colors);
  runtime->destroy_index_space(ctx, piece_is);
  runtime->destroy_index_space(ctx, node_is);
  runtime->destroy_index_space(ctx, wire_is);
  if (!passed) runtime->set_return_code(1);
}

}  // namespace

int main(int argc, char **argv)
{
  Runtime::set_top_level_task_id(TOP_LEVEL_TASK_ID);
  hpcmap_app::register_variant<top_level>(TOP_LEVEL_TASK_ID, "top_level", Processor::LOC_PROC, false);
  hpcmap_app::register_variant<init_nodes_task>(INIT_NODES_TASK_ID, "init_nodes", Processor::LOC_PROC);
  hpcmap_app::register_variant<init_wires_task>(INIT_WIRES_TASK_ID, "init_wires", Processor::LOC_PROC);
  hpcmap_app::register_variant<init_locations_task>(INIT_LOCATIONS_TASK_ID, "init_locations", Processor::LOC_PROC);
  hpcmap_app::register_variant<calc_currents_cpu>(CALC_CURRENTS_TASK_ID, "calculate_new_currents", Processor::LOC_PROC);
  hpcmap_app::register_variant<distribute_charge_cpu>(DISTRIBUTE_CHARGE_TASK_ID, "distribute_charge", Processor::LOC_PROC);
  hpcmap_app::register_variant<update_voltages_cpu>(UPDATE_VOLTAGES_TASK_ID, "update_voltages", Processor::LOC_PROC);
  hpcmap_app::register_variant<check_cpu>(CHECK_TASK_ID, "check", Processor::LOC_PROC);
#ifdef HPCMAP_USE_CUDA
  hpcmap_app::register_variant<calc_currents_gpu_task>(CALC_CURRENTS_TASK_ID, "calculate_new_currents", Processor::TOC_PROC);
  hpcmap_app::register_variant<distribute_charge_gpu_task>(DISTRIBUTE_CHARGE_TASK_ID, "distribute_charge", Processor::TOC_PROC);
  hpcmap_app::register_variant<update_voltages_gpu_task>(UPDATE_VOLTAGES_TASK_ID, "update_voltages", Processor::TOC_PROC);
#endif
  hpcmap::register_mapper();
  return Runtime::start(argc, argv);
}
