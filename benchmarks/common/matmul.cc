/* Shared code of the distributed matrix multiplications: see matmul.h. */
#include "matmul.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>
#include <vector>

#include <cblas.h>

#include "hpcmap_app.h"
#include "matmul_leaf.h"
#ifdef HPCMAP_USE_CUDA
#include "realm/cuda/cuda_module.h"
#endif

using namespace Legion;

namespace matmul {

namespace {

typedef FieldAccessor<LEGION_READ_ONLY, double, 2, coord_t, Realm::AffineAccessor<double, 2, coord_t>> ROAcc;
typedef FieldAccessor<LEGION_READ_WRITE, double, 2, coord_t, Realm::AffineAccessor<double, 2, coord_t>> RWAcc;
typedef FieldAccessor<LEGION_WRITE_DISCARD, double, 2, coord_t, Realm::AffineAccessor<double, 2, coord_t>> WDAcc;
typedef ReductionAccessor<SumReduction<double>, true, 2, coord_t, Realm::AffineAccessor<double, 2, coord_t>> SumAcc;

struct CheckArgs {
  long long seed, m, n, k;
  int spot;
};

Rect<2> rect_of(Runtime *rt, const PhysicalRegion &pr)
{
  return rt->get_index_space_domain(pr.get_logical_region().get_index_space());
}

template <typename ACC>
Tile tile_of(const ACC &acc, Rect<2> rect)
{
  Tile t{nullptr, 0, 0, 1, 1, rect.lo[0], rect.lo[1]};
  if (rect.empty()) return t;
  size_t strides[2];
  t.base = const_cast<double *>(acc.ptr(rect, strides));
  t.rows = rect.hi[0] - rect.lo[0] + 1;
  t.cols = rect.hi[1] - rect.lo[1] + 1;
  t.ld = (long long)strides[0];
  t.cs = (long long)strides[1];
  return t;
}

/* The leaf's operand `index` as a row-major tile; a layout the leaf cannot use is an error. */
template <typename ACC>
Tile row_major(const ACC &acc, Rect<2> rect, int index)
{
  Tile t = tile_of(acc, rect);
  if (t.rows > 1 && t.cols == 1) t.cs = 1, t.ld = std::max<long long>(t.ld, 1);
  if (t.rows == 1) t.ld = std::max<long long>(t.cols, 1);
  if (t.rows && t.cols && (t.cs != 1 || t.ld < t.cols)) {
    fprintf(stderr,
            "matmul: gemm needs row-major (SOA, C_order) instances; region %d has element strides (%lld, %lld): "
            "map it with `Layout gemm * * SOA C_order;`\n", index, t.ld, t.cs);
    abort();
  }
  return t;
}

struct Operands {
  Tile c, a, b;
};

Operands operands(const Task *task, const std::vector<PhysicalRegion> &regions, Runtime *rt)
{
  Rect<2> c_rect = rect_of(rt, regions[0]), a_rect = rect_of(rt, regions[1]), b_rect = rect_of(rt, regions[2]);
  Operands o;
  if (task->regions[0].privilege == LEGION_REDUCE)
    o.c = row_major(SumAcc(regions[0], FID_VALUE, LEGION_REDOP_SUM_FLOAT64), c_rect, 0);
  else
    o.c = row_major(RWAcc(regions[0], FID_VALUE), c_rect, 0);
  o.a = row_major(ROAcc(regions[1], FID_VALUE), a_rect, 1);
  o.b = row_major(ROAcc(regions[2], FID_VALUE), b_rect, 2);
  bool empty = o.c.rows == 0 || o.c.cols == 0;
  if (!empty && (o.a.rows != o.c.rows || o.b.cols != o.c.cols || o.a.cols != o.b.rows)) {
    fprintf(stderr, "matmul: gemm tiles do not conform: C %lldx%lld, A %lldx%lld, B %lldx%lld\n", o.c.rows, o.c.cols,
            o.a.rows, o.a.cols, o.b.rows, o.b.cols);
    abort();
  }
  return o;
}

bool corrupt_here(const Task *task)
{
  if (task->arglen != sizeof(int) || *(const int *)task->args == 0) return false;
  for (int d = 0; d < task->index_point.get_dim(); d++)
    if (task->index_point[d] != 0) return false;
  return true;
}

int which_matrix(const Task *task)
{
  return task->task_id == PLACE_A_TASK_ID ? 0 : task->task_id == PLACE_B_TASK_ID ? 1 : 2;
}

/* ---- CPU variants ---- */

void place_cpu(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *rt)
{
  Tile t = tile_of(WDAcc(regions[0], FID_VALUE), rect_of(rt, regions[0]));
  int which = which_matrix(task);
  for (long long r = 0; r < t.rows; r++)
    for (long long c = 0; c < t.cols; c++)
      t.base[r * t.ld + c * t.cs] = which == 2 ? 0.0 : value_of(which, t.row0 + r, t.col0 + c);
}

void gemm_cpu(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *rt)
{
  Operands o = operands(task, regions, rt);
  if (o.c.rows == 0 || o.c.cols == 0) return;
  if (o.a.cols > 0)
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)o.c.rows, (int)o.c.cols, (int)o.a.cols, 1.0,
                o.a.base, (int)o.a.ld, o.b.base, (int)o.b.ld, 1.0, o.c.base, (int)o.c.ld);
  if (corrupt_here(task)) o.c.base[0] += 1.0;
}

