/* PENNANT staggered-grid Lagrangian hydrodynamics written with Legion's C++ API.
 *
 * Regions: rz_all (zones), rs_all (sides, four per quadrilateral zone), rp_all (points).
 * Partitions (dependent partitioning):
 *   rz_all_p          zones by piece (blocks of the zone grid)
 *   rs_all_p          sides by their zone's piece (by_preimage of rz_all_p through mapsz)
 *   rp_owned          points by owner piece (partition_by_field)
 *   touched           points a piece's sides reach (by_image of rs_all_p through mapsp1)
 *   privacy           pending partition of rp_all into rp_all_private and rp_all_shared, the
 *                     union of (touched - owned) (by_difference) over all pieces
 *   rp_all_private_p  owned private points (disjoint);  rp_all_shared_p  owned shared points
 *   rp_all_ghost_p    shared points a piece touches, its own included (aliased)
 * Each cycle: calc_global_dt (single task on futures), then index launches over the pieces:
 * adv_pos_half (points), calc_geometry_half, calc_forces (zones and sides), sum_point_mass_force
 * (corner sums into private points and sum reductions into ghost points), adv_pos_full
 * (points), calc_geometry_full_work (zones and sides), calc_energy_dt (zones; its per-piece
 * time-step limits meet in a min-reduction future).
 *
 * Checks: total energy is conserved, and the final state (zone density and energy, point
 * positions and velocities) matches a sequential run of the same physics on plain arrays, value
 * by value; above `-check-limit` zone-cycles, it matches the fingerprint of such a run kept for
 * this problem in the `-reference` file (hpcmap_app::Fingerprint), when it has one.
 * `-reference-out FILE` appends the sequential run's fingerprint to FILE; `-reference-key 1`
 * prints the problem's key in that file and stops. `-fault stale` skips
 * piece 0's adv_pos_full in the first cycle, leaving its points stale; `-fault check` corrupts one
 * reference value. Either must fail the check. */
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <vector>

#include "legion.h"
#include "hpcmap_app.h"
#include "hpcmap_mapper.h"
#include "pennant.h"
#ifdef HPCMAP_USE_CUDA
#include "realm/cuda/cuda_module.h"
#endif

using namespace Legion;
using namespace pennant;

