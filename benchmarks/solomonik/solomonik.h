/* Solomonik's 2.5-D matrix multiplication: the layer reduction's fold, shared by the CPU and CUDA
 * variants. */
#pragma once

#include "matmul_leaf.h"

namespace solomonik {

#ifdef HPCMAP_USE_CUDA
/* c += p, element by element (tiles of equal shape, any strides), on `stream` (a cudaStream_t),
 * without synchronizing. */
void fold_gpu(matmul::Tile c, matmul::Tile p, void *stream);
#endif

}  // namespace solomonik