std::vector<long long> x_vector(long long seed, long long n)
{
  std::vector<long long> x(n);
  for (long long j = 0; j < n; j++) x[j] = x_of(seed, j);
  return x;
}

/* y = B x for this block of B's rows (y is a k x 1 matrix). */
void check_bx_cpu(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *rt)
{
  const CheckArgs &args = *(const CheckArgs *)task->args;
  Tile y = tile_of(WDAcc(regions[0], FID_VALUE), rect_of(rt, regions[0]));
  Tile b = tile_of(ROAcc(regions[1], FID_VALUE), rect_of(rt, regions[1]));
  std::vector<long long> x = x_vector(args.seed, b.cols);
  for (long long r = 0; r < b.rows; r++) {
    long long sum = 0;
    for (long long c = 0; c < b.cols; c++) sum += (long long)b.base[r * b.ld + c * b.cs] * x[c];
    y.base[r * y.ld] = (double)sum;
  }
}

/* Wrong rows of C x == A y in this block of rows, plus wrong spot-checked entries of C. */
long long check_cx_cpu(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *rt)
{
  const CheckArgs &args = *(const CheckArgs *)task->args;
  Tile c = tile_of(ROAcc(regions[0], FID_VALUE), rect_of(rt, regions[0]));
  Tile a = tile_of(ROAcc(regions[1], FID_VALUE), rect_of(rt, regions[1]));
  Tile y = tile_of(ROAcc(regions[2], FID_VALUE), rect_of(rt, regions[2]));
  std::vector<long long> x = x_vector(args.seed, c.cols);
  long long wrong = 0;
  for (long long r = 0; r < c.rows; r++) {
    long long cx = 0, ay = 0;
    bool integral = true;
    for (long long j = 0; j < c.cols; j++) {
      double v = c.base[r * c.ld + j * c.cs];
      integral = integral && v == std::nearbyint(v);
      cx += (long long)v * x[j];
    }
    for (long long kk = 0; kk < a.cols; kk++)
      ay += (long long)a.base[r * a.ld + kk * a.cs] * (long long)y.base[kk * y.ld];
    if (!integral || cx != ay) wrong++;
  }
  for (int s = 0; s < args.spot && c.rows && c.cols; s++) {
    uint64_t h = mix((uint64_t)args.seed + mix((uint64_t)c.row0 * 7919 + (uint64_t)s));
    long long r = s == 0 ? 0 : (long long)(h % (uint64_t)c.rows);
    long long j = s == 0 ? 0 : s == 1 ? c.cols - 1 : (long long)((h >> 32) % (uint64_t)c.cols);
    double want = 0.0;
    for (long long kk = 0; kk < args.k; kk++) want += value_of(0, c.row0 + r, kk) * value_of(1, kk, j);
    if (c.base[r * c.ld + j * c.cs] != want) wrong++;
  }
  return wrong;
}

