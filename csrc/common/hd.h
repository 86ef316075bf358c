// The one host/device function qualifier: the math shared by the CPU and CUDA kernels is
// written once, in headers, and compiled by both compilers with this macro in front.
#pragma once

#if defined(__CUDACC__)
#define SG_HD __host__ __device__ __forceinline__
#else
#define SG_HD inline __attribute__((always_inline))
#endif