namespace {

enum TaskIDs {
  TOP_LEVEL_TASK_ID = 1,
  INIT_POINTS_TASK_ID,
  INIT_ZONES_SIDES_TASK_ID,
  INIT_SIDE_REGS_TASK_ID,
  CALC_GLOBAL_DT_TASK_ID,
  ADV_POS_HALF_TASK_ID,
  CALC_GEOMETRY_HALF_TASK_ID,
  CALC_FORCES_TASK_ID,
  SUM_POINT_MASS_FORCE_TASK_ID,
  ADV_POS_FULL_TASK_ID,
  CALC_GEOMETRY_FULL_WORK_TASK_ID,
  CALC_ENERGY_DT_TASK_ID,
  SUM_ENERGY_TASK_ID,
  CHECK_TASK_ID,
};

constexpr ReductionOpID REDOP_SUM = LEGION_REDOP_SUM_FLOAT64;
constexpr ReductionOpID REDOP_MIN = LEGION_REDOP_MIN_FLOAT64;

const char *POINT_NAMES[NPF] = {"px_x", "px_y", "pu_x", "pu_y", "px0_x", "px0_y", "pu0_x", "pu0_y", "pxp_x", "pxp_y",
                                "pf_x", "pf_y", "pmaswt", "powner", "pbc"};
const char *ZONE_NAMES[NZF] = {"zx_x", "zx_y", "zxp_x", "zxp_y", "zarea", "zvol", "zareap", "zvolp", "zvol0", "zdl",
                               "zm", "zr", "zrp", "ze", "zetot", "zw", "zwrate", "zp", "zss", "zdu"};
const char *SIDE_NAMES[NSF] = {"mapsz", "mapsp1", "mapsp1_reg", "exp_x", "exp_y", "sarea", "svol", "sareap", "svolp",
                               "ssurfp_x", "ssurfp_y", "elen", "smf", "cmaswt", "sfp_x", "sfp_y", "sfq_x", "sfq_y",
                               "cftot_x", "cftot_y"};

FieldID pf(int f) { return POINT_FID_BASE + f; }
FieldID zf(int f) { return ZONE_FID_BASE + f; }
FieldID sf(int f) { return SIDE_FID_BASE + f; }
size_t field_size(FieldID fid)
{
  if (fid == pf(PBC) || fid == sf(MAPSP1_REG)) return sizeof(int32_t);
  return 8;  // doubles and Point<1>
}

struct Energy {
  double ei, ek;
};

struct CheckArgs {
  long long zones, points;
  int has_reference;  // followed by zr, ze per zone and px_x, px_y, pu_x, pu_y per point
};

/* The checked quantities, as fingerprinted. */
enum Quantity { Q_ZR, Q_ZE, Q_PX_X, Q_PX_Y, Q_PU_X, Q_PU_Y, NQ };
typedef hpcmap_app::Fingerprint<NQ> PennantFingerprint;

struct CheckResult {
  long long compared, bad, nonfinite;
  double max_err;
  PennantFingerprint fingerprint;
};

/* ---- views of a task's regions ---- */

DomainT<1> domain_of(Runtime *runtime, const PhysicalRegion &pr)
{
  return runtime->get_index_space_domain(IndexSpaceT<1>(pr.get_logical_region().get_index_space()));
}

template <typename T>
FieldView view_t(const PhysicalRegion &pr, const RegionRequirement &req, FieldID fid)
{
  typedef Realm::AffineAccessor<T, 1, coord_t> AA;
  AA acc;
  if (req.privilege == LEGION_READ_ONLY)
    acc = FieldAccessor<LEGION_READ_ONLY, T, 1, coord_t, AA>(pr, fid).accessor;
  else if (req.privilege == LEGION_WRITE_DISCARD)
    acc = FieldAccessor<LEGION_WRITE_DISCARD, T, 1, coord_t, AA>(pr, fid).accessor;
  else
    acc = FieldAccessor<LEGION_READ_WRITE, T, 1, coord_t, AA>(pr, fid).accessor;
  return FieldView{reinterpret_cast<char *>(acc.base), (long long)acc.strides[0]};
}

FieldView reduction_view(const PhysicalRegion &pr, const RegionRequirement &req, FieldID fid)
{
  ReductionAccessor<SumReduction<double>, false, 1, coord_t, Realm::AffineAccessor<double, 1, coord_t>> acc(pr, fid, req.redop);
  return FieldView{reinterpret_cast<char *>(acc.accessor.base), (long long)acc.accessor.strides[0]};
}

/* Adds the fields of regions[r] to `v`; points go to slot `slot` (0 private/shared, 1 ghost). */
void add_views(Views &v, const Task *task, const std::vector<PhysicalRegion> &regions, Runtime *runtime, unsigned r, int slot)
{
  if (domain_of(runtime, regions[r]).empty()) return;
  const RegionRequirement &req = task->regions[r];
  for (FieldID fid : req.privilege_fields) {
    FieldView fv = req.privilege == LEGION_REDUCE ? reduction_view(regions[r], req, fid)
                 : field_size(fid) == 8 ? view_t<double>(regions[r], req, fid) : view_t<int32_t>(regions[r], req, fid);
    if (fid >= POINT_FID_BASE) v.p[slot][fid - POINT_FID_BASE] = fv;
    else if (fid >= SIDE_FID_BASE) v.s[fid - SIDE_FID_BASE] = fv;
    else v.z[fid - ZONE_FID_BASE] = fv;
  }
}

Views views_of(const Task *task, const std::vector<PhysicalRegion> &regions, Runtime *runtime, unsigned first, unsigned count,
               unsigned ghost_mask)
{
  Views v;
  memset(&v, 0, sizeof(v));
  for (unsigned r = first; r < first + count; r++) add_views(v, task, regions, runtime, r, (ghost_mask >> r) & 1);
  return v;
}

const Params &params_of(const Task *task) { return *(const Params *)task->args; }
DtState state_of(const Task *task) { return task->futures[0].get_result<DtState>(); }

template <typename FN>
void for_each(const DomainT<1> &dom, FN fn)
{
  for (RectInDomainIterator<1> r(dom); r(); r++)
    for (long long i = r->lo[0]; i <= r->hi[0]; i++) fn(i);
}

/* ---- task shapes: which regions each task has, which of them hold ghost points ----
 * Point tasks have two groups of regions (private points, then shared points), each `group`
 * regions long; the others iterate the entities of region 0. */
struct Shape {
  unsigned nregions, ghost_mask, group;
};
const Shape ADV_POS_HALF_SHAPE{4, 0, 2}, ADV_POS_FULL_SHAPE{6, 0, 3};
const Shape GEOMETRY_HALF_SHAPE{6, 1u << 5, 0}, FORCES_SHAPE{6, 1u << 5, 0}, SUM_POINTS_SHAPE{3, 1u << 2, 0},
    GEOMETRY_FULL_SHAPE{6, 1u << 5, 0}, ENERGY_DT_SHAPE{2, 0, 0}, SUM_ENERGY_SHAPE{4, 1u << 3, 0};

/* ---- CPU variants of the cycle's tasks ---- */

template <int KIND>
void point_task_cpu(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  DtState st = state_of(task);
  if (st.done || hpcmap_app::skip_point(task)) return;
  const Shape &shape = KIND == 0 ? ADV_POS_HALF_SHAPE : ADV_POS_FULL_SHAPE;
  for (unsigned g = 0; g < 2; g++) {
    DomainT<1> dom = domain_of(runtime, regions[g * shape.group]);
    if (dom.empty()) continue;
    Views v = views_of(task, regions, runtime, g * shape.group, shape.group, 0);
    if (KIND == 0) for_each(dom, [&](long long i) { adv_pos_half(v, i, st.dt); });
    else for_each(dom, [&](long long i) { adv_pos_full(v, i, st.dt); });
  }
}

void geometry_half_cpu(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  if (state_of(task).done) return;
  Views v = views_of(task, regions, runtime, 0, GEOMETRY_HALF_SHAPE.nregions, GEOMETRY_HALF_SHAPE.ghost_mask);
  for_each(domain_of(runtime, regions[0]), [&](long long z) { calc_geometry_half(v, z); });
}

void forces_cpu(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  DtState st = state_of(task);
  if (st.done) return;
  const Params &prm = params_of(task);
  Views v = views_of(task, regions, runtime, 0, FORCES_SHAPE.nregions, FORCES_SHAPE.ghost_mask);
  for_each(domain_of(runtime, regions[0]), [&](long long z) { calc_forces(v, prm, z, st.dt); });
}

void sum_points_cpu(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  if (state_of(task).done) return;
  Views v = views_of(task, regions, runtime, 0, SUM_POINTS_SHAPE.nregions, SUM_POINTS_SHAPE.ghost_mask);
  const bool atomic[2] = {false, true};  // another task may fold into the same reduction instance
  for_each(domain_of(runtime, regions[0]), [&](long long s) { sum_to_points(v, s, atomic); });
}

void geometry_full_cpu(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  DtState st = state_of(task);
  if (st.done) return;
  Views v = views_of(task, regions, runtime, 0, GEOMETRY_FULL_SHAPE.nregions, GEOMETRY_FULL_SHAPE.ghost_mask);
  for_each(domain_of(runtime, regions[0]), [&](long long z) { calc_geometry_full_work(v, z, st.dt); });
}

double energy_dt_cpu(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  DtState st = state_of(task);
  if (st.done) return 1e99;
  const Params &prm = params_of(task);
  Views v = views_of(task, regions, runtime, 0, ENERGY_DT_SHAPE.nregions, ENERGY_DT_SHAPE.ghost_mask);
  double dt = 1e99;
  for_each(domain_of(runtime, regions[0]), [&](long long z) { dt = dmin(dt, calc_energy_dt(v, prm, z, st.dt)); });
  return dt;
}

DtState global_dt_task(const Task *task, const std::vector<PhysicalRegion> &, Context, Runtime *)
{
  return next_dt(params_of(task), task->futures[0].get_result<DtState>(), task->futures[1].get_result<double>());
}

/* ---- CUDA variants ---- */
#ifdef HPCMAP_USE_CUDA
/* The entities of `dom` as runs of consecutive points, in host memory (launch_gpu passes them to
 * the kernels by value), with the sentinel run launch_gpu expects. */
double run_gpu(GpuKernel k, const Views &v, const Params *prm, double dt, const DomainT<1> &dom)
{
  static const Params none{};
  const bool atomic[2] = {true, true};
  std::vector<Run> runs;
  long long total = 0;
  for (RectInDomainIterator<1> r(dom); r(); r++) {
    runs.push_back(Run{r->lo[0], total});
    total += r->hi[0] - r->lo[0] + 1;
  }
  if (total == 0) return 1e99;
  int n = (int)runs.size();
  runs.push_back(Run{0, total});
  double r = launch_gpu(k, v, prm ? *prm : none, dt, atomic, runs.data(), n, total, Realm::Cuda::get_task_cuda_stream());
  Realm::Cuda::set_task_ctxsync_required(false);
  return r;
}

template <int KIND>
void point_task_gpu(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  DtState st = state_of(task);
  if (st.done || hpcmap_app::skip_point(task)) return;
  const Shape &shape = KIND == 0 ? ADV_POS_HALF_SHAPE : ADV_POS_FULL_SHAPE;
  for (unsigned g = 0; g < 2; g++) {
    DomainT<1> dom = domain_of(runtime, regions[g * shape.group]);
    if (dom.empty()) continue;
    Views v = views_of(task, regions, runtime, g * shape.group, shape.group, 0);
    run_gpu(KIND == 0 ? K_ADV_POS_HALF : K_ADV_POS_FULL, v, nullptr, st.dt, dom);
  }
}

template <GpuKernel K>
void zone_task_gpu(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  DtState st = state_of(task);
  if (st.done) return;
  const Shape &shape = K == K_GEOMETRY_HALF ? GEOMETRY_HALF_SHAPE : K == K_FORCES ? FORCES_SHAPE
                     : K == K_SUM_TO_POINTS ? SUM_POINTS_SHAPE : GEOMETRY_FULL_SHAPE;
  Views v = views_of(task, regions, runtime, 0, shape.nregions, shape.ghost_mask);
  run_gpu(K, v, &params_of(task), st.dt, domain_of(runtime, regions[0]));
}

double energy_dt_gpu(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  DtState st = state_of(task);
  if (st.done) return 1e99;
  Views v = views_of(task, regions, runtime, 0, ENERGY_DT_SHAPE.nregions, ENERGY_DT_SHAPE.ghost_mask);
  return run_gpu(K_ENERGY_DT, v, &params_of(task), st.dt, domain_of(runtime, regions[0]));
}
#endif

/* ---- init tasks (CPU) ---- */

/* init_points: region rp_equal (WD all point fields). */
void init_points_task(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  const Params &prm = params_of(task);
  Views v = views_of(task, regions, runtime, 0, 1, 0);
  for_each(domain_of(runtime, regions[0]), [&](long long id) { init_point(prm, v, id % (prm.nzx + 1), id / (prm.nzx + 1)); });
}

/* init_zones_sides: regions rz_all_p (WD zone fields), rs_init (WD side fields). Returns the
 * piece's time-step limit in the initial state (the launch's futures meet in a min-reduction). */
double init_zones_sides_task(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  const Params &prm = params_of(task);
  PieceBlock b = piece_block(prm, task->index_point[0]);
  Views v = views_of(task, regions, runtime, 0, 2, 0);
  long long count = (b.x1 - b.x0) * (b.y1 - b.y0);
  double dt = 1e99;
  for (long long l = 0; l < count; l++) dt = dmin(dt, init_zone(prm, v, b, l));
  return dt;
}

/* init_side_regs: regions rs_all_p (RW mapsp1_reg), rs_all_p (RO mapsp1), rp_all_private_p (RO
 * powner; only its index space is used): which point region each side's point is in. */
void init_side_regs_task(const Task *, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  DomainT<1> pvt = domain_of(runtime, regions[2]);
  long long lo = pvt.bounds.lo[0];
  std::vector<char> is_private(pvt.empty() ? 0 : pvt.bounds.hi[0] - lo + 1, 0);
  for_each(pvt, [&](long long p) { is_private[p - lo] = 1; });
  FieldAccessor<LEGION_READ_WRITE, int32_t, 1> reg(regions[0], sf(MAPSP1_REG));
  FieldAccessor<LEGION_READ_ONLY, Point<1>, 1> p1(regions[1], sf(MAPSP1));
  for_each(domain_of(runtime, regions[0]), [&](long long s) {
    long long p = Point<1>(p1[Point<1>(s)])[0] - lo;
    reg[Point<1>(s)] = (p >= 0 && p < (long long)is_private.size() && is_private[p]) ? 0 : 1;
  });
}

/* sum_energy: regions rz_all_p, rs_all_p, rp_all_private_p, rp_all_ghost_p (RO). */
Energy sum_energy_task(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  Views v = views_of(task, regions, runtime, 0, SUM_ENERGY_SHAPE.nregions, SUM_ENERGY_SHAPE.ghost_mask);
  Energy e{0.0, 0.0};
  for_each(domain_of(runtime, regions[0]), [&](long long z) { zone_energy(v, z, e.ei, e.ek); });
  return e;
}

/* check: regions rz_all_p (RO zr, ze), rp_all_private_p and rp_all_shared_p (RO px, pu). */
CheckResult check_task(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  const CheckArgs &args = *(const CheckArgs *)task->args;
  const double *ref = (const double *)((const char *)task->args + sizeof(CheckArgs));
  const double *zref[2] = {ref, ref + args.zones};
  const double *pref[4] = {ref + 2 * args.zones, ref + 2 * args.zones + args.points, ref + 2 * args.zones + 2 * args.points,
                           ref + 2 * args.zones + 3 * args.points};
  const double *scale = ref + 2 * args.zones + 4 * args.points;  // per compared quantity: its largest magnitude
  CheckResult out{0, 0, 0, 0.0, PennantFingerprint::zero()};
  // The reference arrays and scales follow CheckArgs only when the run has a reference.
  auto compare = [&](double got, const double *want, long long i, int quantity) {
    if (!std::isfinite(got)) out.nonfinite++;
    if (!args.has_reference) return;
    double err = std::fabs(got - want[i]) / (1e-300 + scale[quantity]);
    out.compared++;
    out.max_err = std::max(out.max_err, err);
    if (!(err <= 1e-6)) out.bad++;
  };
  {
    FieldAccessor<LEGION_READ_ONLY, double, 1> zr(regions[0], zf(ZR)), ze(regions[0], zf(ZE));
    for_each(domain_of(runtime, regions[0]), [&](long long z) {
      compare(zr[Point<1>(z)], zref[0], z, 0);
      compare(ze[Point<1>(z)], zref[1], z, 1);
      out.fingerprint.add(Q_ZR, z, args.zones, zr[Point<1>(z)]);
      out.fingerprint.add(Q_ZE, z, args.zones, ze[Point<1>(z)]);
    });
  }
  for (int r = 1; r <= 2; r++) {
    DomainT<1> dom = domain_of(runtime, regions[r]);
    if (dom.empty()) continue;
    FieldAccessor<LEGION_READ_ONLY, double, 1> f[4] = {{regions[r], pf(PX_X)}, {regions[r], pf(PX_Y)},
                                                       {regions[r], pf(PU_X)}, {regions[r], pf(PU_Y)}};
    for_each(dom, [&](long long p) {
      for (int k = 0; k < 4; k++) {
        compare(f[k][Point<1>(p)], pref[k], p, 2 + k / 2);
        out.fingerprint.add(Q_PX_X + k, p, args.points, f[k][Point<1>(p)]);
      }
    });
  }
  return out;
}

/* ---- the sequential reference: the same physics on plain arrays ---- */

struct Reference {
  long long nz, ns, np;
  std::vector<std::vector<double>> zones, sides, points;
  Views v;
  DtState state{0.0, 0.0, 0, 0, 0};
  double dt_hydro = 1e99;  // the initial state's limit, then the last cycle's

