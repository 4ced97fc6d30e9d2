/* PRK star stencil (radius 2) written with Legion's C++ API.
 *
 * One 2-D region `grid` (fields input, output) is split into ntx x nty tiles three ways:
 * `private` (disjoint blocks), `interior` (each block minus the global border of width RADIUS,
 * where output is computed) and `ghost` (each block grown by RADIUS, aliased: the input a tile
 * reads). Each time step is one index launch of `stencil` and one of `increment`.
 * After `prune` warm-up steps, `steps` steps are timed. Since the input is the linear field
 * x + y, every interior output equals 2 per step exactly and every input x + y + steps, which the
 * check verifies at every size. `-fault stale` skips tile (0, 0) in the first step's increment,
 * leaving that tile's input stale, which the check must catch. */
#include <cmath>
#include <csignal>
#include <map>
#include <thread>
#include <chrono>

#include "legion.h"
#include "hpcmap_app.h"
#include "hpcmap_mapper.h"
#include "stencil.h"
#ifdef HPCMAP_USE_CUDA
#include "realm/cuda/cuda_module.h"
#endif

using namespace Legion;

namespace {

enum TaskIDs { TOP_LEVEL_TASK_ID = 1, INIT_TASK_ID, STENCIL_TASK_ID, INCREMENT_TASK_ID, CHECK_TASK_ID };
enum FieldIDs { FID_INPUT = 101, FID_OUTPUT = 102 };
constexpr int R = stencil::RADIUS;

typedef FieldAccessor<LEGION_READ_ONLY, double, 2, coord_t, Realm::AffineAccessor<double, 2, coord_t>> ROAcc;
typedef FieldAccessor<LEGION_READ_WRITE, double, 2, coord_t, Realm::AffineAccessor<double, 2, coord_t>> RWAcc;
typedef FieldAccessor<LEGION_WRITE_DISCARD, double, 2, coord_t, Realm::AffineAccessor<double, 2, coord_t>> WDAcc;

struct CheckArgs {
  long long nx, ny, total_steps;
  int corrupt;  // fault injection for tests: report one wrong value
};

Rect<2> region_rect(Runtime *runtime, const PhysicalRegion &pr)
{
  return runtime->get_index_space_domain(pr.get_logical_region().get_index_space());
}

template <typename ACC>
stencil::Block block_of(const ACC &acc, Rect<2> rect)
{
  stencil::Block b;
  b.lo_x = rect.lo[0]; b.lo_y = rect.lo[1]; b.hi_x = rect.hi[0]; b.hi_y = rect.hi[1];
  b.base = rect.empty() ? nullptr : const_cast<double *>(acc.ptr(rect.lo));
  b.sx = acc.accessor.strides[0] / (coord_t)sizeof(double);
  b.sy = acc.accessor.strides[1] / (coord_t)sizeof(double);
  return b;
}

inline double &at(const stencil::Block &b, long long x, long long y)
{
  return b.base[(x - b.lo_x) * b.sx + (y - b.lo_y) * b.sy];
}

/* ---- CPU variants ---- */

void init_cpu(const Task *, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  Rect<2> rect = region_rect(runtime, regions[0]);
  if (rect.empty()) return;
  stencil::Block in = block_of(WDAcc(regions[0], FID_INPUT), rect);
  stencil::Block out = block_of(WDAcc(regions[0], FID_OUTPUT), rect);
  for (long long y = rect.lo[1]; y <= rect.hi[1]; y++)
    for (long long x = rect.lo[0]; x <= rect.hi[0]; x++) {
      at(in, x, y) = double(x + y);
      at(out, x, y) = 0.0;
    }
}

void stencil_cpu(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  if (task->arglen == sizeof(int) && *(const int *)task->args == 1 && task->index_point[0] == 0 &&
      task->index_point[1] == 0)
    fprintf(stderr, "stencil: injected crash\n"), abort();  // fault injection for tests: `-fault crash`
  Rect<2> out_rect = region_rect(runtime, regions[0]);
  if (out_rect.empty()) return;
  Rect<2> in_rect = region_rect(runtime, regions[1]);
  stencil::Block out = block_of(RWAcc(regions[0], FID_OUTPUT), out_rect);
  stencil::Block in = block_of(ROAcc(regions[1], FID_INPUT), in_rect);
  for (long long y = out_rect.lo[1]; y <= out_rect.hi[1]; y++)
    for (long long x = out_rect.lo[0]; x <= out_rect.hi[0]; x++) {
      double sum = 0.0;
      for (int k = 1; k <= R; k++) {
        double w = stencil::weight(k);
        sum += w * (at(in, x + k, y) - at(in, x - k, y)) + w * (at(in, x, y + k) - at(in, x, y - k));
      }
      at(out, x, y) += sum;
    }
}

void increment_cpu(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  if (hpcmap_app::skip_point(task)) return;
  Rect<2> rect = region_rect(runtime, regions[0]);
  if (rect.empty()) return;
  stencil::Block in = block_of(RWAcc(regions[0], FID_INPUT), rect);
  for (long long y = rect.lo[1]; y <= rect.hi[1]; y++)
    for (long long x = rect.lo[0]; x <= rect.hi[0]; x++) at(in, x, y) += 1.0;
}

/* Number of wrong values in this tile. */
long long check_cpu(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  const CheckArgs &args = *(const CheckArgs *)task->args;
  Rect<2> rect = region_rect(runtime, regions[0]);
  if (rect.empty()) return 0;
  ROAcc in(regions[0], FID_INPUT), out(regions[0], FID_OUTPUT);
  long long wrong = 0;
  for (PointInRectIterator<2> p(rect); p(); p++) {
    long long x = p[0], y = p[1];
    bool inside = x >= R && x < args.nx - R && y >= R && y < args.ny - R;
    double want_out = inside ? 2.0 * args.total_steps : 0.0;
    double want_in = double(x + y + args.total_steps);
    double got_out = out[*p] + ((args.corrupt && x == rect.lo[0] && y == rect.lo[1]) ? 1.0 : 0.0);
    if (std::fabs(got_out - want_out) > 1e-9 * (1.0 + want_out) || in[*p] != want_in) wrong++;
  }
  return wrong;
}

/* ---- CUDA variants ---- */
#ifdef HPCMAP_USE_CUDA
void init_gpu_task(const Task *, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  Rect<2> rect = region_rect(runtime, regions[0]);
  stencil::init_gpu(block_of(WDAcc(regions[0], FID_INPUT), rect), block_of(WDAcc(regions[0], FID_OUTPUT), rect),
                    Realm::Cuda::get_task_cuda_stream());
  Realm::Cuda::set_task_ctxsync_required(false);
}

void stencil_gpu_task(const Task *, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  Rect<2> out_rect = region_rect(runtime, regions[0]);
  Rect<2> in_rect = region_rect(runtime, regions[1]);
  stencil::stencil_gpu(block_of(RWAcc(regions[0], FID_OUTPUT), out_rect), block_of(ROAcc(regions[1], FID_INPUT), in_rect),
                       Realm::Cuda::get_task_cuda_stream());
  Realm::Cuda::set_task_ctxsync_required(false);
}

void increment_gpu_task(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *runtime)
{
  if (hpcmap_app::skip_point(task)) return;
  Rect<2> rect = region_rect(runtime, regions[0]);
  stencil::increment_gpu(block_of(RWAcc(regions[0], FID_INPUT), rect), Realm::Cuda::get_task_cuda_stream());
  Realm::Cuda::set_task_ctxsync_required(false);
}
#endif

/* ---- partitions ---- */

/* Tile (i, j)'s block of an n-point axis split into t tiles, as [lo, hi]. */
std::pair<coord_t, coord_t> span(coord_t n, coord_t t, coord_t i) { return {i * n / t, (i + 1) * n / t - 1}; }

LogicalPartition make_partition(Context ctx, Runtime *runtime, LogicalRegion grid, IndexSpace tiles,
                                coord_t nx, coord_t ny, coord_t ntx, coord_t nty, const char *name, int kind)
{
  std::map<DomainPoint, Domain> domains;
  for (coord_t i = 0; i < ntx; i++)
    for (coord_t j = 0; j < nty; j++) {
      auto [x0, x1] = span(nx, ntx, i);
      auto [y0, y1] = span(ny, nty, j);
      if (kind == 1) {  // interior: away from the global border
        x0 = std::max<coord_t>(x0, R); x1 = std::min<coord_t>(x1, nx - 1 - R);
        y0 = std::max<coord_t>(y0, R); y1 = std::min<coord_t>(y1, ny - 1 - R);
      } else if (kind == 2) {  // ghost: grown by the stencil radius
        x0 = std::max<coord_t>(x0 - R, 0); x1 = std::min<coord_t>(x1 + R, nx - 1);
        y0 = std::max<coord_t>(y0 - R, 0); y1 = std::min<coord_t>(y1 + R, ny - 1);
      }
      domains[DomainPoint(Point<2>(i, j))] = Domain(Rect<2>(Point<2>(x0, y0), Point<2>(x1, y1)));
    }
  PartitionKind part_kind = kind == 2 ? LEGION_ALIASED_COMPLETE_KIND
                          : kind == 1 ? LEGION_DISJOINT_INCOMPLETE_KIND : LEGION_DISJOINT_COMPLETE_KIND;
  IndexPartition ip = runtime->create_partition_by_domain(ctx, grid.get_index_space(), domains, tiles, true, part_kind);
  LogicalPartition lp = runtime->get_logical_partition(ctx, grid, ip);
  runtime->attach_name(ip, name);
  runtime->attach_name(lp, name);
  return lp;
}

void top_level(const Task *, const std::vector<PhysicalRegion> &, Context ctx, Runtime *runtime)
{
  const InputArgs &args = Runtime::get_input_args();
  coord_t nx = hpcmap_app::int_flag(args, "-nx", 400), ny = hpcmap_app::int_flag(args, "-ny", 400);
  coord_t ntx = hpcmap_app::int_flag(args, "-ntx", 2), nty = hpcmap_app::int_flag(args, "-nty", 2);
  long long steps = hpcmap_app::int_flag(args, "-tsteps", 20), prune = hpcmap_app::int_flag(args, "-tprune", 2);
  bool trace = hpcmap_app::int_flag(args, "-trace", 1) != 0;
  std::string fault = hpcmap_app::str_flag(args, "-fault", "none");
  if (nx < 2 * R + 1 || ny < 2 * R + 1 || ntx < 1 || nty < 1 || ntx > nx || nty > ny || steps < 1 || prune < 0) {
    fprintf(stderr, "stencil: bad sizes: need nx, ny >= %d, 1 <= ntx <= nx, 1 <= nty <= ny, tsteps >= 1\n", 2 * R + 1);
    exit(2);
  }
  if (fault == "hang")
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));

  IndexSpace grid_is = runtime->create_index_space(ctx, Rect<2>(Point<2>(0, 0), Point<2>(nx - 1, ny - 1)));
  FieldSpace fs = runtime->create_field_space(ctx);
  {
    FieldAllocator alloc = runtime->create_field_allocator(ctx, fs);
    alloc.allocate_field(sizeof(double), FID_INPUT);
    alloc.allocate_field(sizeof(double), FID_OUTPUT);
    runtime->attach_name(fs, FID_INPUT, "input");
    runtime->attach_name(fs, FID_OUTPUT, "output");
  }
  LogicalRegion grid = runtime->create_logical_region(ctx, grid_is, fs);
  runtime->attach_name(grid, "grid");
  IndexSpace tiles = runtime->create_index_space(ctx, Rect<2>(Point<2>(0, 0), Point<2>(ntx - 1, nty - 1)));
  LogicalPartition lp_private = make_partition(ctx, runtime, grid, tiles, nx, ny, ntx, nty, "private", 0);
  LogicalPartition lp_interior = make_partition(ctx, runtime, grid, tiles, nx, ny, ntx, nty, "interior", 1);
  LogicalPartition lp_ghost = make_partition(ctx, runtime, grid, tiles, nx, ny, ntx, nty, "ghost", 2);
  Domain launch(Rect<2>(Point<2>(0, 0), Point<2>(ntx - 1, nty - 1)));

  {
    IndexLauncher init(INIT_TASK_ID, launch, UntypedBuffer(), ArgumentMap());
    init.add_region_requirement(RegionRequirement(lp_private, 0, LEGION_WRITE_DISCARD, LEGION_EXCLUSIVE, grid));
    init.add_field(0, FID_INPUT);
    init.add_field(0, FID_OUTPUT);
    runtime->execute_index_space(ctx, init);
  }

  int crash = fault == "crash" ? 1 : 0;
  IndexLauncher step_stencil(STENCIL_TASK_ID, launch, UntypedBuffer(&crash, sizeof(crash)), ArgumentMap());
  step_stencil.add_region_requirement(RegionRequirement(lp_interior, 0, LEGION_READ_WRITE, LEGION_EXCLUSIVE, grid));
  step_stencil.add_field(0, FID_OUTPUT);
  step_stencil.add_region_requirement(RegionRequirement(lp_ghost, 0, LEGION_READ_ONLY, LEGION_EXCLUSIVE, grid));
  step_stencil.add_field(1, FID_INPUT);
  IndexLauncher step_increment(INCREMENT_TASK_ID, launch, UntypedBuffer(), ArgumentMap());
  step_increment.add_region_requirement(RegionRequirement(lp_private, 0, LEGION_READ_WRITE, LEGION_EXCLUSIVE, grid));
  step_increment.add_field(0, FID_INPUT);

  long long steps_done = 0;
  auto run_steps = [&](long long count) {
    for (long long s = 0; s < count; s++, steps_done++) {
      bool stale = fault == "stale" && steps_done == 0;  // outside the trace: its launches differ
      hpcmap_app::StaleMark mark;
      if (stale) step_increment.global_arg = hpcmap_app::stale_at(DomainPoint(Point<2>(0, 0)), mark);
      if (trace && !stale) runtime->begin_trace(ctx, 1);
      runtime->execute_index_space(ctx, step_stencil);
      runtime->execute_index_space(ctx, step_increment);
      if (trace && !stale) runtime->end_trace(ctx, 1);
      if (stale) step_increment.global_arg = UntypedBuffer();
    }
  };
  run_steps(prune);
  long long t0 = hpcmap_app::fenced_time_us(ctx, runtime);
  run_steps(steps);
  long long t1 = hpcmap_app::fenced_time_us(ctx, runtime);
  double elapsed = (t1 - t0) * 1e-6;

  CheckArgs check_args{nx, ny, steps + prune, fault == "check" ? 1 : 0};
  IndexLauncher check(CHECK_TASK_ID, launch, UntypedBuffer(&check_args, sizeof(check_args)), ArgumentMap());
  check.add_region_requirement(RegionRequirement(lp_private, 0, LEGION_READ_ONLY, LEGION_EXCLUSIVE, grid));
  check.add_field(0, FID_INPUT);
  check.add_field(0, FID_OUTPUT);
  FutureMap wrong_per_tile = runtime->execute_index_space(ctx, check);
  long long wrong = 0;
  for (Domain::DomainPointIterator p(launch); p; p++) wrong += wrong_per_tile.get_result<long long>(*p);
  if (wrong) fprintf(stderr, "stencil: check failed: %lld wrong values\n", wrong);

  double updates = double(nx - 2 * R) * double(ny - 2 * R) * double(steps);
  std::string extra = "\"nx\": " + std::to_string(nx) + ", \"ny\": " + std::to_string(ny) +
                      ", \"ntx\": " + std::to_string(ntx) + ", \"nty\": " + std::to_string(nty) +
                      ", \"steps\": " + std::to_string(steps) + ", \"wrong\": " + std::to_string(wrong);
  hpcmap_app::print_result("stencil", elapsed, updates / elapsed / 1e6, "MFLUPS", wrong == 0, extra);
  runtime->destroy_logical_region(ctx, grid);
  runtime->destroy_field_space(ctx, fs);
  runtime->destroy_index_space(ctx, grid_is);
  runtime->destroy_index_space(ctx, tiles);
  if (wrong) runtime->set_return_code(1);
}

}  // namespace

