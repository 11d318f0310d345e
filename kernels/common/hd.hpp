// Host/device qualifiers: code in kernels/common is compiled by g++ for the CPU backend and by nvcc
// for the CUDA one, and must give bit-identical results on both.
#pragma once

#if defined(__CUDACC__)
#define MERIDIAN_HD __host__ __device__ __forceinline__
#else
#define MERIDIAN_HD inline
#endif