  explicit Reference(const Params &prm)
  {
    nz = prm.nzx * prm.nzy, ns = 4 * nz, np = (prm.nzx + 1) * (prm.nzy + 1);
    zones.assign(NZF, std::vector<double>(nz)), sides.assign(NSF, std::vector<double>(ns));
    points.assign(NPF, std::vector<double>(np));
    for (int f = 0; f < NZF; f++) v.z[f] = FieldView{(char *)zones[f].data(), 8};
    for (int f = 0; f < NSF; f++) v.s[f] = FieldView{(char *)sides[f].data(), 8};
    for (int f = 0; f < NPF; f++) v.p[0][f] = v.p[1][f] = FieldView{(char *)points[f].data(), 8};
    for (long long gj = 0; gj <= prm.nzy; gj++)
      for (long long gi = 0; gi <= prm.nzx; gi++) init_point(prm, v, gi, gj);
    for (long long k = 0; k < prm.numpcx * prm.numpcy; k++) {
      PieceBlock b = piece_block(prm, k);
      for (long long l = 0; l < (b.x1 - b.x0) * (b.y1 - b.y0); l++) dt_hydro = dmin(dt_hydro, init_zone(prm, v, b, l));
    }
  }

  Energy energy() const
  {
    Energy e{0.0, 0.0};
    for (long long z = 0; z < nz; z++) zone_energy(v, z, e.ei, e.ek);
    return e;
  }

  PennantFingerprint fingerprint() const
  {
    PennantFingerprint f = PennantFingerprint::zero();
    for (long long z = 0; z < nz; z++) f.add(Q_ZR, z, nz, zones[ZR][z]), f.add(Q_ZE, z, nz, zones[ZE][z]);
    const int fields[4] = {PX_X, PX_Y, PU_X, PU_Y};
    for (int k = 0; k < 4; k++)
      for (long long p = 0; p < np; p++) f.add(Q_PX_X + k, p, np, points[fields[k]][p]);
    return f;
  }