int main(int argc, char **argv)
{
  Runtime::set_top_level_task_id(TOP_LEVEL_TASK_ID);
  hpcmap_app::register_variant<top_level>(TOP_LEVEL_TASK_ID, "top_level", Processor::LOC_PROC, false);
  hpcmap_app::register_variant<init_cpu>(INIT_TASK_ID, "init", Processor::LOC_PROC);
  hpcmap_app::register_variant<stencil_cpu>(STENCIL_TASK_ID, "stencil", Processor::LOC_PROC);
  hpcmap_app::register_variant<increment_cpu>(INCREMENT_TASK_ID, "increment", Processor::LOC_PROC);
  hpcmap_app::register_variant<check_cpu>(CHECK_TASK_ID, "check", Processor::LOC_PROC);
#ifdef HPCMAP_USE_CUDA
  hpcmap_app::register_variant<init_gpu_task>(INIT_TASK_ID, "init", Processor::TOC_PROC);
  hpcmap_app::register_variant<stencil_gpu_task>(STENCIL_TASK_ID, "stencil", Processor::TOC_PROC);
  hpcmap_app::register_variant<increment_gpu_task>(INCREMENT_TASK_ID, "increment", Processor::TOC_PROC);
#endif
  hpcmap::register_mapper();
  return Runtime::start(argc, argv);
}