/* ---- CUDA variants ---- */
#ifdef HPCMAP_USE_CUDA
void place_gpu(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *rt)
{
  fill_gpu(tile_of(WDAcc(regions[0], FID_VALUE), rect_of(rt, regions[0])), which_matrix(task),
           Realm::Cuda::get_task_cuda_stream());
  Realm::Cuda::set_task_ctxsync_required(false);
}

#ifdef HPCMAP_USE_CUBLAS
void gemm_gpu_task(const Task *task, const std::vector<PhysicalRegion> &regions, Context, Runtime *rt)
{
  Operands o = operands(task, regions, rt);
  gemm_gpu(o.c, o.a, o.b, corrupt_here(task), Realm::Cuda::get_task_cuda_stream());
  Realm::Cuda::set_task_ctxsync_required(false);
}
#endif
#endif

/* The leaf's layout: SOA with dimension 1 (columns) fastest, i.e. row-major. */
LayoutConstraintID row_major_layout()
{
  static LayoutConstraintID id = [] {
    LayoutConstraintRegistrar registrar(FieldSpace::NO_SPACE, "row_major");
    std::vector<DimensionKind> order{LEGION_DIM_Y, LEGION_DIM_X, LEGION_DIM_F};
    registrar.add_constraint(OrderingConstraint(order, false));
    return Runtime::preregister_layout(registrar);
  }();
  return id;
}

template <auto FN>
void register_gemm(Processor::Kind kind)
{
  TaskVariantRegistrar registrar(GEMM_TASK_ID, "gemm");
  registrar.add_constraint(ProcessorConstraint(kind));
  registrar.set_leaf();
  for (unsigned idx = 0; idx < 3; idx++) registrar.add_layout_constraint_set(idx, row_major_layout());
  Runtime::preregister_task_variant<FN>(registrar, "gemm");
}

}  // namespace

double matrix_value(int which, coord_t i, coord_t j) { return value_of(which, i, j); }

long long leaf_processor_count()
{
  Machine machine = Machine::get_machine();
  size_t gpus = Machine::ProcessorQuery(machine).only_kind(Processor::TOC_PROC).count();
  if (gpus) return (long long)gpus;
  return std::max<long long>(1, (long long)Machine::ProcessorQuery(machine).only_kind(Processor::LOC_PROC).count());
}

void near_square_grid(long long procs, coord_t &gx, coord_t &gy)
{
  gy = 1;
  for (long long d = 1; d * d <= procs; d++)
    if (procs % d == 0) gy = d;
  gx = procs / gy;
}

Options parse_options(const char *app, coord_t default_n)
{
  const InputArgs &args = Runtime::get_input_args();
  Options o;
  o.n = hpcmap_app::int_flag(args, "-n", default_n);
  o.m = hpcmap_app::int_flag(args, "-m", 0);
  o.k = hpcmap_app::int_flag(args, "-k", 0);
  if (o.m <= 0) o.m = o.n;
  if (o.k <= 0) o.k = o.n;
  o.procs = leaf_processor_count();
  near_square_grid(o.procs, o.gx, o.gy);
  coord_t gx = hpcmap_app::int_flag(args, "-gx", 0), gy = hpcmap_app::int_flag(args, "-gy", 0);
  if (gx > 0 && gy <= 0) gy = std::max<coord_t>(1, o.procs / gx);
  if (gy > 0 && gx <= 0) gx = std::max<coord_t>(1, o.procs / gy);
  if (gx > 0) o.gx = gx, o.gy = gy;
  o.iters = (int)hpcmap_app::int_flag(args, "-iters", 3);
  o.warmup = (int)hpcmap_app::int_flag(args, "-warmup", 1);
  o.seed = hpcmap_app::int_flag(args, "-seed", 12345);
  o.spot = (int)hpcmap_app::int_flag(args, "-spot", 8);
  std::string fault = hpcmap_app::str_flag(args, "-fault", "none");
  if (fault == "corrupt") o.fault = Fault::corrupt;
  else if (fault == "stale") o.fault = Fault::stale;
  else if (fault != "none") {
    fprintf(stderr, "%s: unknown -fault %s (none, corrupt, stale)\n", app, fault.c_str());
    exit(2);
  }
  if (o.m < 1 || o.n < 1 || o.k < 1 || o.gx < 1 || o.gy < 1 || o.gx > o.m || o.gy > o.n || o.iters < 1 ||
      o.warmup < 0 || o.spot < 0) {
    fprintf(stderr, "%s: bad sizes: need m, n, k >= 1, 1 <= gx <= m, 1 <= gy <= n, iters >= 1, warmup >= 0 "
                    "(got m=%lld n=%lld k=%lld gx=%lld gy=%lld)\n",
            app, (long long)o.m, (long long)o.n, (long long)o.k, (long long)o.gx, (long long)o.gy);
    exit(2);
  }
  return o;
}

