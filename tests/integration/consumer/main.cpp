// Uses the installed headers and libraries: a tensor op, the RNG, a data sampler and the build identity.
#include <cstdio>

#include "core/version.hpp"
#include "core/ops.hpp"
#include "core/rng.hpp"
#include "core/runtime.hpp"
#include "data/sampler.hpp"

int main(int argc, char** argv) {
  meridian::RuntimeOptions options;
  options.init_mpi = false;
  meridian::Runtime runtime(argc, argv, options);
  meridian::Tensor t = meridian::Tensor::full({4}, 2.0);
  const double sum = meridian::ops::sum(t);
  meridian::Rng rng(0, 0);
  const bool ok = sum == 8.0 && rng.next_u32() == 0x6627e8d5u &&
                  meridian::data::iid_shard(10, 2, 1, 7, 0).size() == 5;
  std::printf("installed Meridian works: %s (git %s)\n", ok ? "yes" : "NO", meridian::git_sha());
  return ok ? 0 : 1;
}
