/* Matrix multiplication leaves and values, shared by the CPU code (matmul.cc) and the CUDA code
 * (matmul_gpu.cu); no Legion types, so nvcc and the host compiler both read it. */
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define MATMUL_HD __host__ __device__
#else
#define MATMUL_HD
#endif

namespace matmul {

/* A tile: element (r, c), 0-based within the tile, is base[r * ld + c * cs] (row-major when
 * cs == 1). Its first element is entry (row0, col0) of the whole matrix. */
struct Tile {
  double *base;
  long long rows, cols, ld, cs;
  long long row0, col0;
};

MATMUL_HD inline uint64_t mix(uint64_t h)
{
  h ^= h >> 31; h *= 0x7FB5D329728EA185ull;
  h ^= h >> 27; h *= 0x81DADEF4BC2DD44Dull;
  return h ^ (h >> 33);
}

/* Entry (i, j) of A (which = 0) or B (which = 1): an integer in [-8, 8], not periodic. */
MATMUL_HD inline double value_of(int which, long long i, long long j)
{
  uint64_t h = mix((uint64_t)i * 0x9E3779B97F4A7C15ull + mix((uint64_t)j + 0x632BE59BD9B4E019ull * (which + 1)));
  return (double)((int)(h % 17) - 8);
}

/* Entry j of the check's vector x: a non-zero integer in [-1000, 1000]. */
inline long long x_of(long long seed, long long j)
{
  long long v = (long long)(mix((uint64_t)seed * 0xD6E8FEB86659FD93ull + mix((uint64_t)j)) % 2000);
  return v < 1000 ? v - 1000 : v - 999;
}

#ifdef HPCMAP_USE_CUDA
/* GPU leaves: launch on `stream` (a cudaStream_t) and return without synchronizing.
 * which: 0 = A, 1 = B, 2 = zeros. */
void fill_gpu(Tile t, int which, void *stream);
#ifdef HPCMAP_USE_CUBLAS
/* c += a * b (row-major tiles) through cublasDgemm on `stream`; `corrupt` then adds 1 to c's
 * first entry. */
void gemm_gpu(Tile c, Tile a, Tile b, bool corrupt, void *stream);
#endif
#endif

}  // namespace matmul
