/* PRK star stencil: kernels shared by the CPU and CUDA variants. */
#pragma once

#include <cstddef>

namespace stencil {

constexpr int RADIUS = 2;

/* A 2-D block of doubles: the element at (x, y) is base[(x - lo_x) * sx + (y - lo_y) * sy]. */
struct Block {
  double *base;
  long long lo_x, lo_y, hi_x, hi_y;
  long long sx, sy;  // element strides
};

/* Star-stencil weight of the point `offset` steps away along one axis (offset in 1..RADIUS). */
inline double weight(int offset) { return 1.0 / (2.0 * offset * RADIUS); }

#ifdef HPCMAP_USE_CUDA
/* GPU variants: launch on `stream` (a cudaStream_t) and return without synchronizing. */
void stencil_gpu(Block out, Block in, void *stream);
void increment_gpu(Block in, void *stream);
void init_gpu(Block in, Block out, void *stream);
#endif

}  // namespace stencil
