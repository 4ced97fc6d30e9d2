/* COSMA-style 3-D matrix multiplication: C = A * B on a rectangular gx x gy x gz grid.
 *
 * As in Johnson's algorithm, point (i, j, k) multiplies tile (i, k) of A (m x k cut gx x gz)
 * by tile (k, j) of B (k x n cut gz x gy), and the gz partial products of C's tile (i, j) are
 * summed by Legion's reduction (LEGION_REDOP_SUM_FLOAT64) in one index launch. What COSMA adds
 * is the choice of grid: among all gx * gy * gz = P it takes the one that moves the fewest words
 * per processor, the sum of its three tiles (m/gx)(k/gz) + (k/gz)(n/gy) + (m/gx)(n/gy), which
 * is near a cube for square matrices and follows the shape of rectangular ones. And every
 * processor owns an equal share of each matrix at the start: the placement tasks write each
 * tile as pieces spread over the grid axis that does not index it (A(i, k) in gy row pieces,
 * B(k, j) in gx, C(i, j) in gz), so the gemm launch is an all-gather of A along j and of B
 * along i, and a reduction of C along k.
 *
 * Flags: -gx -gy -gz set the grid (all 0: chosen from the processor count; a 0 beside a set
 * dimension is 1); the common flags are in matmul.h. Placement is untimed; each timed iteration places the matrices again. */
#include "hpcmap_app.h"
#include "hpcmap_mapper.h"
#include "matmul.h"

using namespace Legion;
using matmul::coord_t;