  void cycle(const Params &prm)
  {
    state = next_dt(prm, state, dt_hydro);
    if (state.done) return;
    const double dt = state.dt;
    const bool atomic[2] = {false, false};
    // Each point and each zone (with its sides) is updated on its own, so those loops run on all
    // cores; the corner sums into points stay in order.
    auto each = [](long long n, auto fn) {
      hpcmap_app::parallel_ranges(n, [&](long long lo, long long hi) {
        for (long long i = lo; i < hi; i++) fn(i);
      });
    };
    each(np, [&](long long p) { adv_pos_half(v, p, dt); });
    each(nz, [&](long long z) { calc_geometry_half(v, z); });
    each(nz, [&](long long z) { calc_forces(v, prm, z, dt); });
    for (long long s = 0; s < ns; s++) sum_to_points(v, s, atomic);
    each(np, [&](long long p) { adv_pos_full(v, p, dt); });
    each(nz, [&](long long z) { calc_geometry_full_work(v, z, dt); });
    std::mutex lock;
    dt_hydro = 1e99;
    hpcmap_app::parallel_ranges(nz, [&](long long lo, long long hi) {
      double limit = 1e99;
      for (long long z = lo; z < hi; z++) limit = dmin(limit, calc_energy_dt(v, prm, z, dt));
      std::lock_guard<std::mutex> hold(lock);
      dt_hydro = dmin(dt_hydro, limit);
    });
  }
};

/* ---- the deck ---- */

bool read_deck(const std::string &path, Params &prm)
{
  std::ifstream in(path);
  if (!in) {
    fprintf(stderr, "pennant: cannot read deck %s\n", path.c_str());
    return false;
  }
  std::map<std::string, std::vector<std::string>> kv;
  std::string line;
  while (std::getline(in, line)) {
    line = line.substr(0, line.find('#'));
    std::istringstream ss(line);
    std::string key, word;
    if (!(ss >> key)) continue;
    while (ss >> word) kv[key].push_back(word);
  }
  auto num = [&](const char *key, double fallback) { return kv.count(key) && !kv[key].empty() ? atof(kv[key][0].c_str()) : fallback; };
  auto list = [&](const char *key) {
    std::vector<double> out;
    for (auto &w : kv[key]) out.push_back(atof(w.c_str()));
    return out;
  };
  memset(&prm, 0, sizeof(prm));
  std::string meshtype = kv.count("meshtype") ? kv["meshtype"][0] : "rect";
  std::vector<double> mp = list("meshparams");
  if (meshtype != "rect" || mp.size() < 2) {
    fprintf(stderr, "pennant: %s: need `meshtype rect` and `meshparams NZX NZY [LENX LENY]`\n", path.c_str());
    return false;
  }
  prm.nzx = (long long)mp[0], prm.nzy = (long long)mp[1];
  prm.lenx = mp.size() > 2 ? mp[2] : 1.0, prm.leny = mp.size() > 3 ? mp[3] : 1.0;
  std::vector<double> sub = list("subregion");
  prm.has_subregion = sub.size() == 4;
  for (size_t i = 0; i < 4 && i < sub.size(); i++) prm.subregion[i] = sub[i];
  prm.rinit = num("rinit", 1.0), prm.einit = num("einit", 0.0);
  prm.rinitsub = num("rinitsub", 1.0), prm.einitsub = num("einitsub", 0.0);
  prm.uinitradial = num("uinitradial", 0.0);
  std::vector<double> bcx = list("bcx"), bcy = list("bcy");
  prm.nbcx = (int)std::min<size_t>(bcx.size(), 4), prm.nbcy = (int)std::min<size_t>(bcy.size(), 4);
  for (int i = 0; i < prm.nbcx; i++) prm.bcx[i] = bcx[i];
  for (int i = 0; i < prm.nbcy; i++) prm.bcy[i] = bcy[i];
  prm.gamma = num("gamma", 5.0 / 3.0), prm.ssmin = num("ssmin", 0.0), prm.alfa = num("alfa", 0.5);
  prm.q1 = num("q1", 0.0), prm.q2 = num("q2", 2.0), prm.qgamma = num("qgamma", 5.0 / 3.0);
  prm.cfl = num("cfl", 0.6), prm.cflv = num("cflv", 0.1);
  prm.dtinit = num("dtinit", 1e99), prm.dtmax = num("dtmax", 1e99), prm.dtfac = num("dtfac", 1.2);
  prm.tstop = num("tstop", 1e99), prm.cstop = (long long)num("cstop", 999999);
  return true;
}

/* ---- top level ---- */

LogicalPartition named_partition(Runtime *runtime, IndexPartition ip, LogicalRegion root, const char *name)
{
  runtime->attach_name(ip, name);
  LogicalPartition lp = runtime->get_logical_partition_by_tree(ip, root.get_field_space(), root.get_tree_id());
  runtime->attach_name(lp, name);
  return lp;
}

FieldSpace make_fields(Context ctx, Runtime *runtime, int base, int n, const char *const *names)
{
  FieldSpace fs = runtime->create_field_space(ctx);
  FieldAllocator a = runtime->create_field_allocator(ctx, fs);
  for (int f = 0; f < n; f++) {
    a.allocate_field(field_size(base + f), base + f);
    runtime->attach_name(fs, base + f, names[f]);
  }
  return fs;
}

RegionRequirement req(LogicalPartition lp, PrivilegeMode mode, LogicalRegion parent, std::initializer_list<FieldID> fields,
                      ReductionOpID redop = 0)
{
  RegionRequirement r = redop ? RegionRequirement(lp, 0, redop, LEGION_EXCLUSIVE, parent)
                              : RegionRequirement(lp, 0, mode, LEGION_EXCLUSIVE, parent);
  for (FieldID f : fields) r.add_field(f);
  return r;
}

void top_level(const Task *, const std::vector<PhysicalRegion> &, Context ctx, Runtime *runtime)
{
  const InputArgs &args = Runtime::get_input_args();
  std::string deck;
  for (int i = 1; i < args.argc; i++)
    if (args.argv[i][0] != '-') { deck = args.argv[i]; break; }
    else if (i + 1 < args.argc) i++;
  deck = hpcmap_app::str_flag(args, "-deck", deck.c_str());
  Params prm;
  if (deck.empty()) {
    fprintf(stderr, "pennant: usage: pennant DECK.pnt [-npieces N] [-numpcx X -numpcy Y] [-cycles C] [-warmup W] [-nzx N -nzy N]\n");
    exit(2);
  }
  if (!read_deck(deck, prm)) exit(2);
  long long scale_nzx = hpcmap_app::int_flag(args, "-nzx", 0), scale_nzy = hpcmap_app::int_flag(args, "-nzy", 0);
  if (scale_nzx > 0) prm.nzx = scale_nzx;
  if (scale_nzy > 0) prm.nzy = scale_nzy;
  long long cycles = hpcmap_app::int_flag(args, "-cycles", 0);
  if (cycles > 0) prm.cstop = cycles;
  long long npieces = hpcmap_app::int_flag(args, "-npieces", 4);
  prm.numpcx = hpcmap_app::int_flag(args, "-numpcx", 0), prm.numpcy = hpcmap_app::int_flag(args, "-numpcy", 0);
  if (prm.numpcx <= 0 || prm.numpcy <= 0) {  // the factorization of npieces closest to the mesh's aspect
    prm.numpcx = 1;
    double best = 1e300;
    for (long long x = 1; x <= npieces; x++) {
      if (npieces % x) continue;
      double cost = std::fabs(std::log(double(prm.nzx) / x) - std::log(double(prm.nzy) / (npieces / x)));
      if (cost < best) best = cost, prm.numpcx = x;
    }
    prm.numpcy = npieces / prm.numpcx;
  }
  npieces = prm.numpcx * prm.numpcy;
  long long warmup = hpcmap_app::int_flag(args, "-warmup", 5);
  long long check_limit = hpcmap_app::int_flag(args, "-check-limit", 20000000);  // zone-cycles for the sequential run
  std::string reference_file = hpcmap_app::str_flag(args, "-reference", "");
  std::string reference_out = hpcmap_app::str_flag(args, "-reference-out", "");
  double energy_tol = atof(hpcmap_app::str_flag(args, "-energy-tol", "0.25").c_str());
  std::string fault = hpcmap_app::str_flag(args, "-fault", "none");
  if (prm.nzx < 1 || prm.nzy < 1 || prm.numpcx > prm.nzx || prm.numpcy > prm.nzy || prm.cstop < 1 || warmup < 0 ||
      warmup >= prm.cstop) {
    fprintf(stderr, "pennant: bad sizes: need 1 <= numpcx <= nzx, 1 <= numpcy <= nzy, 0 <= warmup < cycles\n");
    exit(2);
  }
  const long long nz = prm.nzx * prm.nzy, ns = 4 * nz, np = (prm.nzx + 1) * (prm.nzy + 1);
  // The problem's name in reference files: the mesh, its pieces, the cycles, and a hash of every
  // parameter (the deck's included).
  char key[256];
  snprintf(key, sizeof(key), "pennant nzx=%lld nzy=%lld numpcx=%lld numpcy=%lld cycles=%lld deck=%016llx", prm.nzx, prm.nzy,
           prm.numpcx, prm.numpcy, prm.cstop, (unsigned long long)hpcmap_app::hash_bytes(&prm, sizeof(prm)));
  if (hpcmap_app::int_flag(args, "-reference-key", 0)) {  // print it and stop
    printf("HPCMAP_REFERENCE_KEY %s\n", key);
    return;
  }

  IndexSpace zone_is = runtime->create_index_space(ctx, Rect<1>(0, nz - 1));
  IndexSpace side_is = runtime->create_index_space(ctx, Rect<1>(0, ns - 1));
  IndexSpace point_is = runtime->create_index_space(ctx, Rect<1>(0, np - 1));
  IndexSpace piece_is = runtime->create_index_space(ctx, Rect<1>(0, npieces - 1));
  FieldSpace zone_fs = make_fields(ctx, runtime, ZONE_FID_BASE, NZF, ZONE_NAMES);
  FieldSpace side_fs = make_fields(ctx, runtime, SIDE_FID_BASE, NSF, SIDE_NAMES);
  FieldSpace point_fs = make_fields(ctx, runtime, POINT_FID_BASE, NPF, POINT_NAMES);
  LogicalRegion rz_all = runtime->create_logical_region(ctx, zone_is, zone_fs);
  LogicalRegion rs_all = runtime->create_logical_region(ctx, side_is, side_fs);
  LogicalRegion rp_all = runtime->create_logical_region(ctx, point_is, point_fs);
  runtime->attach_name(rz_all, "rz_all");
  runtime->attach_name(rs_all, "rs_all");
  runtime->attach_name(rp_all, "rp_all");
  Domain launch(Rect<1>(0, npieces - 1));
  UntypedBuffer params(&prm, sizeof(prm));

  /* Zones by piece block; the sides of those zones for initialization; points evenly. */
  std::map<DomainPoint, Domain> zone_blocks, side_blocks;
  for (long long k = 0; k < npieces; k++) {
    PieceBlock b = piece_block(prm, k);
    long long count = (b.x1 - b.x0) * (b.y1 - b.y0);
    zone_blocks[DomainPoint(Point<1>(k))] = Domain(Rect<1>(b.first, b.first + count - 1));
    side_blocks[DomainPoint(Point<1>(k))] = Domain(Rect<1>(4 * b.first, 4 * (b.first + count) - 1));
  }
  IndexPartition zone_ip = runtime->create_partition_by_domain(ctx, zone_is, zone_blocks, piece_is, true, LEGION_DISJOINT_COMPLETE_KIND);
  LogicalPartition rz_all_p = named_partition(runtime, zone_ip, rz_all, "rz_all_p");
  LogicalPartition rs_init = named_partition(
      runtime, runtime->create_partition_by_domain(ctx, side_is, side_blocks, piece_is, true, LEGION_DISJOINT_COMPLETE_KIND),
      rs_all, "rs_init");
  LogicalPartition rp_equal = named_partition(runtime, runtime->create_equal_partition(ctx, point_is, piece_is), rp_all, "rp_equal");
  {
    IndexLauncher init(INIT_POINTS_TASK_ID, launch, params, ArgumentMap());
    RegionRequirement r(rp_equal, 0, LEGION_WRITE_DISCARD, LEGION_EXCLUSIVE, rp_all);
    for (int f = 0; f < NPF; f++) r.add_field(pf(f));
    init.add_region_requirement(r);
    runtime->execute_index_space(ctx, init);
  }
  Future dt_initial;
  {
    IndexLauncher init(INIT_ZONES_SIDES_TASK_ID, launch, params, ArgumentMap());
    RegionRequirement rz(rz_all_p, 0, LEGION_WRITE_DISCARD, LEGION_EXCLUSIVE, rz_all), rs(rs_init, 0, LEGION_WRITE_DISCARD, LEGION_EXCLUSIVE, rs_all);
    for (int f = 0; f < NZF; f++) rz.add_field(zf(f));
    for (int f = 0; f < NSF; f++) rs.add_field(sf(f));
    init.add_region_requirement(rz);
    init.add_region_requirement(rs);
    dt_initial = runtime->execute_index_space(ctx, init, REDOP_MIN);
  }

  /* Dependent partitions. */
  IndexPartition side_ip = runtime->create_partition_by_preimage(ctx, zone_ip, rs_all, rs_all, sf(MAPSZ), piece_is,
                                                                 LEGION_DISJOINT_COMPLETE_KIND);
  LogicalPartition rs_all_p = named_partition(runtime, side_ip, rs_all, "rs_all_p");
  IndexPartition owned_ip = runtime->create_partition_by_field(ctx, rp_all, rp_all, pf(POWNER), piece_is);
  named_partition(runtime, owned_ip, rp_all, "rp_owned");
  IndexPartition touched_ip = runtime->create_partition_by_image(ctx, point_is, rs_all_p, rs_all, sf(MAPSP1), piece_is);
  runtime->attach_name(touched_ip, "touched");
  IndexPartition ghost_tmp_ip = runtime->create_partition_by_difference(ctx, point_is, touched_ip, owned_ip, piece_is, LEGION_ALIASED_KIND);
  runtime->attach_name(ghost_tmp_ip, "ghost_tmp");
  IndexSpace privacy_colors = runtime->create_index_space(ctx, Rect<1>(0, 1));
  IndexPartition privacy_ip = runtime->create_pending_partition(ctx, point_is, privacy_colors, LEGION_DISJOINT_COMPLETE_KIND);
  IndexSpace all_shared_is = runtime->create_index_space_union(ctx, privacy_ip, DomainPoint(Point<1>(1)), ghost_tmp_ip);
  IndexSpace all_private_is = runtime->create_index_space_difference(ctx, privacy_ip, DomainPoint(Point<1>(0)), point_is,
                                                                      std::vector<IndexSpace>{all_shared_is});
  LogicalPartition privacy = named_partition(runtime, privacy_ip, rp_all, "privacy");
  runtime->attach_name(runtime->get_logical_subregion_by_color(ctx, privacy, DomainPoint(Point<1>(0))), "rp_all_private");
  runtime->attach_name(runtime->get_logical_subregion_by_color(ctx, privacy, DomainPoint(Point<1>(1))), "rp_all_shared");
  LogicalPartition rp_private = named_partition(
      runtime, runtime->create_partition_by_intersection(ctx, all_private_is, owned_ip, LEGION_DISJOINT_KIND), rp_all, "rp_all_private_p");
  LogicalPartition rp_shared = named_partition(
      runtime, runtime->create_partition_by_intersection(ctx, all_shared_is, owned_ip, LEGION_DISJOINT_KIND), rp_all, "rp_all_shared_p");
  LogicalPartition rp_ghost = named_partition(
      runtime, runtime->create_partition_by_intersection(ctx, all_shared_is, touched_ip, LEGION_ALIASED_KIND), rp_all, "rp_all_ghost_p");
  {
    IndexLauncher init(INIT_SIDE_REGS_TASK_ID, launch, params, ArgumentMap());
    init.add_region_requirement(req(rs_all_p, LEGION_READ_WRITE, rs_all, {sf(MAPSP1_REG)}));
    init.add_region_requirement(req(rs_all_p, LEGION_READ_ONLY, rs_all, {sf(MAPSP1)}));
    init.add_region_requirement(req(rp_private, LEGION_READ_ONLY, rp_all, {pf(POWNER)}));
    runtime->execute_index_space(ctx, init);
  }

  auto total_energy = [&]() {
    IndexLauncher l(SUM_ENERGY_TASK_ID, launch, params, ArgumentMap());
    l.add_region_requirement(req(rz_all_p, LEGION_READ_ONLY, rz_all, {zf(ZM), zf(ZVOL), zf(ZAREA), zf(ZETOT)}));
    l.add_region_requirement(req(rs_all_p, LEGION_READ_ONLY, rs_all, {sf(MAPSP1), sf(MAPSP1_REG), sf(SMF)}));
    l.add_region_requirement(req(rp_private, LEGION_READ_ONLY, rp_all, {pf(PX_X), pf(PX_Y), pf(PU_X), pf(PU_Y)}));
    l.add_region_requirement(req(rp_ghost, LEGION_READ_ONLY, rp_all, {pf(PX_X), pf(PX_Y), pf(PU_X), pf(PU_Y)}));
    FutureMap fm = runtime->execute_index_space(ctx, l);
    Energy e{0.0, 0.0};
    for (Domain::DomainPointIterator it(launch); it; it++) {
      Energy part = fm.get_result<Energy>(*it);
      e.ei += part.ei, e.ek += part.ek;
    }
    return e;
  };
  Energy e0 = total_energy();

  /* The cycle's launchers. */
  IndexLauncher half(ADV_POS_HALF_TASK_ID, launch, params, ArgumentMap());
  for (LogicalPartition lp : {rp_private, rp_shared}) {
    half.add_region_requirement(req(lp, LEGION_READ_ONLY, rp_all, {pf(PX_X), pf(PX_Y), pf(PU_X), pf(PU_Y)}));
    half.add_region_requirement(req(lp, LEGION_WRITE_DISCARD, rp_all,
                                    {pf(PX0_X), pf(PX0_Y), pf(PU0_X), pf(PU0_Y), pf(PXP_X), pf(PXP_Y), pf(PF_X), pf(PF_Y), pf(PMASWT)}));
  }
  IndexLauncher geo_half(CALC_GEOMETRY_HALF_TASK_ID, launch, params, ArgumentMap());
  geo_half.add_region_requirement(req(rz_all_p, LEGION_READ_ONLY, rz_all, {zf(ZVOL)}));
  geo_half.add_region_requirement(req(rz_all_p, LEGION_WRITE_DISCARD, rz_all, {zf(ZVOL0), zf(ZXP_X), zf(ZXP_Y), zf(ZAREAP), zf(ZVOLP), zf(ZDL)}));
  geo_half.add_region_requirement(req(rs_all_p, LEGION_READ_ONLY, rs_all, {sf(MAPSP1), sf(MAPSP1_REG)}));
  geo_half.add_region_requirement(req(rs_all_p, LEGION_WRITE_DISCARD, rs_all,
                                      {sf(EXP_X), sf(EXP_Y), sf(SAREAP), sf(SVOLP), sf(SSURFP_X), sf(SSURFP_Y), sf(ELEN)}));
  geo_half.add_region_requirement(req(rp_private, LEGION_READ_ONLY, rp_all, {pf(PXP_X), pf(PXP_Y)}));
  geo_half.add_region_requirement(req(rp_ghost, LEGION_READ_ONLY, rp_all, {pf(PXP_X), pf(PXP_Y)}));
  IndexLauncher forces(CALC_FORCES_TASK_ID, launch, params, ArgumentMap());
  forces.add_region_requirement(req(rz_all_p, LEGION_READ_ONLY, rz_all,
                                    {zf(ZXP_X), zf(ZXP_Y), zf(ZM), zf(ZVOLP), zf(ZAREAP), zf(ZR), zf(ZVOL0), zf(ZE), zf(ZWRATE)}));
  forces.add_region_requirement(req(rz_all_p, LEGION_WRITE_DISCARD, rz_all, {zf(ZRP), zf(ZP), zf(ZSS), zf(ZDU)}));
  forces.add_region_requirement(req(rs_all_p, LEGION_READ_ONLY, rs_all,
                                    {sf(MAPSP1), sf(MAPSP1_REG), sf(EXP_X), sf(EXP_Y), sf(SSURFP_X), sf(SSURFP_Y), sf(ELEN), sf(SMF), sf(SAREAP)}));
  forces.add_region_requirement(req(rs_all_p, LEGION_WRITE_DISCARD, rs_all,
                                    {sf(CMASWT), sf(SFP_X), sf(SFP_Y), sf(SFQ_X), sf(SFQ_Y), sf(CFTOT_X), sf(CFTOT_Y)}));
  forces.add_region_requirement(req(rp_private, LEGION_READ_ONLY, rp_all, {pf(PU0_X), pf(PU0_Y), pf(PXP_X), pf(PXP_Y)}));
  forces.add_region_requirement(req(rp_ghost, LEGION_READ_ONLY, rp_all, {pf(PU0_X), pf(PU0_Y), pf(PXP_X), pf(PXP_Y)}));
  IndexLauncher sums(SUM_POINT_MASS_FORCE_TASK_ID, launch, params, ArgumentMap());
  sums.add_region_requirement(req(rs_all_p, LEGION_READ_ONLY, rs_all, {sf(MAPSP1), sf(MAPSP1_REG), sf(CMASWT), sf(CFTOT_X), sf(CFTOT_Y)}));
  sums.add_region_requirement(req(rp_private, LEGION_READ_WRITE, rp_all, {pf(PMASWT), pf(PF_X), pf(PF_Y)}));
  sums.add_region_requirement(req(rp_ghost, LEGION_REDUCE, rp_all, {pf(PMASWT), pf(PF_X), pf(PF_Y)}, REDOP_SUM));
  IndexLauncher full(ADV_POS_FULL_TASK_ID, launch, params, ArgumentMap());
  for (LogicalPartition lp : {rp_private, rp_shared}) {
    full.add_region_requirement(req(lp, LEGION_READ_WRITE, rp_all, {pf(PU0_X), pf(PU0_Y), pf(PF_X), pf(PF_Y)}));
    full.add_region_requirement(req(lp, LEGION_READ_ONLY, rp_all, {pf(PX0_X), pf(PX0_Y), pf(PMASWT), pf(PBC)}));
    full.add_region_requirement(req(lp, LEGION_WRITE_DISCARD, rp_all, {pf(PX_X), pf(PX_Y), pf(PU_X), pf(PU_Y)}));
  }
  IndexLauncher geo_full(CALC_GEOMETRY_FULL_WORK_TASK_ID, launch, params, ArgumentMap());
  geo_full.add_region_requirement(req(rz_all_p, LEGION_READ_WRITE, rz_all, {zf(ZETOT)}));
  geo_full.add_region_requirement(req(rz_all_p, LEGION_WRITE_DISCARD, rz_all, {zf(ZX_X), zf(ZX_Y), zf(ZAREA), zf(ZVOL), zf(ZW)}));
  geo_full.add_region_requirement(req(rs_all_p, LEGION_READ_ONLY, rs_all, {sf(MAPSP1), sf(MAPSP1_REG), sf(SFP_X), sf(SFP_Y), sf(SFQ_X), sf(SFQ_Y)}));
  geo_full.add_region_requirement(req(rs_all_p, LEGION_WRITE_DISCARD, rs_all, {sf(SAREA), sf(SVOL)}));
  for (LogicalPartition lp : {rp_private, rp_ghost})
    geo_full.add_region_requirement(req(lp, LEGION_READ_ONLY, rp_all,
                                        {pf(PX_X), pf(PX_Y), pf(PU0_X), pf(PU0_Y), pf(PU_X), pf(PU_Y), pf(PXP_X), pf(PXP_Y)}));
  IndexLauncher energy_dt(CALC_ENERGY_DT_TASK_ID, launch, params, ArgumentMap());
  energy_dt.add_region_requirement(req(rz_all_p, LEGION_READ_ONLY, rz_all,
                                       {zf(ZVOL), zf(ZVOL0), zf(ZVOLP), zf(ZM), zf(ZW), zf(ZP), zf(ZETOT), zf(ZDU), zf(ZSS), zf(ZDL)}));
  energy_dt.add_region_requirement(req(rz_all_p, LEGION_WRITE_DISCARD, rz_all, {zf(ZWRATE), zf(ZE), zf(ZR)}));

  Future state = Future::from_value<DtState>(DtState{0.0, 0.0, 0, 0, 0});
  Future dt_hydro = dt_initial;
  long long cycles_done = 0;
  hpcmap_app::StaleMark mark;
  auto run_cycles = [&](long long count) {
    for (long long c = 0; c < count; c++, cycles_done++) {
      bool stale = fault == "stale" && cycles_done == 0;
      full.global_arg = stale ? hpcmap_app::stale_at(DomainPoint(Point<1>(0)), mark) : params;
      TaskLauncher gdt(CALC_GLOBAL_DT_TASK_ID, params);
      gdt.add_future(state);
      gdt.add_future(dt_hydro);
      state = runtime->execute_task(ctx, gdt);
      for (IndexLauncher *l : {&half, &geo_half, &forces, &sums, &full, &geo_full, &energy_dt}) {
        l->futures.clear();
        l->add_future(state);
      }
      runtime->execute_index_space(ctx, half);
      runtime->execute_index_space(ctx, geo_half);
      runtime->execute_index_space(ctx, forces);
      runtime->execute_index_space(ctx, sums);
      runtime->execute_index_space(ctx, full);
      runtime->execute_index_space(ctx, geo_full);
      dt_hydro = runtime->execute_index_space(ctx, energy_dt, REDOP_MIN);
    }
  };
  run_cycles(warmup);
  Future warm_state = state;
  long long t0 = hpcmap_app::fenced_time_us(ctx, runtime);
  run_cycles(prm.cstop - warmup);
  long long t1 = hpcmap_app::fenced_time_us(ctx, runtime);
  double elapsed = (t1 - t0) * 1e-6;
  DtState s_warm = warm_state.get_result<DtState>(), s_end = state.get_result<DtState>();
  long long timed_cycles = s_end.cycle - s_warm.cycle;
  // A cycle that leaves an invalid state makes the next one stop the run (next_dt); after the
  // last cycle, its time-step limit says the same.
  const bool invalid = s_end.failed || !(dt_hydro.get_result<double>() > 0.0);
  if (invalid)
    fprintf(stderr,
            "pennant: invalid state after cycle %lld (t = %.6g): a zone turned inside out or a value is not finite; "
            "the time step is too large for this mesh or the deck's parameters are unphysical\n",
            s_end.cycle, s_end.failed ? s_end.time : s_end.time + s_end.dt);

  /* Checks: energy conservation, and the sequential reference on small meshes. */
  Energy e1 = total_energy();
  double etot0 = e0.ei + e0.ek, etot1 = e1.ei + e1.ek;
  double energy_err = std::fabs(etot1 - etot0) / std::max(std::fabs(etot0), 1e-300);
  std::optional<PennantFingerprint> stored;
  if (!reference_file.empty()) stored = hpcmap_app::read_fingerprint<NQ>(reference_file, key);
  bool small = double(nz) * double(prm.cstop) <= double(check_limit);
  bool reference = !invalid && (!stored || small || !reference_out.empty());
  if (reference && !small && reference_out.empty())
    fprintf(stderr, "pennant: no stored reference for `%s` in %s; running the sequential reference (slow at this size)\n", key,
            reference_file.empty() ? "(no -reference file)" : reference_file.c_str());
  if (stored && fault == "check") stored->v[0] += 1.0;
  std::vector<char> buf(sizeof(CheckArgs) + (reference ? (2 * nz + 4 * np + 4) * sizeof(double) : 4 * sizeof(double)));
  CheckArgs *cargs = (CheckArgs *)buf.data();
  *cargs = CheckArgs{nz, np, reference ? 1 : 0};
  double *ref = (double *)(buf.data() + sizeof(CheckArgs));
  long long ref_cycles = 0;
  bool ref_invalid = false;
  if (reference) {
    Reference seq(prm);
    for (long long c = 0; c < prm.cstop && !seq.state.done; c++) seq.cycle(prm);
    ref_cycles = seq.state.cycle;
    ref_invalid = seq.state.failed || !(seq.dt_hydro > 0.0);
    if (!reference_out.empty() && !hpcmap_app::append_fingerprint(reference_out, key, seq.fingerprint())) {
      fprintf(stderr, "pennant: cannot write %s\n", reference_out.c_str());
      exit(2);
    }
    if (hpcmap_app::int_flag(args, "-dump-zr", 0))
      for (long long z = 0; z < nz; z++) printf("zr %lld %.8e\n", z + 1, seq.zones[ZR][z]);
    double *out = ref;
    for (int f : {ZR, ZE}) out = std::copy(seq.zones[f].begin(), seq.zones[f].end(), out);
    for (int f : {PX_X, PX_Y, PU_X, PU_Y}) out = std::copy(seq.points[f].begin(), seq.points[f].end(), out);
    auto maxabs = [](const std::vector<double> &a, const std::vector<double> &b) {
      double m = 0.0;
      for (double x : a) m = std::max(m, std::fabs(x));
      for (double x : b) m = std::max(m, std::fabs(x));
      return std::max(m, 1e-300);
    };
    out[0] = maxabs(seq.zones[ZR], seq.zones[ZR]);
    out[1] = maxabs(seq.zones[ZE], seq.zones[ZE]);
    out[2] = maxabs(seq.points[PX_X], seq.points[PX_Y]);
    out[3] = maxabs(seq.points[PU_X], seq.points[PU_Y]);
    if (fault == "check") ref[0] += 1.0;
  } else {
    std::fill(ref, ref + 4, 1.0);
  }
  IndexLauncher check(CHECK_TASK_ID, launch, UntypedBuffer(buf.data(), buf.size()), ArgumentMap());
  check.add_region_requirement(req(rz_all_p, LEGION_READ_ONLY, rz_all, {zf(ZR), zf(ZE)}));
  check.add_region_requirement(req(rp_private, LEGION_READ_ONLY, rp_all, {pf(PX_X), pf(PX_Y), pf(PU_X), pf(PU_Y)}));
  check.add_region_requirement(req(rp_shared, LEGION_READ_ONLY, rp_all, {pf(PX_X), pf(PX_Y), pf(PU_X), pf(PU_Y)}));
  FutureMap results = runtime->execute_index_space(ctx, check);
  CheckResult total{0, 0, 0, 0.0, PennantFingerprint::zero()};
  for (Domain::DomainPointIterator it(launch); it; it++) {
    const CheckResult &r = results.get_result<CheckResult>(*it);
    total.compared += r.compared, total.bad += r.bad, total.nonfinite += r.nonfinite;
    total.max_err = std::max(total.max_err, r.max_err);
    total.fingerprint.merge(r.fingerprint);
  }
  bool energy_ok = energy_err <= energy_tol;
  long long bad_bins = 0;
  bool stored_check = !invalid && !reference;
  if (stored_check) bad_bins = total.fingerprint.differing_bins(*stored, 1e-6, total.max_err);
  bool ref_ok = stored_check ? bad_bins == 0
              : !reference || (!ref_invalid && total.bad == 0 && total.compared == 2 * nz + 4 * np && ref_cycles == s_end.cycle);
  bool passed = !invalid && energy_ok && ref_ok && total.nonfinite == 0 && timed_cycles > 0;
  if (invalid) {
    // the message above says it all
  } else if (ref_invalid) {
    fprintf(stderr, "pennant: check failed: the sequential run reached an invalid state in cycle %lld, this run did not\n", ref_cycles);
  } else {
  if (!energy_ok)
    fprintf(stderr, "pennant: check failed: total energy %.12g -> %.12g (relative change %.3g > %.3g)\n", etot0, etot1, energy_err, energy_tol);
  if (!ref_ok && stored_check)
    fprintf(stderr, "pennant: check failed: %lld of %d fingerprint bins differ from the stored reference (max rel. error %.3g)\n",
            bad_bins, PennantFingerprint::SIZE / 2, total.max_err);
  else if (!ref_ok)
    fprintf(stderr, "pennant: check failed: %lld of %lld values differ from the sequential run (max rel. error %.3g; cycles %lld vs %lld)\n",
            total.bad, total.compared, total.max_err, s_end.cycle, ref_cycles);
  if (total.nonfinite) fprintf(stderr, "pennant: check failed: %lld values are not finite\n", total.nonfinite);
  if (timed_cycles <= 0) fprintf(stderr, "pennant: no cycles were timed (the run ended during warm-up)\n");
  }

  double rate = timed_cycles > 0 ? double(nz) * timed_cycles / elapsed / 1e6 : 0.0;
  auto num = [](double x, const char *format) {  // JSON has no NaN or infinity
    char out[40];
    if (is_finite(x)) snprintf(out, sizeof(out), format, x);
    else snprintf(out, sizeof(out), "null");
    return std::string(out);
  };
  char extra[1024];
  snprintf(extra, sizeof(extra),
           "\"deck\": \"%s\", \"nzx\": %lld, \"nzy\": %lld, \"pieces\": %lld, \"numpcx\": %lld, \"numpcy\": %lld, "
           "\"cycles\": %lld, \"timed_cycles\": %lld, \"warmup\": %lld, \"time\": %s, \"energy_initial\": %s, "
           "\"energy_final\": %s, \"energy_rel_change\": %s, \"check_kind\": \"%s\", \"max_rel_err\": %s, \"state\": \"%s\"",
           deck.c_str(), prm.nzx, prm.nzy, npieces, prm.numpcx, prm.numpcy, s_end.cycle, timed_cycles, warmup,
           num(s_end.time + s_end.dt, "%.9g").c_str(), num(etot0, "%.12g").c_str(), num(etot1, "%.12g").c_str(),
           num(energy_err, "%.3g").c_str(), reference ? "energy+reference" : stored_check ? "energy+stored" : "energy", num(total.max_err, "%.3g").c_str(),
           invalid ? "invalid" : "valid");
  hpcmap_app::print_result("pennant", elapsed, rate, "Mzone-cycles/s", passed, extra);

  runtime->destroy_logical_region(ctx, rz_all);
  runtime->destroy_logical_region(ctx, rs_all);
  runtime->destroy_logical_region(ctx, rp_all);
  runtime->destroy_field_space(ctx, zone_fs);
  runtime->destroy_field_space(ctx, side_fs);
  runtime->destroy_field_space(ctx, point_fs);
  runtime->destroy_index_space(ctx, privacy_colors);
  runtime->destroy_index_space(ctx, piece_is);
  runtime->destroy_index_space(ctx, zone_is);
  runtime->destroy_index_space(ctx, side_is);
  runtime->destroy_index_space(ctx, point_is);
  if (!passed) runtime->set_return_code(1);
}

}  // namespace

