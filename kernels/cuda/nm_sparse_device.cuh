// Internal to the CUDA N:M kernels: device helpers as inline PTX (cp.async copies into shared
// memory, ldmatrix, mma.sync bf16) and small conversions. Device code only (nvcc); sm_80 or newer
// (on older targets the helpers trap; the host refuses such devices first).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace meridian::kernels::cuda::nm_detail {

__device__ __forceinline__ std::int64_t min64(std::int64_t a, std::int64_t b) { return a < b ? a : b; }

// The block's dynamic shared memory (16-byte aligned), sized at launch.
__device__ __forceinline__ unsigned char* dynamic_shared_memory() {
  extern __shared__ __align__(16) unsigned char nm_dynamic_shared_memory[];
  return nm_dynamic_shared_memory;
}

__device__ __forceinline__ std::uint32_t shared_address(const void* p) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
}

// Copies 4 bytes global -> shared without blocking; when !valid the destination is zero-filled and
// src is not read (it must still be a valid address expression; callers pass the array base).
__device__ __forceinline__ void cp_async_4(void* dst_shared, const void* src_global, bool valid) {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(shared_address(dst_shared)),
               "l"(__cvta_generic_to_global(src_global)), "r"(valid ? 4 : 0)
               : "memory");
#else
  __trap();
#endif
}

// The same for 16 bytes (both addresses 16-byte aligned), bypassing L1.
__device__ __forceinline__ void cp_async_16(void* dst_shared, const void* src_global, bool valid) {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared_address(dst_shared)),
               "l"(__cvta_generic_to_global(src_global)), "r"(valid ? 16 : 0)
               : "memory");
#else
  __trap();
#endif
}

// Closes the group of copies issued by this thread since the last commit.
__device__ __forceinline__ void cp_async_commit() {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}

// Waits until at most `pending` of this thread's committed groups are still in flight (the copies
// become visible to other threads only after a __syncthreads that follows).
template <int pending>
__device__ __forceinline__ void cp_async_wait() {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(pending) : "memory");
#endif
}

// Four 8x8 b16 matrices from shared memory; lane i gives the address of row i % 8 of matrix i / 8.
// Thread t receives (row t / 4, columns 2·(t % 4) and +1) of each matrix, low half first.
__device__ __forceinline__ void ldmatrix_x4(std::uint32_t (&r)[4], const void* row_address) {
#if __CUDA_ARCH__ >= 800
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(row_address))
               : "memory");
#else
  __trap();
#endif
}

// The same, transposed: thread t receives (rows 2·(t % 4) and +1, column t / 4), low half first.
__device__ __forceinline__ void ldmatrix_x4_trans(std::uint32_t (&r)[4], const void* row_address) {
#if __CUDA_ARCH__ >= 800
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(row_address))
               : "memory");
#else
  __trap();
#endif
}

// d (16x8, fp32) += a (16x16 bf16, row-major fragment) · b (16x8 bf16, column fragment).
// Fragments (g = lane / 4, t = lane % 4): a[0] = A[g][2t..2t+1], a[1] = A[g+8][2t..], a[2] =
// A[g][2t+8..], a[3] = A[g+8][2t+8..]; b[0] = B[2t..2t+1][g], b[1] = B[2t+8..2t+9][g];
// d[0..1] = D[g][2t..2t+1], d[2..3] = D[g+8][2t..2t+1].
__device__ __forceinline__ void mma_bf16_16816(float (&d)[4], const std::uint32_t (&a)[4], std::uint32_t b0,
                                               std::uint32_t b1) {
#if __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
  __trap();
#endif
}

// bf16 bits -> float (exact).
__device__ __forceinline__ float bf16_bits_to_float(std::uint16_t bits) {
  return __uint_as_float(static_cast<std::uint32_t>(bits) << 16);
}

// Element loads through the read-only path, as float.
__device__ __forceinline__ float load_as_float(const float* p) { return __ldg(p); }
__device__ __forceinline__ float load_as_float(const std::uint16_t* p) { return bf16_bits_to_float(__ldg(p)); }

}  // namespace meridian::kernels::cuda::nm_detail