LogicalRegion create_matrix(Context ctx, Runtime *rt, const char *name, coord_t rows, coord_t cols)
{
  IndexSpace is = rt->create_index_space(ctx, Rect<2>(Point<2>(0, 0), Point<2>(rows - 1, cols - 1)));
  FieldSpace fs = rt->create_field_space(ctx);
  FieldAllocator alloc = rt->create_field_allocator(ctx, fs);
  alloc.allocate_field(sizeof(double), FID_VALUE);
  rt->attach_name(fs, FID_VALUE, "value");
  LogicalRegion region = rt->create_logical_region(ctx, is, fs);
  rt->attach_name(region, name);
  return region;
}

Rect<2> tile_rect(coord_t rows, coord_t cols, coord_t row_parts, coord_t col_parts, coord_t r, coord_t c)
{
  return Rect<2>(Point<2>(r * rows / row_parts, c * cols / col_parts),
                 Point<2>((r + 1) * rows / row_parts - 1, (c + 1) * cols / col_parts - 1));
}

LogicalPartition tile_view(Context ctx, Runtime *rt, LogicalRegion matrix, IndexSpace colors,
                           const std::function<Rect<2>(const DomainPoint &)> &rect_of_color, const char *name)
{
  std::map<DomainPoint, Domain> domains;
  for (Domain::DomainPointIterator p(rt->get_index_space_domain(colors)); p; p++)
    domains[*p] = Domain(rect_of_color(*p));
  IndexPartition ip = rt->create_partition_by_domain(ctx, matrix.get_index_space(), domains, colors, true);
  LogicalPartition lp = rt->get_logical_partition(ctx, matrix, ip);
  rt->attach_name(ip, name);
  rt->attach_name(lp, name);
  return lp;
}

void place(Context ctx, Runtime *rt, TaskID task, LogicalPartition view, LogicalRegion matrix)
{
  IndexSpace colors = rt->get_index_partition_color_space_name(ctx, view.get_index_partition());
  IndexLauncher launcher(task, colors, UntypedBuffer(), ArgumentMap());
  launcher.add_region_requirement(RegionRequirement(view, 0, LEGION_WRITE_DISCARD, LEGION_EXCLUSIVE, matrix));
  launcher.add_field(0, FID_VALUE);
  rt->execute_index_space(ctx, launcher);
}

void gemm(Context ctx, Runtime *rt, IndexSpace launch, LogicalPartition c_view, LogicalRegion c,
          LogicalPartition a_view, LogicalRegion a, LogicalPartition b_view, LogicalRegion b, bool reduce, bool corrupt)
{
  int corrupt_flag = corrupt ? 1 : 0;
  IndexLauncher launcher(GEMM_TASK_ID, launch, UntypedBuffer(&corrupt_flag, sizeof(corrupt_flag)), ArgumentMap());
  if (reduce)
    launcher.add_region_requirement(RegionRequirement(c_view, 0, LEGION_REDOP_SUM_FLOAT64, LEGION_EXCLUSIVE, c));
  else
    launcher.add_region_requirement(RegionRequirement(c_view, 0, LEGION_READ_WRITE, LEGION_EXCLUSIVE, c));
  launcher.add_field(0, FID_VALUE);
  launcher.add_region_requirement(RegionRequirement(a_view, 0, LEGION_READ_ONLY, LEGION_EXCLUSIVE, a));
  launcher.add_field(1, FID_VALUE);
  launcher.add_region_requirement(RegionRequirement(b_view, 0, LEGION_READ_ONLY, LEGION_EXCLUSIVE, b));
  launcher.add_field(2, FID_VALUE);
  rt->execute_index_space(ctx, launcher);
}