namespace {

struct Grid {
  coord_t x = 1, y = 1, z = 1;
};

/* The grid x * y * z = procs (each within its matrix dimension) with the fewest words per
 * processor; among equals the one with the most k-slices, then the most columns. */
Grid cheapest_grid(long long procs, coord_t m, coord_t n, coord_t k)
{
  Grid best;
  double best_words = -1;
  for (coord_t x = 1; x <= procs; x++) {
    if (procs % x || x > m) continue;
    for (coord_t y = 1; y <= procs / x; y++) {
      coord_t z = procs / x / y;
      if ((procs / x) % y || y > n || z > k) continue;
      double words = double(m) / x * double(k) / z + double(k) / z * double(n) / y + double(m) / x * double(n) / y;
      bool better = best_words < 0 || words < best_words * (1 - 1e-12) ||
                    (words <= best_words * (1 + 1e-12) && (z > best.z || (z == best.z && y > best.y)));
      if (better) best_words = words, best = Grid{x, y, z};
    }
  }
  return best;
}

/* Piece `p` of `parts` of a tile: its rows cut into `parts` bands. */
Rect<2> row_piece(Rect<2> tile, coord_t p, coord_t parts)
{
  coord_t rows = tile.hi[0] - tile.lo[0] + 1;
  return Rect<2>(Point<2>(tile.lo[0] + p * rows / parts, tile.lo[1]),
                 Point<2>(tile.lo[0] + (p + 1) * rows / parts - 1, tile.hi[1]));
}

void top_level(const Task *, const std::vector<PhysicalRegion> &, Context ctx, Runtime *rt)
{
  matmul::Options opt = matmul::parse_options("cosma", 240);
  const InputArgs &args = Runtime::get_input_args();
  const coord_t m = opt.m, n = opt.n, k = opt.k;
  Grid g{hpcmap_app::int_flag(args, "-gx", 0), hpcmap_app::int_flag(args, "-gy", 0),
         hpcmap_app::int_flag(args, "-gz", 0)};
  if (g.x <= 0 && g.y <= 0 && g.z <= 0) g = cheapest_grid(opt.procs, m, n, k);
  g.x = std::max<coord_t>(g.x, 1), g.y = std::max<coord_t>(g.y, 1), g.z = std::max<coord_t>(g.z, 1);
  if (g.x > m || g.y > n || g.z > k) {
    fprintf(stderr, "cosma: bad grid: need gx <= m, gy <= n, gz <= k (got %lldx%lldx%lld for m=%lld n=%lld k=%lld)\n",
            (long long)g.x, (long long)g.y, (long long)g.z, (long long)m, (long long)n, (long long)k);
    exit(2);
  }
  opt.gx = g.x, opt.gy = g.y;

  LogicalRegion a = matmul::create_matrix(ctx, rt, "A", m, k);
  LogicalRegion b = matmul::create_matrix(ctx, rt, "B", k, n);
  LogicalRegion c = matmul::create_matrix(ctx, rt, "C", m, n);
  IndexSpace grid = rt->create_index_space(ctx, Rect<3>(Point<3>(0, 0, 0), Point<3>(g.x - 1, g.y - 1, g.z - 1)));
  rt->attach_name(grid, "grid");
  auto a_tile = [=](coord_t i, coord_t kk) { return matmul::tile_rect(m, k, g.x, g.z, i, kk); };
  auto b_tile = [=](coord_t kk, coord_t j) { return matmul::tile_rect(k, n, g.z, g.y, kk, j); };
  auto c_tile = [=](coord_t i, coord_t j) { return matmul::tile_rect(m, n, g.x, g.y, i, j); };

  /* Placement: point (i, j, k) owns one piece of each matrix. */
  LogicalPartition a_pieces = matmul::tile_view(ctx, rt, a, grid, [&](const DomainPoint &p) {
    return row_piece(a_tile(p[0], p[2]), p[1], g.y);
  }, "A_pieces");
  LogicalPartition b_pieces = matmul::tile_view(ctx, rt, b, grid, [&](const DomainPoint &p) {
    return row_piece(b_tile(p[2], p[1]), p[0], g.x);
  }, "B_pieces");
  LogicalPartition c_pieces = matmul::tile_view(ctx, rt, c, grid, [&](const DomainPoint &p) {
    return row_piece(c_tile(p[0], p[1]), p[2], g.z);
  }, "C_pieces");
  /* The gather: whole tiles, read by every point of the axis the pieces were spread over.
   * Under `-fault stale` the last k-slice reads the previous slice's A tiles. */
  LogicalPartition a_gather = matmul::tile_view(ctx, rt, a, grid, [&](const DomainPoint &p) {
    return a_tile(p[0], matmul::a_step_read(opt, (int)p[2], (int)g.z));
  }, "A_gather");
  LogicalPartition b_gather = matmul::tile_view(ctx, rt, b, grid, [&](const DomainPoint &p) { return b_tile(p[2], p[1]); },
                                                "B_gather");
  LogicalPartition c_reduce = matmul::tile_view(ctx, rt, c, grid, [&](const DomainPoint &p) { return c_tile(p[0], p[1]); },
                                                "C_reduce");

  double elapsed = 0.0;
  for (int it = 0; it < opt.warmup + opt.iters; it++) {
    matmul::place(ctx, rt, matmul::PLACE_A_TASK_ID, a_pieces, a);
    matmul::place(ctx, rt, matmul::PLACE_B_TASK_ID, b_pieces, b);
    matmul::place(ctx, rt, matmul::PLACE_C_TASK_ID, c_pieces, c);
    bool last = it == opt.warmup + opt.iters - 1;
    long long t0 = hpcmap_app::fenced_time_us(ctx, rt);
    matmul::gemm(ctx, rt, grid, c_reduce, c, a_gather, a, b_gather, b, true, last && opt.fault == matmul::Fault::corrupt);
    long long t1 = hpcmap_app::fenced_time_us(ctx, rt);
    if (it >= opt.warmup) elapsed += (t1 - t0) * 1e-6;
  }

  long long wrong = matmul::check(ctx, rt, opt, a, b, c);
  matmul::report(rt, "cosma", opt, elapsed, wrong,
                 "\"gz\": " + std::to_string(g.z) + ", \"procs\": " + std::to_string(opt.procs));
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
