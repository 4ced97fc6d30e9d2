/* Solomonik's 2.5-D matrix multiplication: C = A * B on gx x gy x c processors, c layers of a
 * gx x gy grid (square, r x r, unless flags say otherwise).
 *
 * The inner dimension is cut into L super-blocks (L = `-steps`, by default max(gx, gy)), each cut
 * again into c blocks, one per layer: layer l owns block l of every super-block. At step s, point
 * (i, j, l) multiplies A's block l of super-block (i + j + s) mod L in block row i by B's block l
 * of that super-block in block column j, Cannon's schedule in every layer at once. The point
 * keeps its partial C tile across the steps; layer 0's partial is C itself, so with c = 1 this is
 * Cannon's algorithm exactly.
 *
 * Data starts on layer 0: the placement tasks write A's super-block (i, (i + j) mod L) and B's
 * ((i + j) mod L, j) at point (i, j, 0) (Cannon's skew; when L exceeds the grid side, point
 * (i, j, r) holds the super-blocks after the first gy, or gx, of its row or column), and zero C's
 * tile (i, j) there. Timed, per multiplication: the first step, where each layer reads its block
 * of the super-blocks on layer 0 (the replication, 1/c of a super-block per layer); the shifts,
 * where a point reads the blocks its neighbours (i, j + 1, l) and (i + 1, j, l) used one step
 * before; and `reduce_layers`, which adds the partial tiles of layers 1..c-1 into C's tile (i, j)
 * where it lives (c > 1 only). The layers' partials are one region, C_layers (layer l in rows
 * l m ..), whose first m rows are C; layers 1..c-1 are zeroed by a Legion fill before each
 * multiplication. More layers trade memory (c copies of C) for fewer, shorter shifts.
 *
 * The grid comes from the processor count (r x r x c using the most processors, c <= max(r, 2))
 * or from `-gx`, `-gy`, `-c`; the common flags are in matmul.h. */
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
typedef FieldAccessor<LEGION_READ_WRITE, double, 2, coord_t, Realm::AffineAccessor<double, 2, coord_t>> RWAcc;

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

Rect<2> rect_of(Runtime *rt, const PhysicalRegion &pr)
{
  return rt->get_index_space_domain(pr.get_logical_region().get_index_space());
}

/* Region 0: C's tile (read-write); regions 1..: the same tile of layers 1.. (read). */
matmul::Tile fold_target(const std::vector<PhysicalRegion> &regions, Runtime *rt)
{
  return tile_of(RWAcc(regions[0], matmul::FID_VALUE), rect_of(rt, regions[0]));
}

matmul::Tile fold_source(const std::vector<PhysicalRegion> &regions, size_t index, Runtime *rt)
{
  return tile_of(ROAcc(regions[index], matmul::FID_VALUE), rect_of(rt, regions[index]));
}

void reduce_layers_cpu(const Task *, const std::vector<PhysicalRegion> &regions, Context, Runtime *rt)
{
  matmul::Tile c = fold_target(regions, rt);
  for (size_t l = 1; l < regions.size(); l++) {
    matmul::Tile p = fold_source(regions, l, rt);
    for (long long r = 0; r < c.rows; r++)
      for (long long j = 0; j < c.cols; j++) c.base[r * c.ld + j * c.cs] += p.base[r * p.ld + j * p.cs];
  }
}

#ifdef HPCMAP_USE_CUDA
void reduce_layers_gpu(const Task *, const std::vector<PhysicalRegion> &regions, Context, Runtime *rt)
{
  matmul::Tile c = fold_target(regions, rt);
  for (size_t l = 1; l < regions.size(); l++)
    solomonik::fold_gpu(c, fold_source(regions, l, rt), Realm::Cuda::get_task_cuda_stream());
  Realm::Cuda::set_task_ctxsync_required(false);
}
#endif

/* C(i, j) += the partial tiles (i, j) of layers 1.., one launch over layer 0's grid. */
void reduce_layers(Context ctx, Runtime *rt, IndexSpace layer0, LogicalPartition c_tiles,
                   const std::vector<LogicalPartition> &upper, LogicalRegion layers)
{
  IndexLauncher launcher(REDUCE_LAYERS_TASK_ID, layer0, UntypedBuffer(), ArgumentMap());
  launcher.add_region_requirement(RegionRequirement(c_tiles, 0, LEGION_READ_WRITE, LEGION_EXCLUSIVE, layers));
  launcher.add_field(0, matmul::FID_VALUE);
  for (size_t l = 0; l < upper.size(); l++) {
    launcher.add_region_requirement(RegionRequirement(upper[l], 0, LEGION_READ_ONLY, LEGION_EXCLUSIVE, layers));
    launcher.add_field(l + 1, matmul::FID_VALUE);
  }
  rt->execute_index_space(ctx, launcher);
}

IndexSpace box(Context ctx, Runtime *rt, coord_t x, coord_t y, coord_t z, const char *name)
{
  IndexSpace is = rt->create_index_space(ctx, Rect<3>(Point<3>(0, 0, 0), Point<3>(x - 1, y - 1, z - 1)));
  rt->attach_name(is, name);
  return is;
}

