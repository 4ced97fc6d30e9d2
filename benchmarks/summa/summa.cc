/* SUMMA for C = A * B on a gx x gy processor grid, written with Legion's C++ API.
 *
 * The inner dimension is cut into K panels (-panels, a multiple of lcm(gx, gy); default or 0:
 * lcm(gx, gy)). Grid point (i, j) owns C tile (i, j); at step s (0 <= s < K) every point of grid
 * row i multiplies the same A tile (i, s) and every point of grid column j the same B tile (s, j):
 * the panel broadcasts, realized as pulls from the tile's owner. The placement tasks deal the
 * panels round-robin: A tile (i, s) lives on grid point (i, s mod gy) and B tile (s, j) on
 * (s mod gx, j), so each step's broadcasts start from one owner per row and per column. */
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
  matmul::Options opt = matmul::parse_options("summa", 512);
  const coord_t gx = opt.gx, gy = opt.gy, L = std::lcm(gx, gy);
  coord_t K = hpcmap_app::int_flag(Runtime::get_input_args(), "-panels", 0);
  if (K == 0) K = L;
  if (K < 1 || K % L != 0 || K > opt.k) {
    fprintf(stderr, "summa: -panels %lld must be a multiple of lcm(gx, gy) = %lld and at most k = %lld\n",
            (long long)K, (long long)L, (long long)opt.k);
    exit(2);
  }
  LogicalRegion a = matmul::create_matrix(ctx, rt, "A", opt.m, opt.k);
  LogicalRegion b = matmul::create_matrix(ctx, rt, "B", opt.k, opt.n);
  LogicalRegion c = matmul::create_matrix(ctx, rt, "C", opt.m, opt.n);
  IndexSpace grid = rt->create_index_space(ctx, Rect<2>(Point<2>(0, 0), Point<2>(gx - 1, gy - 1)));
  rt->attach_name(grid, "grid");
  IndexSpace a_homes = rt->create_index_space(ctx, Rect<3>(Point<3>(0, 0, 0), Point<3>(gx - 1, gy - 1, K / gy - 1)));
  IndexSpace b_homes = rt->create_index_space(ctx, Rect<3>(Point<3>(0, 0, 0), Point<3>(gx - 1, gy - 1, K / gx - 1)));

  auto a_tile = [&](coord_t i, coord_t s) { return matmul::tile_rect(opt.m, opt.k, gx, K, i, s); };
  auto b_tile = [&](coord_t s, coord_t j) { return matmul::tile_rect(opt.k, opt.n, K, gy, s, j); };
  LogicalPartition a_home = matmul::tile_view(ctx, rt, a, a_homes, [&](const DomainPoint &p) {
    return a_tile(p[0], p[1] + p[2] * gy);
  }, "a_home");
  LogicalPartition b_home = matmul::tile_view(ctx, rt, b, b_homes, [&](const DomainPoint &p) {
    return b_tile(p[0] + p[2] * gx, p[1]);
  }, "b_home");
  LogicalPartition c_tiles = matmul::tile_view(ctx, rt, c, grid, [&](const DomainPoint &p) {
    return matmul::tile_rect(opt.m, opt.n, gx, gy, p[0], p[1]);
  }, "c_tiles");
  std::vector<LogicalPartition> a_step, b_step;
  for (coord_t s = 0; s < K; s++) {
    a_step.push_back(matmul::tile_view(ctx, rt, a, grid, [&](const DomainPoint &p) { return a_tile(p[0], s); },
                                       "a_step"));
    b_step.push_back(matmul::tile_view(ctx, rt, b, grid, [&](const DomainPoint &p) { return b_tile(s, p[1]); },
                                       "b_step"));
  }

  double elapsed = matmul::run_steps(ctx, rt, opt, grid, a_home, b_home, c_tiles, a, b, c, a_step, b_step);

  long long wrong = matmul::check(ctx, rt, opt, a, b, c);
  matmul::report(rt, "summa", opt, elapsed, wrong, "\"steps\": " + std::to_string(K));
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
