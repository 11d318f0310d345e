// Generation and scaling of workload streams: bootstrap reproducible by seed and drawn from the
// source, the scaling invariants (compression multiplies the rate exactly, superposition multiplies
// the count), bandwidth series with the requested mean and correlation, failure schedules with the
// requested MTBF, and bad arguments.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>
#include <string>

#include "core/rng.hpp"
#include "kernels/common/error.hpp"
#include "trace/generate.hpp"

namespace meridian::trace {
namespace {

RequestTrace sample_trace(std::size_t n, std::uint64_t seed) {
  Rng rng(seed, stream_id(StreamPurpose::test, 5));
  RequestTrace t;
  double time = 0;
  for (std::size_t i = 0; i < n; ++i) {
    time += -std::log(1.0 - rng.uniform_double()) / 4.0;  // Poisson arrivals at 4/s
    t.push(time, 1 + static_cast<std::int32_t>(rng.below(1000)), static_cast<std::int32_t>(rng.below(500)),
           i % 3 == 0 ? "gpt-4" : "chatgpt", i % 2 == 0 ? LogType::conversation : LogType::api);
  }
  return t;
}

TEST(TraceGenerate, BootstrapIsReproducibleAndDrawsFromTheSource) {
  const RequestTrace src = sample_trace(500, 1);
  const RequestTrace a = bootstrap(src, 2000, 7), b = bootstrap(src, 2000, 7), c = bootstrap(src, 2000, 8);
  ASSERT_EQ(a.size(), 2000u);
  EXPECT_EQ(a.time_s, b.time_s);
  EXPECT_EQ(a.request_tokens, b.request_tokens);
  EXPECT_NE(a.request_tokens, c.request_tokens);
  // A prefix of a longer stream is the shorter stream: request i depends only on (seed, i).
  const RequestTrace longer = bootstrap(src, 3000, 7);
  EXPECT_TRUE(std::equal(a.request_tokens.begin(), a.request_tokens.end(), longer.request_tokens.begin()));
  // Every (request, response) pair and every gap exists in the source.
  std::set<std::pair<int, int>> pairs;
  std::set<double> gaps;
  for (std::size_t i = 0; i < src.size(); ++i) pairs.insert({src.request_tokens[i], src.response_tokens[i]});
  for (std::size_t i = 1; i < src.size(); ++i) gaps.insert(src.time_s[i] - src.time_s[i - 1]);
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(pairs.contains({a.request_tokens[i], a.response_tokens[i]})) << i;
    if (i > 0) {
      // the running sum may round a gap by an ulp: compare with the nearest source gap
      const double g = a.time_s[i] - a.time_s[i - 1];
      const auto it = gaps.lower_bound(g - 1e-9);
      EXPECT_TRUE(it != gaps.end() && std::abs(*it - g) < 1e-9) << i;
    }
  }
  // The rate is the source's within sampling error (mean gap 0.25 s over 2000 draws: ±5 %).
  EXPECT_NEAR(mean_rate(a), mean_rate(src), 0.1 * mean_rate(src));
  EXPECT_EQ(a.models, src.models);
}

TEST(TraceGenerate, CompressionMultipliesTheRateExactly) {
  const RequestTrace src = sample_trace(300, 2);
  const RequestTrace fast = compress_time(src, 4.0);
  EXPECT_DOUBLE_EQ(mean_rate(fast), 4.0 * mean_rate(src));
  const RequestTrace norm = normalize_rate(src, 100.0);
  EXPECT_NEAR(mean_rate(norm), 100.0, 1e-9);
  EXPECT_EQ(norm.request_tokens, src.request_tokens);
}

TEST(TraceGenerate, SuperpositionMultipliesTheCountAndStaysSorted) {
  const RequestTrace src = sample_trace(200, 3);
  const RequestTrace sup = superpose(src, 3, 0.05);
  ASSERT_EQ(sup.size(), 600u);
  EXPECT_TRUE(std::is_sorted(sup.time_s.begin(), sup.time_s.end()));
  EXPECT_NEAR(mean_rate(sup), 3 * mean_rate(src), 0.05 * 3 * mean_rate(src));
  long long total = 0, src_total = 0;
  for (auto x : sup.request_tokens) total += x;
  for (auto x : src.request_tokens) src_total += x;
  EXPECT_EQ(total, 3 * src_total);
}

TEST(TraceGenerate, LengthScalingClamps) {
  RequestTrace t;
  t.push(0, 10, 0);
  t.push(1, 1000, 5);
  const RequestTrace s = scale_lengths(t, 2.0, 1, 1500);
  EXPECT_EQ(s.request_tokens, (std::vector<std::int32_t>{20, 1500}));
  EXPECT_EQ(s.response_tokens, (std::vector<std::int32_t>{1, 10}));
}

TEST(TraceGenerate, BandwidthSeriesHasItsMeanAndCorrelation) {
  BandwidthSeriesOptions o;
  o.mean_bps = 1e9;
  o.sigma = 0.3;
  o.rho = 0.8;
  o.duration_s = 20000;
  const BandwidthTrace s = generate_bandwidth(o);
  ASSERT_EQ(s.time_s.size(), 20001u);
  double mean = 0;
  for (double b : s.bandwidth_bps) mean += b;
  mean /= static_cast<double>(s.bandwidth_bps.size());
  EXPECT_NEAR(mean, 1e9, 0.03e9);  // the AR(1) mean over 20k correlated samples: a few % at most
  // lag-1 correlation of log-bandwidth ≈ rho
  std::vector<double> z;
  for (double b : s.bandwidth_bps) z.push_back(std::log(b));
  double m = 0;
  for (double v : z) m += v;
  m /= static_cast<double>(z.size());
  double num = 0, den = 0;
  for (std::size_t i = 0; i < z.size(); ++i) {
    den += (z[i] - m) * (z[i] - m);
    if (i > 0) num += (z[i] - m) * (z[i - 1] - m);
  }
  EXPECT_NEAR(num / den, 0.8, 0.02);
  EXPECT_EQ(generate_bandwidth(o).bandwidth_bps, s.bandwidth_bps);
  o.sigma = 0;
  for (double b : generate_bandwidth(o).bandwidth_bps) EXPECT_DOUBLE_EQ(b, 1e9);
}

TEST(TraceGenerate, FailuresHaveTheRequestedMtbf) {
  FailureOptions o;
  o.nodes = 64;
  o.mtbf_s = 1000;
  o.duration_s = 100000;
  for (double shape : {1.0, 0.7}) {
    o.weibull_shape = shape;
    const FailureLog log = generate_failures(o);
    // A renewal process started fresh at 0: E[N] ≈ nodes·(duration/MTBF + (CV² − 1)/2) and
    // Var[N] ≈ nodes·(duration/MTBF)·CV², CV² = Γ(1 + 2/k)/Γ(1 + 1/k)² − 1 for a Weibull of shape k.
    const double cv2 = std::tgamma(1 + 2 / shape) / std::pow(std::tgamma(1 + 1 / shape), 2) - 1;
    const double expected = 64 * (100 + (cv2 - 1) / 2), sd = std::sqrt(6400 * cv2);
    EXPECT_NEAR(static_cast<double>(log.failures()), expected, 4 * sd) << "shape " << shape;
    ASSERT_EQ(log.node.size(), 64u);
    for (const auto& times : log.time_s) EXPECT_TRUE(std::is_sorted(times.begin(), times.end()));
  }
  FailureLog few;
  few.node = {"node0", "node1"};
  few.time_s = {{30.0}, {12.5}};
  EXPECT_EQ(failure_schedule(few, 10.0, 2), (std::vector<std::string>{"1:2:node", "1:3:node", "3:0:node", "3:1:node"}));
}

// ---------------------------------------------------------------------------------------------
// Time-varying rates: RateWindows and windowed parametric generation

TEST(TraceGenerate, RateWindowsMapTimeBothWays) {
  // Windows [0,60) 120 requests, [60,120) none, [120,180) 30, [180,210) 60 (a last piece of 30 s).
  const std::vector<std::uint32_t> counts{120, 0, 30, 60};
  const RateWindows w(60, counts, 210);
  EXPECT_DOUBLE_EQ(w.total(), 210);
  EXPECT_DOUBLE_EQ(w.span_s(), 210);
  EXPECT_DOUBLE_EQ(w.operational(30), 60);
  EXPECT_DOUBLE_EQ(w.operational(90), 120);   // flat over the empty window
  EXPECT_DOUBLE_EQ(w.operational(150), 135);  // 0.5/s
  EXPECT_DOUBLE_EQ(w.operational(195), 180);  // 2/s over the 30 s piece
  EXPECT_DOUBLE_EQ(w.operational(210), 210);
  EXPECT_DOUBLE_EQ(w.real(120), 120);  // the end of the flat stretch
  EXPECT_DOUBLE_EQ(w.real(135), 150);
  // Periodic past the span: one more period adds the span in time and the total in requests.
  EXPECT_DOUBLE_EQ(w.operational(210 + 30), 210 + 60);
  EXPECT_DOUBLE_EQ(w.real(210 + 180), 210 + 195);
  for (const double t : {0.0, 12.5, 59.0, 121.0, 179.9, 200.0, 333.3, 1000.0}) {
    if (t >= 60 && t < 120) continue;  // empty window: no inverse there
    EXPECT_NEAR(w.real(w.operational(t)), t, 1e-9) << t;
  }
  // A last piece shorter than half a window joins the window before it: [120,200) holds 90.
  const RateWindows merged(60, counts, 200);
  EXPECT_DOUBLE_EQ(merged.operational(200), 210);
  EXPECT_DOUBLE_EQ(merged.operational(160), 120 + 90.0 * 40 / 80);
  // Bad windows.
  EXPECT_THROW(RateWindows(60, std::vector<std::uint32_t>{1, 2}, 210), InputError);  // 4 windows expected
  EXPECT_THROW(RateWindows(60, std::vector<std::uint32_t>{0, 0, 0, 0}, 210), InputError);
  EXPECT_THROW(RateWindows(0, counts, 210), InputError);
  EXPECT_THROW(RateWindows(60, counts, 0), InputError);
}

// One class with hand-set windows: 60 s windows with 600, 0, 120, 300 requests and a last 50 s
// piece with 60 (span 290 s).
WorkloadModel windowed_model() {
  WorkloadModel m;
  m.duration_s = 290;
  m.requests = 1080;
  WorkloadClass c;
  c.requests = 1080;
  c.arrival.rate_per_s = 1080.0 / 290;
  c.arrival.inter_arrival = Gamma{0.5, 2.0 * 290 / 1080};
  c.arrival.window_s = 60;
  c.arrival.window_counts = {600, 0, 120, 300, 60};
  c.arrival.rescaled_inter_arrival = Exponential{1.0};
  c.request_tokens = Exponential{0.01};
  c.response_tokens = Exponential{0.02};
  m.classes.push_back(c);
  return m;
}

std::vector<std::size_t> counts_between(const RequestTrace& t, const std::vector<double>& edges) {
  std::vector<std::size_t> counts(edges.size() - 1, 0);
  for (const double time : t.time_s)
    for (std::size_t i = 0; i + 1 < edges.size(); ++i)
      if (time >= edges[i] && time < edges[i + 1]) ++counts[i];
  return counts;
}

TEST(TraceGenerate, WindowedArrivalsFollowTheWindowCounts) {
  WorkloadModel model = windowed_model();
  ParametricOptions o;
  o.duration_s = 580;  // two periods
  o.seed = 3;
  const RequestTrace t = generate_parametric(model, o);
  EXPECT_TRUE(std::is_sorted(t.time_s.begin(), t.time_s.end()));
  const std::vector<double> edges{0, 60, 120, 180, 240, 290, 350, 410, 470, 530, 580};
  const std::vector<double> expected{600, 0, 120, 300, 60};
  const auto windowed = counts_between(t, edges);
  for (std::size_t i = 0; i < windowed.size(); ++i) {
    const double e = expected[i % 5];  // Poisson counts: within 5 standard deviations
    EXPECT_NEAR(static_cast<double>(windowed[i]), e, 5 * std::sqrt(e) + 0.5) << "window " << i;
  }
  EXPECT_EQ(windowed[1], 0u);
  EXPECT_EQ(windowed[6], 0u);

  // Stationary: the mean rate everywhere (about 223 per 60 s), nothing like 600 or 0.
  o.windowed = false;
  const auto flat = counts_between(generate_parametric(model, o), edges);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_NEAR(static_cast<double>(flat[i]), 1080.0 / 290 * 60, 150) << i;

  // A model without the rescaled shape uses the inter-arrival shape at unit mean: Gamma(0.5) gaps
  // (variance 2 in operational time), counts still follow the windows on average.
  model.classes[0].arrival.rescaled_inter_arrival.reset();
  o.windowed = true;
  o.duration_s = 290 * 20;
  const RequestTrace g = generate_parametric(model, o);
  EXPECT_NEAR(static_cast<double>(g.size()), 20 * 1080, 5 * std::sqrt(2.0 * 20 * 1080));
  std::size_t in_empty = 0;
  for (const double time : g.time_s) in_empty += std::fmod(time, 290.0) >= 60 && std::fmod(time, 290.0) < 120 ? 1 : 0;
  EXPECT_EQ(in_empty, 0u);
}

TEST(TraceGenerate, GenerationReportsProgress) {
  std::vector<double> seen;
  ParametricOptions o;
  o.duration_s = 290 * 200;  // about 216,000 requests
  o.progress = [&](double f) { seen.push_back(f); };
  const RequestTrace g = generate_parametric(windowed_model(), o);
  ASSERT_GE(seen.size(), 3u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_GT(seen.front(), 0.0);
  EXPECT_LE(seen.back(), 1.0);
  seen.clear();
  const RequestTrace b = bootstrap(g, 200000, 1, [&](double f) { seen.push_back(f); });
  EXPECT_EQ(seen.size(), 200000u / 65536u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
}

// One stationary class with the given gaps and fixed lengths.
WorkloadModel stationary_model(Distribution gaps) {
  WorkloadModel m;
  m.duration_s = 100;
  WorkloadClass c;
  c.arrival.rate_per_s = 1.0 / gaps.mean();
  c.arrival.inter_arrival = std::move(gaps);
  c.request_tokens = Empirical({7.0}, {1});
  c.response_tokens = Empirical({9.0}, {1});
  m.classes.push_back(c);
  return m;
}

TEST(TraceGenerate, RunawayGenerationIsAnInputErrorNotAHang) {
  const auto error_of = [](auto&& call) -> std::string {
    try {
      call();
    } catch (const InputError& e) {
      return e.what();
    }
    return "(no error)";
  };
  // 1e300 requests per second: a duration expects 1e301 requests, refused at once; a count ends.
  const WorkloadModel fast = stationary_model(Exponential{1e300});
  ParametricOptions o;
  o.duration_s = 10;
  EXPECT_NE(error_of([&] { generate_parametric(fast, o); }).find("expected number of requests"), std::string::npos);
  o.duration_s = 0;
  o.count = 100;
  const RequestTrace burst = generate_parametric(fast, o);
  EXPECT_EQ(burst.size(), 100u);
  EXPECT_LT(burst.time_s.back(), 1e-290);
  // Gaps of mean 0 never advance: refused for a duration, `count` requests at time 0 for a count.
  const WorkloadModel stuck = stationary_model(Empirical({0.0}, {4}));
  o.count = 50;
  EXPECT_EQ(generate_parametric(stuck, o).time_s, std::vector<double>(50, 0.0));
  o.count = 0;
  o.duration_s = 1;
  EXPECT_NE(error_of([&] { generate_parametric(stuck, o); }).find("mean 0"), std::string::npos);
  // Gaps of mean 1e307: the clock passes the largest double before 100 requests.
  o.duration_s = 0;
  o.count = 100;
  EXPECT_NE(error_of([&] { generate_parametric(stationary_model(Exponential{1e-307}), o); }).find("largest time"),
            std::string::npos);
  // Windows: the expected count is Λ(duration), 1080 per 290 s.
  o.count = 0;
  o.duration_s = 1e9;
  EXPECT_NE(error_of([&] { generate_parametric(windowed_model(), o); }).find("expected number"), std::string::npos);
  o.duration_s = std::numeric_limits<double>::infinity();
  EXPECT_NE(error_of([&] { generate_parametric(windowed_model(), o); }).find("finite"), std::string::npos);
  // Windows need gaps that scale to unit mean.
  WorkloadModel zero_mean = windowed_model();
  zero_mean.classes[0].arrival.rescaled_inter_arrival.reset();
  zero_mean.classes[0].arrival.inter_arrival = Empirical({0.0}, {3});
  o.duration_s = 0;
  o.count = 10;
  EXPECT_NE(error_of([&] { generate_parametric(zero_mean, o); }).find("unit mean"), std::string::npos);
  o.count = kMaxGeneratedRows + 1;
  EXPECT_NE(error_of([&] { generate_parametric(fast, o); }).find("request count"), std::string::npos);
  // The other generators and the scalings bound their output the same way.
  const RequestTrace src = sample_trace(10, 4);
  EXPECT_NE(error_of([&] { bootstrap(src, kMaxGeneratedRows + 1, 1); }).find("request count"), std::string::npos);
  EXPECT_NE(error_of([&] { superpose(src, 200'000'000, 0); }).find("copies"), std::string::npos);
  BandwidthSeriesOptions b;
  b.step_s = 1e-300;
  EXPECT_NE(error_of([&] { generate_bandwidth(b); }).find("number of samples"), std::string::npos);
  b.step_s = 1;
  b.duration_s = std::numeric_limits<double>::infinity();
  EXPECT_NE(error_of([&] { generate_bandwidth(b); }).find("finite"), std::string::npos);
  FailureOptions f;
  f.mtbf_s = 1e-9;
  EXPECT_NE(error_of([&] { generate_failures(f); }).find("expected number of failures"), std::string::npos);
  f.mtbf_s = 3600;
  f.weibull_shape = 0.01;
  EXPECT_NE(error_of([&] { generate_failures(f); }).find("Weibull shape"), std::string::npos);
}

TEST(TraceGenerate, JointLengthsBeyondInt32AreClamped) {
  WorkloadModel m = stationary_model(Exponential{1.0});
  m.classes[0].joint = Empirical2D({5'000'000'000}, {-3}, {1});
  ParametricOptions o;
  o.count = 20;
  const RequestTrace t = generate_parametric(m, o);
  ASSERT_EQ(t.size(), 20u);
  for (std::size_t i = 0; i < t.size(); ++i) {
    EXPECT_EQ(t.request_tokens[i], std::numeric_limits<std::int32_t>::max());
    EXPECT_EQ(t.response_tokens[i], 0);
  }
}

TEST(TraceGenerate, BadArgumentsAreRejected) {
  const RequestTrace src = sample_trace(10, 4);
  RequestTrace one;
  one.push(0, 1, 1);
  EXPECT_THROW(bootstrap(one, 5, 1), InputError);
  EXPECT_THROW(compress_time(src, 0), InputError);
  EXPECT_THROW(normalize_rate(one, 5), InputError);
  EXPECT_THROW(superpose(src, 0, 1), InputError);
  EXPECT_THROW(scale_lengths(src, 1, 10, 5), InputError);
  BandwidthSeriesOptions b;
  b.rho = 1;
  EXPECT_THROW(generate_bandwidth(b), InputError);
  FailureOptions f;
  f.nodes = 0;
  EXPECT_THROW(generate_failures(f), InputError);
}

}  // namespace
}  // namespace meridian::trace