coord_t ceil_div(coord_t a, coord_t b) { return (a + b - 1) / b; }

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
  const coord_t L = steps, kb = c * steps;  // super-blocks of the inner dimension, and their blocks

  LogicalRegion a = matmul::create_matrix(ctx, rt, "A", m, k);
  LogicalRegion b = matmul::create_matrix(ctx, rt, "B", k, n);
  LogicalRegion partial = matmul::create_matrix(ctx, rt, "C_layers", c * m, n);  // layer l: rows l m ..
  IndexSpace layer0 = box(ctx, rt, gx, gy, 1, "layer0"), grid = box(ctx, rt, gx, gy, c, "grid");
  IndexSpace layer_colors = rt->create_index_space(ctx, Rect<1>(0, c - 1));
  LogicalPartition by_layer = matmul::tile_view(ctx, rt, partial, layer_colors, [&](const DomainPoint &p) {
    return matmul::tile_rect(c * m, n, c, 1, p[0], 0);
  }, "C_layers_by_layer");
  LogicalRegion cm = rt->get_logical_subregion_by_color(ctx, by_layer, DomainPoint(Point<1>(0)));
  rt->attach_name(cm, "C");

  /* Placement on layer 0, skewed: point (i, j, r) holds super-block (i + j + r gy) mod L of A's
   * block row i and (i + r gx + j) mod L of B's block column j, while r gy + j < L (r gx + i < L). */
  const coord_t a_slots = ceil_div(L, gy), b_slots = ceil_div(L, gx);
  auto nothing = Rect<2>(Point<2>(0, 0), Point<2>(-1, -1));
  LogicalPartition a_home = matmul::tile_view(ctx, rt, a, box(ctx, rt, gx, gy, a_slots, "a_home"),
                                              [&](const DomainPoint &p) {
    coord_t jj = p[1] + p[2] * gy;
    return jj < L ? matmul::tile_rect(m, k, gx, L, p[0], (p[0] + jj) % L) : nothing;
  }, "A_tiles");
  LogicalPartition b_home = matmul::tile_view(ctx, rt, b, box(ctx, rt, gx, gy, b_slots, "b_home"),
                                              [&](const DomainPoint &p) {
    coord_t ii = p[0] + p[2] * gx;
    return ii < L ? matmul::tile_rect(k, n, L, gy, (ii + p[1]) % L, p[1]) : nothing;
  }, "B_tiles");
  LogicalPartition c_tiles = matmul::tile_view(ctx, rt, cm, layer0,
                                               [&](const DomainPoint &p) { return matmul::tile_rect(m, n, gx, gy, p[0], p[1]); },
                                               "C_tiles");
  /* Each layer's partial C tile (layer 0's is C's), over the grid and, for layers 1.., over layer 0's grid. */
  auto layer_tile = [=](coord_t i, coord_t j, coord_t l) {
    Rect<2> t = matmul::tile_rect(m, n, gx, gy, i, j);
    return Rect<2>(Point<2>(t.lo[0] + l * m, t.lo[1]), Point<2>(t.hi[0] + l * m, t.hi[1]));
  };
  LogicalPartition c_partial = matmul::tile_view(ctx, rt, partial, grid,
                                                 [&](const DomainPoint &p) { return layer_tile(p[0], p[1], p[2]); },
                                                 "C_partial");
  std::vector<LogicalPartition> upper;
  for (coord_t l = 1; l < c; l++)
    upper.push_back(matmul::tile_view(ctx, rt, partial, layer0,
                                      [&](const DomainPoint &p) { return layer_tile(p[0], p[1], l); }, "C_partial"));
  /* Step s: block l of super-block (i + j + s) mod L, at point (i, j, l). */
  auto block = [=](const DomainPoint &p, coord_t s) { return c * ((p[0] + p[1] + s) % L) + p[2]; };
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
    if (c > 1) rt->fill_field(ctx, partial, partial, matmul::FID_VALUE, 0.0);  // deferred: zeroed where mapped
    matmul::place(ctx, rt, matmul::PLACE_A_TASK_ID, a_home, a);
    matmul::place(ctx, rt, matmul::PLACE_B_TASK_ID, b_home, b);
    matmul::place(ctx, rt, matmul::PLACE_C_TASK_ID, c_tiles, partial);
    bool last = it == opt.warmup + opt.iters - 1;
    long long t0 = hpcmap_app::fenced_time_us(ctx, rt);
    for (coord_t s = 0; s < steps; s++) {
      bool corrupt = last && s == steps - 1 && opt.fault == matmul::Fault::corrupt;
      matmul::gemm(ctx, rt, grid, c_partial, partial, a_shift[matmul::a_step_read(opt, (int)s, (int)steps)], a,
                   b_shift[s], b, false, corrupt);
    }
    if (c > 1) reduce_layers(ctx, rt, layer0, c_tiles, upper, partial);
    long long t1 = hpcmap_app::fenced_time_us(ctx, rt);
    if (it >= opt.warmup) elapsed += (t1 - t0) * 1e-6;
  }

  /* The check takes C as a region of its own: C_layers' first m rows, copied (untimed). */
  LogicalRegion result = matmul::create_matrix(ctx, rt, "C_result", m, n);
  CopyLauncher copy;
  copy.add_copy_requirements(RegionRequirement(cm, LEGION_READ_ONLY, LEGION_EXCLUSIVE, partial),
                             RegionRequirement(result, LEGION_WRITE_DISCARD, LEGION_EXCLUSIVE, result));
  copy.add_src_field(0, matmul::FID_VALUE);
  copy.add_dst_field(0, matmul::FID_VALUE);
  rt->issue_copy_operation(ctx, copy);
  long long wrong = matmul::check(ctx, rt, opt, a, b, result);
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
