# The matrix multiplication benchmarks' shared code (benchmarks/common/matmul.*) as one library,
# and its BLAS: OpenBLAS on the CPU (Debian: libopenblas-dev, installed by setup), cuBLAS for the
# GPU leaf where the CUDA toolkit has it (the GPU variant of `gemm` is built only then).
# Included by the top-level CMakeLists.txt; an app's CMakeLists.txt calls
#   hpcmap_matmul_benchmark(NAME SOURCES...)

find_path(OPENBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES openblas-pthread openblas)
find_library(OPENBLAS_LIBRARY NAMES openblas)

if(OPENBLAS_INCLUDE_DIR AND OPENBLAS_LIBRARY)
  set(matmul_sources ${CMAKE_CURRENT_LIST_DIR}/matmul.cc)
  if(HPCMAP_USE_CUDA)
    find_package(CUDAToolkit QUIET)
    list(APPEND matmul_sources ${CMAKE_CURRENT_LIST_DIR}/matmul_gpu.cu)
  endif()
  add_library(hpcmap_matmul STATIC ${matmul_sources})
  target_include_directories(hpcmap_matmul PUBLIC ${CMAKE_CURRENT_LIST_DIR} ${OPENBLAS_INCLUDE_DIR})
  target_link_libraries(hpcmap_matmul PUBLIC legion_runtime ${OPENBLAS_LIBRARY})
  if(HPCMAP_USE_CUDA)
    target_compile_definitions(hpcmap_matmul PUBLIC HPCMAP_USE_CUDA)
    set_target_properties(hpcmap_matmul PROPERTIES CUDA_RUNTIME_LIBRARY Static)
    if(TARGET CUDA::cudart_static)
      target_link_libraries(hpcmap_matmul PUBLIC CUDA::cudart_static)
    endif()
    if(TARGET CUDA::cublas)
      target_compile_definitions(hpcmap_matmul PUBLIC HPCMAP_USE_CUBLAS)
      target_link_libraries(hpcmap_matmul PUBLIC CUDA::cublas)
    else()
      message(STATUS "cuBLAS not found: the matrix multiplications' gemm leaf has no GPU variant")
    endif()
  endif()
else()
  message(WARNING "OpenBLAS not found (Debian: apt-get install libopenblas-dev): "
                  "the matrix multiplication benchmarks are not built")
endif()

# hpcmap_matmul_benchmark(NAME SOURCES...): one matrix multiplication app on the shared code.
function(hpcmap_matmul_benchmark name)
  if(NOT TARGET hpcmap_matmul)
    return()
  endif()
  hpcmap_benchmark(${name} SOURCES ${ARGN})
  target_link_libraries(${name} PRIVATE hpcmap_matmul)
endfunction()
