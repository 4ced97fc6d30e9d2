/* Solomonik's 2.5-D matrix multiplication: C = A * B on gx x gy x c processors, c layers of a
 * gx x gy grid (square, r x r, unless flags say otherwise).
 *
 * The matrices start on layer 0 in a 2-D block distribution: the placement tasks write A, B and
 * C (zeroed) tile (i, j) at point (i, j, 0). Layer l owns the l-th slab of the inner dimension,
 * cut into L blocks (L = `-steps`, by default max(gx, gy)), and runs L Cannon-style steps on it:
 * at step s, point (i, j, l) multiplies block (i, l L + (i + j + s) mod L) of A by block
 * (l L + (i + j + s) mod L, j) of B into its layer's partial C tile (zeroed by a Legion fill),
 * which it keeps across the steps. The first step pulls each layer's slab from layer 0 (the
 * replication); after that the blocks a point needs next are the ones its neighbours
 * (i, j + 1, l) and (i + 1, j, l) just used (the shift). Finally `reduce_layers` sums the c partial tiles of C(i, j) into C with a
 * Legion sum reduction (LEGION_REDOP_SUM_FLOAT64). c = 1 is Cannon's algorithm; more layers
 * trade memory (c copies of C) for fewer, shorter shifts.
 *
 * The grid comes from the processor count (r x r x c using the most processors, c <= max(r, 2))
 * or from `-gx`, `-gy`, `-c`; the common flags are in matmul.h. Placement is untimed; each timed
 * iteration places the matrices again, so replication, shifts and reduction are timed. */
#include <cmath>

#include "hpcmap_app.h"
#include "hpcmap_mapper.h"
#include "matmul.h"
#include "matmul_leaf.h"
#include "solomonik.h"
#ifdef HPCMAP_USE_CUDA
#include "realm/cuda/cuda_module.h"
#endif

using namespace Legion;
using matmul::coord_t;