int a_step_read(const Options &opt, int step, int steps)
{
  return opt.fault == Fault::stale && step == steps - 1 && step > 0 ? step - 1 : step;
}

double run_steps(Context ctx, Runtime *rt, const Options &opt, IndexSpace grid, LogicalPartition a_home,
                 LogicalPartition b_home, LogicalPartition c_tiles, LogicalRegion a, LogicalRegion b, LogicalRegion c,
                 const std::vector<LogicalPartition> &a_step, const std::vector<LogicalPartition> &b_step)
{
  const int steps = (int)b_step.size();
  double elapsed = 0.0;
  for (int it = 0; it < opt.warmup + opt.iters; it++) {
    place(ctx, rt, PLACE_A_TASK_ID, a_home, a);
    place(ctx, rt, PLACE_B_TASK_ID, b_home, b);
    place(ctx, rt, PLACE_C_TASK_ID, c_tiles, c);
    long long t0 = hpcmap_app::fenced_time_us(ctx, rt);
    for (int s = 0; s < steps; s++) {
      bool corrupt = opt.fault == Fault::corrupt && s == steps - 1;
      gemm(ctx, rt, grid, c_tiles, c, a_step[a_step_read(opt, s, steps)], a, b_step[s], b, false, corrupt);
    }
    long long t1 = hpcmap_app::fenced_time_us(ctx, rt);
    if (it >= opt.warmup) elapsed += (t1 - t0) * 1e-6;
  }
  return elapsed;
}

long long check(Context ctx, Runtime *rt, const Options &opt, LogicalRegion a, LogicalRegion b, LogicalRegion c)
{
  long long cpus = (long long)Machine::ProcessorQuery(Machine::get_machine()).only_kind(Processor::LOC_PROC).count();
  coord_t m_blocks = std::max<coord_t>(1, std::min<coord_t>(opt.m, cpus));
  coord_t k_blocks = std::max<coord_t>(1, std::min<coord_t>(opt.k, cpus));
  IndexSpace m_colors = rt->create_index_space(ctx, Rect<1>(0, m_blocks - 1));
  IndexSpace k_colors = rt->create_index_space(ctx, Rect<1>(0, k_blocks - 1));
  LogicalRegion y = create_matrix(ctx, rt, "y", opt.k, 1);
  auto rows_of = [](coord_t rows, coord_t cols, coord_t parts) {
    return [=](const DomainPoint &p) { return tile_rect(rows, cols, parts, 1, p[0], 0); };
  };
  LogicalPartition a_rows = tile_view(ctx, rt, a, m_colors, rows_of(opt.m, opt.k, m_blocks), "a_rows");
  LogicalPartition c_rows = tile_view(ctx, rt, c, m_colors, rows_of(opt.m, opt.n, m_blocks), "c_rows");
  LogicalPartition b_rows = tile_view(ctx, rt, b, k_colors, rows_of(opt.k, opt.n, k_blocks), "b_rows");
  LogicalPartition y_rows = tile_view(ctx, rt, y, k_colors, rows_of(opt.k, 1, k_blocks), "y_rows");

  CheckArgs args{opt.seed, opt.m, opt.n, opt.k, opt.spot};
  IndexLauncher bx(CHECK_BX_TASK_ID, k_colors, UntypedBuffer(&args, sizeof(args)), ArgumentMap());
  bx.add_region_requirement(RegionRequirement(y_rows, 0, LEGION_WRITE_DISCARD, LEGION_EXCLUSIVE, y));
  bx.add_field(0, FID_VALUE);
  bx.add_region_requirement(RegionRequirement(b_rows, 0, LEGION_READ_ONLY, LEGION_EXCLUSIVE, b));
  bx.add_field(1, FID_VALUE);
  rt->execute_index_space(ctx, bx);

  IndexLauncher cx(CHECK_CX_TASK_ID, m_colors, UntypedBuffer(&args, sizeof(args)), ArgumentMap());
  cx.add_region_requirement(RegionRequirement(c_rows, 0, LEGION_READ_ONLY, LEGION_EXCLUSIVE, c));
  cx.add_field(0, FID_VALUE);
  cx.add_region_requirement(RegionRequirement(a_rows, 0, LEGION_READ_ONLY, LEGION_EXCLUSIVE, a));
  cx.add_field(1, FID_VALUE);
  cx.add_region_requirement(RegionRequirement(y, 0, LEGION_READ_ONLY, LEGION_EXCLUSIVE, y));
  cx.add_field(2, FID_VALUE);
  FutureMap wrong_per_block = rt->execute_index_space(ctx, cx);
  long long wrong = 0;
  for (coord_t i = 0; i < m_blocks; i++) wrong += wrong_per_block.get_result<long long>(Point<1>(i));
  rt->destroy_logical_region(ctx, y);
  return wrong;
}

