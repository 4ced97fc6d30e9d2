/* PUMMA (as DISTAL schedules it) for C = A * B on a gx x gy processor grid, written with Legion's
 * C++ API: a Cannon/SUMMA hybrid where the step index is skewed by the grid row only.
 *
 * The inner dimension is cut into L = lcm(gx, gy) panels. Grid point (i, j) owns C tile (i, j);
 * at step s it multiplies A tile (i, (i + s) mod L) by B tile ((i + s) mod L, j). Within a grid
 * row every point reads the same A tile (a broadcast along the row, pulled from its owner),
 * while B tiles differ from row to row (the row skew) and move between neighbouring rows from
 * one step to the next, point to point. Placement: A tile (i, (i + j + r gy) mod L) and B tile
 * (i + r gx, j) live on grid point (i, j), so step 0's B tiles are at home. */
#include <numeric>
#include <vector>

#include "legion.h"
#include "hpcmap_app.h"
#include "hpcmap_mapper.h"
#include "matmul.h"

using namespace Legion;
using matmul::coord_t;

namespace {

void top_level(const Task *, const std::vector<PhysicalRegion> &, Context ctx, Runtime *rt)
{
  matmul::Options opt = matmul::parse_options("pumma", 512);
  const coord_t gx = opt.gx, gy = opt.gy, L = std::lcm(gx, gy);
  if (L > opt.k) {
    fprintf(stderr, "pumma: k = %lld is smaller than lcm(gx, gy) = %lld panels\n", (long long)opt.k, (long long)L);
    exit(2);
  }
  LogicalRegion a = matmul::create_matrix(ctx, rt, "A", opt.m, opt.k);
  LogicalRegion b = matmul::create_matrix(ctx, rt, "B", opt.k, opt.n);
  LogicalRegion c = matmul::create_matrix(ctx, rt, "C", opt.m, opt.n);
  IndexSpace grid = rt->create_index_space(ctx, Rect<2>(Point<2>(0, 0), Point<2>(gx - 1, gy - 1)));
  rt->attach_name(grid, "grid");
  IndexSpace a_homes = rt->create_index_space(ctx, Rect<3>(Point<3>(0, 0, 0), Point<3>(gx - 1, gy - 1, L / gy - 1)));
  IndexSpace b_homes = rt->create_index_space(ctx, Rect<3>(Point<3>(0, 0, 0), Point<3>(gx - 1, gy - 1, L / gx - 1)));

  auto a_tile = [&](coord_t i, coord_t kk) { return matmul::tile_rect(opt.m, opt.k, gx, L, i, kk); };
  auto b_tile = [&](coord_t kk, coord_t j) { return matmul::tile_rect(opt.k, opt.n, L, gy, kk, j); };
  LogicalPartition a_home = matmul::tile_view(ctx, rt, a, a_homes, [&](const DomainPoint &p) {
    return a_tile(p[0], (p[0] + p[1] + p[2] * gy) % L);
  }, "a_home");
  LogicalPartition b_home = matmul::tile_view(ctx, rt, b, b_homes, [&](const DomainPoint &p) {
    return b_tile(p[0] + p[2] * gx, p[1]);
  }, "b_home");
  LogicalPartition c_tiles = matmul::tile_view(ctx, rt, c, grid, [&](const DomainPoint &p) {
    return matmul::tile_rect(opt.m, opt.n, gx, gy, p[0], p[1]);
  }, "c_tiles");
  std::vector<LogicalPartition> a_step, b_step;
  for (coord_t s = 0; s < L; s++) {
    a_step.push_back(matmul::tile_view(ctx, rt, a, grid, [&](const DomainPoint &p) {
      return a_tile(p[0], (p[0] + s) % L);
    }, "a_step"));
    b_step.push_back(matmul::tile_view(ctx, rt, b, grid, [&](const DomainPoint &p) {
      return b_tile((p[0] + s) % L, p[1]);
    }, "b_step"));
  }

  double elapsed = matmul::run_steps(ctx, rt, opt, grid, a_home, b_home, c_tiles, a, b, c, a_step, b_step);

  long long wrong = matmul::check(ctx, rt, opt, a, b, c);
  matmul::report(rt, "pumma", opt, elapsed, wrong, "\"steps\": " + std::to_string(L));
}

}  // namespace

int main(int argc, char **argv)
{
  Runtime::set_top_level_task_id(matmul::TOP_LEVEL_TASK_ID);
  hpcmap_app::register_variant<top_level>(matmul::TOP_LEVEL_TASK_ID, "top_level", Processor::LOC_PROC, false);
  matmul::register_tasks();
  hpcmap::register_mapper();
  return Runtime::start(argc, argv);
}
