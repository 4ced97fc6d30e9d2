/* Shared code of the distributed matrix multiplications (Cannon, SUMMA, PUMMA, Johnson, Solomonik,
 * COSMA): C = A * B with A m x k, B k x n, C m x n, all row-major doubles.
 *
 * What an application gets here, and what it writes itself:
 *   - Options: the common flags (below) and the processor grid chosen from the processor count.
 *   - Matrices: `create_matrix` makes a 2-D region (point = (row, column), one double field
 *     `value`) with a semantic name; `tile_rect` is block (r, c) of a rows x cols matrix cut into
 *     row_parts x col_parts blocks (sizes need not divide); `tile_view` makes a partition of a
 *     matrix over any color space (1-D to 3-D) from a function color -> tile rectangle. An
 *     algorithm's data movement is written as the tile each launch point reads at each step:
 *     Cannon's skew is a view whose color (i, j) holds tile (i, (i + j + s) mod L), SUMMA's
 *     broadcast a view where every j of row i holds tile (i, s). Placement and compute launches
 *     then use the identity projection.
 *   - Tasks, registered by `register_tasks()` (call before Runtime::start):
 *       place_a, place_b  (index; WRITE_DISCARD on a tile view) fill A or B with their values;
 *       place_c           (index; WRITE_DISCARD) zeroes C. The placement launches decide where each
 *                         tile starts: the mapper puts them where the tile is first used.
 *       gemm              (index; C READ_WRITE or REDUCE +, A and B READ_ONLY): the leaf,
 *                         C_tile += A_tile * B_tile through cblas_dgemm (CPU) or cublasDgemm on
 *                         the task's stream (GPU, built where cuBLAS is found). Its variants
 *                         require row-major (C_order, SOA) instances: a registered layout
 *                         constraint, also checked in the leaf.
 *       check_bx, check_cx (index, CPU): the check (see `check`).
 *     The app registers its own top-level task as TOP_LEVEL_TASK_ID and its own tasks (if any)
 *     from FIRST_APP_TASK_ID on.
 *   - Launch helpers `place` and `gemm` (one index launch each), `check`, and `report` (the
 *     HPCMAP_RESULT line with GFLOPS = 2 m n k iterations / timed region, and the exit status).
 *
 * Data: A and B are non-uniform integers in [-8, 8] (a hash of matrix, row and column, never
 * periodic in the tile size), so every product is exact in double precision and a stale,
 * misplaced or transposed tile changes the result.
 *
 * Check (O(n^2), at every size): Freivalds' test C x == A (B x) for a random integer vector x
 * with no zero entry, exact in 64-bit integers, plus exact spot checks of C(i, j) against the
 * direct dot product of the fill functions. Any wrong entry of C fails the test.
 *
 * Common flags: -n N (default: the app's), -m M and -k K (default, or 0: N), -gx, -gy (grid; default
 * or 0: chosen from the processor count, GPUs if any, else CPUs), -iters I (timed, default 3),
 * -warmup W (default 1), -seed S, -spot P (spot checks per check block, default 8),
 * -fault none|corrupt|stale: `corrupt` adds 1 to one entry of C in the last gemm step,
 * `stale` makes the app reuse the previous step's tiles of A at its last step (apps call
 * `a_step_read`).
 */
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "legion.h"