void report(Runtime *rt, const char *app, const Options &opt, double elapsed_s, long long wrong,
            const std::string &extra)
{
  if (wrong) fprintf(stderr, "%s: check failed: %lld wrong rows or entries of C\n", app, wrong);
  double flops = 2.0 * double(opt.m) * double(opt.n) * double(opt.k) * opt.iters;
  std::string fields = "\"m\": " + std::to_string(opt.m) + ", \"n\": " + std::to_string(opt.n) +
                       ", \"k\": " + std::to_string(opt.k) + ", \"gx\": " + std::to_string(opt.gx) +
                       ", \"gy\": " + std::to_string(opt.gy) + ", \"iters\": " + std::to_string(opt.iters) +
                       ", \"wrong\": " + std::to_string(wrong) + (extra.empty() ? "" : ", " + extra);
  double gflops = elapsed_s > 0 ? flops / elapsed_s / 1e9 : 0.0;  // a timer too coarse for the run: no rate
  hpcmap_app::print_result(app, elapsed_s, gflops, "GFLOPS", wrong == 0, fields);
  if (wrong) rt->set_return_code(1);
}

void register_tasks()
{
  openblas_set_num_threads(1);  // one BLAS thread per Legion CPU processor
  hpcmap_app::register_variant<place_cpu>(PLACE_A_TASK_ID, "place_a", Processor::LOC_PROC);
  hpcmap_app::register_variant<place_cpu>(PLACE_B_TASK_ID, "place_b", Processor::LOC_PROC);
  hpcmap_app::register_variant<place_cpu>(PLACE_C_TASK_ID, "place_c", Processor::LOC_PROC);
  register_gemm<gemm_cpu>(Processor::LOC_PROC);
  hpcmap_app::register_variant<check_bx_cpu>(CHECK_BX_TASK_ID, "check_bx", Processor::LOC_PROC);
  hpcmap_app::register_variant<check_cx_cpu>(CHECK_CX_TASK_ID, "check_cx", Processor::LOC_PROC);
#ifdef HPCMAP_USE_CUDA
  hpcmap_app::register_variant<place_gpu>(PLACE_A_TASK_ID, "place_a", Processor::TOC_PROC);
  hpcmap_app::register_variant<place_gpu>(PLACE_B_TASK_ID, "place_b", Processor::TOC_PROC);
  hpcmap_app::register_variant<place_gpu>(PLACE_C_TASK_ID, "place_c", Processor::TOC_PROC);
#ifdef HPCMAP_USE_CUBLAS
  register_gemm<gemm_gpu_task>(Processor::TOC_PROC);
#endif
#endif
}

}  // namespace matmul