int main(int argc, char **argv)
{
  Runtime::set_top_level_task_id(TOP_LEVEL_TASK_ID);
  hpcmap_app::register_variant<top_level>(TOP_LEVEL_TASK_ID, "top_level", Processor::LOC_PROC, false);
  hpcmap_app::register_variant<init_points_task>(INIT_POINTS_TASK_ID, "init_points", Processor::LOC_PROC);
  hpcmap_app::register_variant<init_zones_sides_task>(INIT_ZONES_SIDES_TASK_ID, "init_zones_sides", Processor::LOC_PROC);
  hpcmap_app::register_variant<init_side_regs_task>(INIT_SIDE_REGS_TASK_ID, "init_side_regs", Processor::LOC_PROC);
  hpcmap_app::register_variant<global_dt_task>(CALC_GLOBAL_DT_TASK_ID, "calc_global_dt", Processor::LOC_PROC);
  hpcmap_app::register_variant<point_task_cpu<0>>(ADV_POS_HALF_TASK_ID, "adv_pos_half", Processor::LOC_PROC);
  hpcmap_app::register_variant<geometry_half_cpu>(CALC_GEOMETRY_HALF_TASK_ID, "calc_geometry_half", Processor::LOC_PROC);
  hpcmap_app::register_variant<forces_cpu>(CALC_FORCES_TASK_ID, "calc_forces", Processor::LOC_PROC);
  hpcmap_app::register_variant<sum_points_cpu>(SUM_POINT_MASS_FORCE_TASK_ID, "sum_point_mass_force", Processor::LOC_PROC);
  hpcmap_app::register_variant<point_task_cpu<1>>(ADV_POS_FULL_TASK_ID, "adv_pos_full", Processor::LOC_PROC);
  hpcmap_app::register_variant<geometry_full_cpu>(CALC_GEOMETRY_FULL_WORK_TASK_ID, "calc_geometry_full_work", Processor::LOC_PROC);
  hpcmap_app::register_variant<energy_dt_cpu>(CALC_ENERGY_DT_TASK_ID, "calc_energy_dt", Processor::LOC_PROC);
  hpcmap_app::register_variant<sum_energy_task>(SUM_ENERGY_TASK_ID, "sum_energy", Processor::LOC_PROC);
  hpcmap_app::register_variant<check_task>(CHECK_TASK_ID, "check", Processor::LOC_PROC);
#ifdef HPCMAP_USE_CUDA
  hpcmap_app::register_variant<point_task_gpu<0>>(ADV_POS_HALF_TASK_ID, "adv_pos_half", Processor::TOC_PROC);
  hpcmap_app::register_variant<zone_task_gpu<K_GEOMETRY_HALF>>(CALC_GEOMETRY_HALF_TASK_ID, "calc_geometry_half", Processor::TOC_PROC);
  hpcmap_app::register_variant<zone_task_gpu<K_FORCES>>(CALC_FORCES_TASK_ID, "calc_forces", Processor::TOC_PROC);
  hpcmap_app::register_variant<zone_task_gpu<K_SUM_TO_POINTS>>(SUM_POINT_MASS_FORCE_TASK_ID, "sum_point_mass_force", Processor::TOC_PROC);
  hpcmap_app::register_variant<point_task_gpu<1>>(ADV_POS_FULL_TASK_ID, "adv_pos_full", Processor::TOC_PROC);
  hpcmap_app::register_variant<zone_task_gpu<K_GEOMETRY_FULL_WORK>>(CALC_GEOMETRY_FULL_WORK_TASK_ID, "calc_geometry_full_work", Processor::TOC_PROC);
  hpcmap_app::register_variant<energy_dt_gpu>(CALC_ENERGY_DT_TASK_ID, "calc_energy_dt", Processor::TOC_PROC);
#endif
  hpcmap::register_mapper();
  return Runtime::start(argc, argv);
}