namespace matmul {

using Legion::coord_t;

enum TaskIDs {
  TOP_LEVEL_TASK_ID = 1,
  PLACE_A_TASK_ID,
  PLACE_B_TASK_ID,
  PLACE_C_TASK_ID,
  GEMM_TASK_ID,
  CHECK_BX_TASK_ID,
  CHECK_CX_TASK_ID,
  FIRST_APP_TASK_ID = 20,
};
enum FieldIDs { FID_VALUE = 101 };
enum class Fault { none, corrupt, stale };

struct Options {
  coord_t m = 0, n = 0, k = 0;   // C is m x n, the inner dimension k
  coord_t gx = 1, gy = 1;        // the 2-D processor grid (3-D apps read their own flags too)
  long long procs = 1;           // GPUs if the machine has any, else CPUs
  int iters = 3, warmup = 1;
  long long seed = 12345;
  int spot = 8;
  Fault fault = Fault::none;
};

/* The flags above; `default_n` is the app's small size. Exits with a message on bad values. */
Options parse_options(const char *app, coord_t default_n);

/* Processors that run the leaves: GPUs if the machine has any, else CPUs. */
long long leaf_processor_count();

/* The grid gx x gy = procs closest to square, gx >= gy. */
void near_square_grid(long long procs, coord_t &gx, coord_t &gy);

/* Value of entry (i, j) of A (which = 0) or B (which = 1): an integer in [-8, 8]. */
double matrix_value(int which, coord_t i, coord_t j);

/* A rows x cols matrix region named `name`, with field `value`. */
Legion::LogicalRegion create_matrix(Legion::Context ctx, Legion::Runtime *rt, const char *name,
                                    coord_t rows, coord_t cols);

/* Block (r, c) of a rows x cols matrix cut into row_parts x col_parts blocks. */
Legion::Rect<2> tile_rect(coord_t rows, coord_t cols, coord_t row_parts, coord_t col_parts, coord_t r, coord_t c);

/* A partition of `matrix` over `colors`, color p holding `rect_of(p)`; named `name`. */
Legion::LogicalPartition tile_view(Legion::Context ctx, Legion::Runtime *rt, Legion::LogicalRegion matrix,
                                   Legion::IndexSpace colors,
                                   const std::function<Legion::Rect<2>(const Legion::DomainPoint &)> &rect_of,
                                   const char *name);

/* One index launch of place_a / place_b / place_c (`task`) over the view's color space. */
void place(Legion::Context ctx, Legion::Runtime *rt, Legion::TaskID task, Legion::LogicalPartition view,
           Legion::LogicalRegion matrix);

/* One index launch of the leaf over `launch` (the views' common color space): C += A * B.
 * `reduce`: C is a sum reduction (3-D algorithms), else READ_WRITE. `corrupt`: the point at the
 * origin adds 1 to its first entry of C (fault injection). */
void gemm(Legion::Context ctx, Legion::Runtime *rt, Legion::IndexSpace launch, Legion::LogicalPartition c_view,
          Legion::LogicalRegion c, Legion::LogicalPartition a_view, Legion::LogicalRegion a,
          Legion::LogicalPartition b_view, Legion::LogicalRegion b, bool reduce, bool corrupt);

/* The step whose A tiles step `step` reads: itself, or the one before at the last step under
 * `-fault stale`. */
int a_step_read(const Options &opt, int step, int steps);

/* The timed region of the 2-D algorithms (Cannon, SUMMA, PUMMA): warm-up plus opt.iters
 * multiplications, each one placing A, B and C at home (untimed) and then launching the leaf once
 * per step with that step's views of A and B (`-fault corrupt` at the last step, `-fault stale`
 * through a_step_read). Returns the seconds of the timed iterations. */
double run_steps(Legion::Context ctx, Legion::Runtime *rt, const Options &opt, Legion::IndexSpace grid,
                 Legion::LogicalPartition a_home, Legion::LogicalPartition b_home,
                 Legion::LogicalPartition c_tiles, Legion::LogicalRegion a, Legion::LogicalRegion b,
                 Legion::LogicalRegion c, const std::vector<Legion::LogicalPartition> &a_step,
                 const std::vector<Legion::LogicalPartition> &b_step);

/* Freivalds' test and spot checks of C = A * B; the number of wrong rows and entries found. */
long long check(Legion::Context ctx, Legion::Runtime *rt, const Options &opt, Legion::LogicalRegion a,
                Legion::LogicalRegion b, Legion::LogicalRegion c);

/* Prints HPCMAP_RESULT (GFLOPS over the timed region `elapsed_s` of opt.iters multiplications)
 * and sets a non-zero exit status when the check found wrong values. `extra`: `"k": v, ...`. */
void report(Legion::Runtime *rt, const char *app, const Options &opt, double elapsed_s, long long wrong,
            const std::string &extra);

/* Registers place_a, place_b, place_c, gemm, check_bx and check_cx. */
void register_tasks();

}  // namespace matmul
