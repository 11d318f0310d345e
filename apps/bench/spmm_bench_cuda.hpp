// spmm_bench --device cuda (CUDA builds only): the CUDA N:M SpMM (kernels/cuda/nm_sparse.hpp) in fp32
// and bf16 against cuBLAS sgemm and bf16 GEMM on the same inputs. spmm_bench.cpp parses the options
// and hands them over here. Shapes as in spmm_bench: C (M x N) = A (M x K) · B (K x N), B N:M sparse.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/runtime.hpp"

namespace meridian::bench {

struct CudaBenchOptions {
  std::vector<std::array<std::int64_t, 3>> shapes;  // {M, N, K}
  std::vector<std::array<int, 3>> sparsities;       // {n, m, v}
  std::string device_name = "cuda";                 // "cuda" or "cuda:I"
  std::string op = "forward";                       // only forward is benchmarked on CUDA
  int repeats = 5;
  int warmup = 1;
  int check = 1;
  int flush_mb = 0;  // 0: max(64 MiB, 2 x the device's L2)
  std::uint64_t seed = 1234;
  std::string suite_label;  // "suite full", "--shapes", ... for the header line
  std::string json_path, csv_path, out_dir;
  nlohmann::json config;  // every option after parsing, for run.json and the JSON file
};

// Throws InputError for options the CUDA benchmark cannot run (before anything is allocated).
void check_cuda_bench_options(const std::string& device_name, const std::string& op);

// Runs the benchmark; returns the exit code (1 when a checked result is wrong).
int run_spmm_bench_cuda(const CudaBenchOptions& options, const Runtime& runtime,
                        const std::vector<std::string>& command_line);

}  // namespace meridian::bench
