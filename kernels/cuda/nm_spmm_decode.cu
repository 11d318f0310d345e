// Launcher of the decode path of the CUDA N:M SpMM (rows <= 16, fp32 or bf16 operands, fp32 C;
// kernel in nm_spmm_decode_kernels.cuh). C (rows x cols) = alpha·A (rows x k)·B + beta·C; B as
// values (kept_rows x cols) + u8 index (kept_rows x col_vectors).
#include <algorithm>

#include "kernels/cuda/check.hpp"
#include "kernels/cuda/nm_spmm_decode_kernels.cuh"
#include "kernels/cuda/nm_sparse_launch.hpp"
#include "kernels/cuda/nm_sparse_tiles.hpp"

namespace meridian::kernels::cuda::nm_detail {
namespace {

template <typename T, int R>
void launch_decode_rows(bool per_column, const DecodeParams& params, dim3 grid, std::int64_t smem, cudaStream_t stream) {
  if (per_column) {
    nm_spmm_decode_kernel<T, R, true><<<grid, kDecodeThreads, static_cast<std::size_t>(smem), stream>>>(params);
  } else {
    nm_spmm_decode_kernel<T, R, false><<<grid, kDecodeThreads, static_cast<std::size_t>(smem), stream>>>(params);
  }
  CUDA_CHECK(cudaGetLastError());
}

template <typename T>
void launch_decode_type(int bucket, bool per_column, const DecodeParams& params, dim3 grid, std::int64_t smem,
                        cudaStream_t stream) {
  switch (bucket) {
    case 1: launch_decode_rows<T, 1>(per_column, params, grid, smem, stream); break;
    case 2: launch_decode_rows<T, 2>(per_column, params, grid, smem, stream); break;
    case 4: launch_decode_rows<T, 4>(per_column, params, grid, smem, stream); break;
    case 8: launch_decode_rows<T, 8>(per_column, params, grid, smem, stream); break;
    default: launch_decode_rows<T, 16>(per_column, params, grid, smem, stream); break;
  }
}

}  // namespace

void launch_decode(NmSpmmType type, int split, const Problem& p, float* partial, cudaStream_t stream) {
  const NMLayout& l = p.layout;
  MERIDIAN_CHECK(p.rows >= 1 && p.rows <= kDecodeMaxRows && split >= 1 && (split == 1 || partial != nullptr),
                 "cuda::nm_spmm: bad decode configuration");
  const int bucket = decode_rows_bucket(p.rows);
  const std::int64_t smem = decode_smem_bytes(l.m, bucket);
  static_assert(decode_smem_bytes(64, 1) <= 48 * 1024 && decode_smem_bytes(64, 16) <= 48 * 1024 &&
                decode_smem_bytes(4, 16) <= 48 * 1024 && decode_smem_bytes(4, 1) <= 48 * 1024);
  const std::size_t element = type == NmSpmmType::f32 ? 4 : 2;
  DecodeParams params{};
  params.a = p.a;
  params.lda = p.lda;
  params.values = p.values;
  params.ldv = p.ldv;
  params.index = p.index;
  params.c = p.c;
  params.ldc = p.ldc;
  params.partial = partial;
  params.rows = static_cast<int>(p.rows);
  params.cols = static_cast<int>(l.cols);
  params.k = l.k;
  params.n = l.n;
  params.m = l.m;
  params.v = l.v;
  params.windows = l.windows();
  params.col_vectors = l.col_vectors();
  params.slice_windows = decode_slice_dense(l.m, bucket) / l.m;
  params.split = split;
  params.alpha = p.alpha;
  params.beta = p.beta;
  params.values_quad = l.cols % 4 == 0 && p.ldv % 4 == 0 &&
                       reinterpret_cast<std::uintptr_t>(p.values) % (4 * element) == 0;
  const dim3 grid(static_cast<unsigned>((l.cols + kDecodeStrip - 1) / kDecodeStrip), static_cast<unsigned>(split));
  const bool per_column = l.v < kDecodeLaneCols;
  if (type == NmSpmmType::f32) {
    launch_decode_type<float>(bucket, per_column, params, grid, smem, stream);
  } else {
    launch_decode_type<std::uint16_t>(bucket, per_column, params, grid, smem, stream);
  }
  if (split > 1) launch_splitk_reduce(split, p, partial, stream);
}

}  // namespace meridian::kernels::cuda::nm_detail
