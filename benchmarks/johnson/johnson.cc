/* Johnson's 3-D matrix multiplication: C = A * B on a q x q x q cube of leaf tasks.
 *
 * Point (i, j, k) of the cube multiplies tile (i, k) of A by tile (k, j) of B, and the q partial
 * products of C's tile (i, j) are summed by Legion's reduction (LEGION_REDOP_SUM_FLOAT64): one
 * index launch, whose region requirements are the whole data movement. Each matrix starts on
 * one face of the cube, where the placement tasks write it: A(i, k) on the face j = 0, B(k, j)
 * on i = 0, C(i, j) (zeroed) on k = 0. The gemm launch then broadcasts A along j and B along i
 * (the one-shot 3-D gather) and reduces C along k back to its face.
 *
 * q comes from the processor count (the smallest cube with at least one point per processor)
 * or from `-gdim`; the common flags are in matmul.h. Placement is untimed; each timed iteration
 * places the matrices again, so every gather and reduction is inside the timed region. */
#include "hpcmap_app.h"
#include "hpcmap_mapper.h"
#include "matmul.h"

using namespace Legion;
using matmul::coord_t;

namespace {

/* The smallest q with q^3 >= procs. */
coord_t cube_side(long long procs)
{
  coord_t q = 1;
  while (q * q * q < procs) q++;
  return q;
}

IndexSpace box(Context ctx, Runtime *rt, coord_t x, coord_t y, coord_t z, const char *name)
{
  IndexSpace is = rt->create_index_space(ctx, Rect<3>(Point<3>(0, 0, 0), Point<3>(x - 1, y - 1, z - 1)));
  rt->attach_name(is, name);
  return is;
}

void top_level(const Task *, const std::vector<PhysicalRegion> &, Context ctx, Runtime *rt)
{
  matmul::Options opt = matmul::parse_options("johnson", 240);
  coord_t q = hpcmap_app::int_flag(Runtime::get_input_args(), "-gdim", 0);
  if (q <= 0) q = cube_side(opt.procs);
  if (q > opt.m || q > opt.n || q > opt.k) {
    fprintf(stderr, "johnson: bad grid: need 1 <= gdim <= m, n, k (got gdim=%lld, m=%lld, n=%lld, k=%lld)\n",
            (long long)q, (long long)opt.m, (long long)opt.n, (long long)opt.k);
    exit(2);
  }
  opt.gx = opt.gy = q;
  const coord_t m = opt.m, n = opt.n, k = opt.k;

  LogicalRegion a = matmul::create_matrix(ctx, rt, "A", m, k);
  LogicalRegion b = matmul::create_matrix(ctx, rt, "B", k, n);
  LogicalRegion c = matmul::create_matrix(ctx, rt, "C", m, n);
  IndexSpace cube = box(ctx, rt, q, q, q, "cube");
  auto a_tile = [=](coord_t i, coord_t kk) { return matmul::tile_rect(m, k, q, q, i, kk); };
  auto b_tile = [=](coord_t kk, coord_t j) { return matmul::tile_rect(k, n, q, q, kk, j); };
  auto c_tile = [=](coord_t i, coord_t j) { return matmul::tile_rect(m, n, q, q, i, j); };

  /* Placement: each matrix on one face of the cube (points of the face, the others at 0). */
  LogicalPartition a_face = matmul::tile_view(ctx, rt, a, box(ctx, rt, q, 1, q, "A_face_points"),
                                              [&](const DomainPoint &p) { return a_tile(p[0], p[2]); }, "A_face");
  LogicalPartition b_face = matmul::tile_view(ctx, rt, b, box(ctx, rt, 1, q, q, "B_face_points"),
                                              [&](const DomainPoint &p) { return b_tile(p[2], p[1]); }, "B_face");
  LogicalPartition c_face = matmul::tile_view(ctx, rt, c, box(ctx, rt, q, q, 1, "C_face_points"),
                                              [&](const DomainPoint &p) { return c_tile(p[0], p[1]); }, "C_face");
  /* The gather: point (i, j, k) reads A(i, k) and B(k, j) and reduces into C(i, j). Under
   * `-fault stale` the last k-slice reads the previous slice's A tiles. */
  LogicalPartition a_gather = matmul::tile_view(ctx, rt, a, cube, [&](const DomainPoint &p) {
    return a_tile(p[0], matmul::a_step_read(opt, (int)p[2], (int)q));
  }, "A_gather");
  LogicalPartition b_gather = matmul::tile_view(ctx, rt, b, cube, [&](const DomainPoint &p) { return b_tile(p[2], p[1]); },
                                                "B_gather");
  LogicalPartition c_reduce = matmul::tile_view(ctx, rt, c, cube, [&](const DomainPoint &p) { return c_tile(p[0], p[1]); },
                                                "C_reduce");

  double elapsed = 0.0;
  for (int it = 0; it < opt.warmup + opt.iters; it++) {
    matmul::place(ctx, rt, matmul::PLACE_A_TASK_ID, a_face, a);
    matmul::place(ctx, rt, matmul::PLACE_B_TASK_ID, b_face, b);
    matmul::place(ctx, rt, matmul::PLACE_C_TASK_ID, c_face, c);
    bool last = it == opt.warmup + opt.iters - 1;
    long long t0 = hpcmap_app::fenced_time_us(ctx, rt);
    matmul::gemm(ctx, rt, cube, c_reduce, c, a_gather, a, b_gather, b, true, last && opt.fault == matmul::Fault::corrupt);
    long long t1 = hpcmap_app::fenced_time_us(ctx, rt);
    if (it >= opt.warmup) elapsed += (t1 - t0) * 1e-6;
  }

  long long wrong = matmul::check(ctx, rt, opt, a, b, c);
  matmul::report(rt, "johnson", opt, elapsed, wrong,
                 "\"gdim\": " + std::to_string(q) + ", \"procs\": " + std::to_string(opt.procs));
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
