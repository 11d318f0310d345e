// The whole trace path on real data: Azure's one-hour LLM conversation trace (read from
// ../shared/traces when present). A workload model fitted on the first half generates a stream as
// long as the second half, which is compared with the second half. The trace drifts between its
// halves (the request and response lengths of the two halves are themselves KS 0.08 and 0.07 apart),
// so the bound checked is that the model adds little to that drift: its KS distance to the second
// half is at most the first half's own plus 0.01, and the inter-arrival CV is within 10 %.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "kernels/common/error.hpp"
#include "trace/fit.hpp"
#include "trace/generate.hpp"
#include "trace/readers.hpp"
#include "trace/stats.hpp"

namespace meridian::trace {
namespace {

const QuantityComparison& quantity(const Comparison& c, const std::string& name) {
  for (const auto& q : c.quantities)
    if (q.name == name) return q;
  throw Error(cat("no quantity ", name));
}

TEST(TraceRealData, ModelFittedOnOneHalfMatchesTheOtherHalf) {
  const std::string path = std::string(MERIDIAN_SOURCE_DIR) + "/../shared/traces/azure_llm_conv_2023.csv";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "no " << path << " (the real-data test needs the shared traces)";
  const RequestTrace all = read_requests(path);
  const double half = all.time_s.back() / 2;
  const RequestTrace first = filter_window(all, 0, half), second = filter_window(all, half, 1e300);
  const WorkloadModel model = fit_workload(first);
  ParametricOptions o;
  o.duration_s = second.time_s.back() - second.time_s.front();
  o.seed = 11;
  const RequestTrace generated = generate_parametric(model, o);
  const Comparison c = compare_traces(second, generated), baseline = compare_traces(second, first);
  for (const char* name : {"request_tokens", "response_tokens", "inter_arrival_s"}) {
    const double d = quantity(c, name).ks.statistic, d0 = quantity(baseline, name).ks.statistic;
    std::printf("%-16s KS(second half, model) %.4f   KS(second half, first half) %.4f\n", name, d, d0);
    EXPECT_LE(d, d0 + 0.01) << name;
  }
  const double cv_error = std::abs(c.interarrival_cv_b - c.interarrival_cv_a) / c.interarrival_cv_a;
  std::printf("inter-arrival CV: second half %.4f, model %.4f (%.1f %%)\n", c.interarrival_cv_a, c.interarrival_cv_b,
              100 * cv_error);
  EXPECT_LE(cv_error, 0.10);
}

}  // namespace
}  // namespace meridian::trace