namespace {

enum TaskIDs { REDUCE_LAYERS_TASK_ID = matmul::FIRST_APP_TASK_ID };

typedef FieldAccessor<LEGION_READ_ONLY, double, 2, coord_t, Realm::AffineAccessor<double, 2, coord_t>> ROAcc;
typedef ReductionAccessor<SumReduction<double>, true, 2, coord_t, Realm::AffineAccessor<double, 2, coord_t>> SumAcc;

struct Layers {
  coord_t r = 1, c = 1;  // an r x r grid in each of c layers
};

/* r x r x c <= procs using the most processors, with c <= max(r, 2); among equals fewer layers. */
Layers choose_layers(long long procs)
{
  Layers best;
  for (coord_t r = 1; r * r <= procs; r++)
    for (coord_t c = 1; c <= std::max<coord_t>(r, 2) && r * r * c <= procs; c++)
      if (r * r * c > best.r * best.r * best.c || (r * r * c == best.r * best.r * best.c && c < best.c))
        best = Layers{r, c};
  return best;
}

template <typename ACC>
matmul::Tile tile_of(const ACC &acc, Rect<2> rect)
{
  matmul::Tile t{nullptr, 0, 0, 1, 1, rect.lo[0], rect.lo[1]};
  if (rect.empty()) return t;
  size_t strides[2];
  t.base = const_cast<double *>(acc.ptr(rect, strides));
  t.rows = rect.hi[0] - rect.lo[0] + 1;
  t.cols = rect.hi[1] - rect.lo[1] + 1;
  t.ld = (long long)strides[0];
  t.cs = (long long)strides[1];
  return t;
}

/* Region 0: a layer's partial C tile (read); region 1: the same tile of C (sum reduction). */
std::pair<matmul::Tile, matmul::Tile> fold_operands(const std::vector<PhysicalRegion> &regions, Runtime *rt)
{
  Rect<2> part = rt->get_index_space_domain(regions[0].get_logical_region().get_index_space());
  Rect<2> sum = rt->get_index_space_domain(regions[1].get_logical_region().get_index_space());
  return {tile_of(SumAcc(regions[1], matmul::FID_VALUE, LEGION_REDOP_SUM_FLOAT64), sum),
          tile_of(ROAcc(regions[0], matmul::FID_VALUE), part)};
}

void reduce_layers_cpu(const Task *, const std::vector<PhysicalRegion> &regions, Context, Runtime *rt)
{
  auto [c, p] = fold_operands(regions, rt);
  for (long long r = 0; r < c.rows; r++)
    for (long long j = 0; j < c.cols; j++) c.base[r * c.ld + j * c.cs] += p.base[r * p.ld + j * p.cs];
}

#ifdef HPCMAP_USE_CUDA
void reduce_layers_gpu(const Task *, const std::vector<PhysicalRegion> &regions, Context, Runtime *rt)
{
  auto [c, p] = fold_operands(regions, rt);
  solomonik::fold_gpu(c, p, Realm::Cuda::get_task_cuda_stream());
  Realm::Cuda::set_task_ctxsync_required(false);
}
#endif

void reduce_layers(Context ctx, Runtime *rt, IndexSpace grid, LogicalPartition partial_view, LogicalRegion partial,
                   LogicalPartition c_view, LogicalRegion c)
{
  IndexLauncher launcher(REDUCE_LAYERS_TASK_ID, grid, UntypedBuffer(), ArgumentMap());
  launcher.add_region_requirement(RegionRequirement(partial_view, 0, LEGION_READ_ONLY, LEGION_EXCLUSIVE, partial));
  launcher.add_field(0, matmul::FID_VALUE);
  launcher.add_region_requirement(RegionRequirement(c_view, 0, LEGION_REDOP_SUM_FLOAT64, LEGION_EXCLUSIVE, c));
  launcher.add_field(1, matmul::FID_VALUE);
  rt->execute_index_space(ctx, launcher);
}

IndexSpace box(Context ctx, Runtime *rt, coord_t x, coord_t y, coord_t z, const char *name)
{
  IndexSpace is = rt->create_index_space(ctx, Rect<3>(Point<3>(0, 0, 0), Point<3>(x - 1, y - 1, z - 1)));
  rt->attach_name(is, name);
  return is;
}

void top_level(const Task *, const std::vector<PhysicalRegion> &, Context ctx, Runtime *rt)
{
  matmul::Options opt = matmul::parse_options("solomonik", 240);
  const InputArgs &args = Runtime::get_input_args();
  const coord_t m = opt.m, n = opt.n, k = opt.k;
  coord_t gx = hpcmap_app::int_flag(args, "-gx", 0), gy = hpcmap_app::int_flag(args, "-gy", 0);
  coord_t layers = hpcmap_app::int_flag(args, "-c", 0);
  Layers chosen = choose_layers(opt.procs);
  if (layers > 0) chosen = Layers{std::max<coord_t>(1, (coord_t)std::sqrt(double(opt.procs / layers))), layers};
  if (gx <= 0) gx = gy > 0 ? gy : chosen.r;
  if (gy <= 0) gy = gx;
  const coord_t c = chosen.c;
  coord_t steps = hpcmap_app::int_flag(args, "-steps", 0);
  if (steps <= 0) steps = std::max(gx, gy);
  if (gx > m || gy > n || c * steps > k) {
    fprintf(stderr, "solomonik: bad grid: need gx <= m, gy <= n, c * steps <= k (got gx=%lld gy=%lld c=%lld steps=%lld "
                    "for m=%lld n=%lld k=%lld)\n", (long long)gx, (long long)gy, (long long)c, (long long)steps,
            (long long)m, (long long)n, (long long)k);
    exit(2);
  }
  opt.gx = gx, opt.gy = gy;
  const coord_t kb = c * steps;  // blocks of the inner dimension, `steps` per layer

  LogicalRegion a = matmul::create_matrix(ctx, rt, "A", m, k);
  LogicalRegion b = matmul::create_matrix(ctx, rt, "B", k, n);
  LogicalRegion cm = matmul::create_matrix(ctx, rt, "C", m, n);
  LogicalRegion partial = matmul::create_matrix(ctx, rt, "C_layers", c * m, n);  // layer l: rows l m ..
  IndexSpace layer0 = box(ctx, rt, gx, gy, 1, "layer0"), grid = box(ctx, rt, gx, gy, c, "grid");

  /* Placement on layer 0, 2-D blocks. */
  LogicalPartition a_tiles = matmul::tile_view(ctx, rt, a, layer0,
                                               [&](const DomainPoint &p) { return matmul::tile_rect(m, k, gx, gy, p[0], p[1]); },
                                               "A_tiles");
  LogicalPartition b_tiles = matmul::tile_view(ctx, rt, b, layer0,
                                               [&](const DomainPoint &p) { return matmul::tile_rect(k, n, gx, gy, p[0], p[1]); },
                                               "B_tiles");
  LogicalPartition c_tiles = matmul::tile_view(ctx, rt, cm, layer0,
                                               [&](const DomainPoint &p) { return matmul::tile_rect(m, n, gx, gy, p[0], p[1]); },
                                               "C_tiles");
  /* Each layer's partial C tiles, and C's tiles as the layers' reduction target. */
  LogicalPartition c_partial = matmul::tile_view(ctx, rt, partial, grid, [&](const DomainPoint &p) {
    Rect<2> t = matmul::tile_rect(m, n, gx, gy, p[0], p[1]);
    return Rect<2>(Point<2>(t.lo[0] + p[2] * m, t.lo[1]), Point<2>(t.hi[0] + p[2] * m, t.hi[1]));
  }, "C_partial");
  LogicalPartition c_reduce = matmul::tile_view(ctx, rt, cm, grid,
                                                [&](const DomainPoint &p) { return matmul::tile_rect(m, n, gx, gy, p[0], p[1]); },
                                                "C_reduce");
  /* Step s: the skewed inner block of each point's layer. */
  auto block = [=](const DomainPoint &p, coord_t s) { return p[2] * steps + (p[0] + p[1] + s) % steps; };
  std::vector<LogicalPartition> a_shift, b_shift;
  for (coord_t s = 0; s < steps; s++) {
    a_shift.push_back(matmul::tile_view(ctx, rt, a, grid,
                                        [&](const DomainPoint &p) { return matmul::tile_rect(m, k, gx, kb, p[0], block(p, s)); },
                                        "A_shift"));
    b_shift.push_back(matmul::tile_view(ctx, rt, b, grid,
                                        [&](const DomainPoint &p) { return matmul::tile_rect(k, n, kb, gy, block(p, s), p[1]); },
                                        "B_shift"));
  }

  double elapsed = 0.0;
  for (int it = 0; it < opt.warmup + opt.iters; it++) {
    matmul::place(ctx, rt, matmul::PLACE_A_TASK_ID, a_tiles, a);
    matmul::place(ctx, rt, matmul::PLACE_B_TASK_ID, b_tiles, b);
    matmul::place(ctx, rt, matmul::PLACE_C_TASK_ID, c_tiles, cm);
    rt->fill_field(ctx, partial, partial, matmul::FID_VALUE, 0.0);  // deferred: zeroed where each layer maps it
    bool last = it == opt.warmup + opt.iters - 1;
    long long t0 = hpcmap_app::fenced_time_us(ctx, rt);
    for (coord_t s = 0; s < steps; s++) {
      bool corrupt = last && s == steps - 1 && opt.fault == matmul::Fault::corrupt;
      matmul::gemm(ctx, rt, grid, c_partial, partial, a_shift[matmul::a_step_read(opt, (int)s, (int)steps)], a,
                   b_shift[s], b, false, corrupt);
    }
    reduce_layers(ctx, rt, grid, c_partial, partial, c_reduce, cm);
    long long t1 = hpcmap_app::fenced_time_us(ctx, rt);
    if (it >= opt.warmup) elapsed += (t1 - t0) * 1e-6;
  }

  long long wrong = matmul::check(ctx, rt, opt, a, b, cm);
  matmul::report(rt, "solomonik", opt, elapsed, wrong,
                 "\"c\": " + std::to_string(c) + ", \"steps\": " + std::to_string(steps) +
                     ", \"procs\": " + std::to_string(opt.procs));
}

}  // namespace

int main(int argc, char **argv)
{
  Runtime::set_top_level_task_id(matmul::TOP_LEVEL_TASK_ID);
  hpcmap_app::register_variant<top_level>(matmul::TOP_LEVEL_TASK_ID, "top_level", Processor::LOC_PROC, false);
  matmul::register_tasks();
  hpcmap_app::register_variant<reduce_layers_cpu>(REDUCE_LAYERS_TASK_ID, "reduce_layers", Processor::LOC_PROC);
#ifdef HPCMAP_USE_CUDA
  hpcmap_app::register_variant<reduce_layers_gpu>(REDUCE_LAYERS_TASK_ID, "reduce_layers", Processor::TOC_PROC);
#endif
  hpcmap::register_mapper();
  return Runtime::start(argc, argv);
}
