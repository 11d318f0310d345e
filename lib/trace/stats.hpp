// Validation statistics for comparing a generated request stream with a real one: two-sample
// goodness-of-fit tests (Kolmogorov-Smirnov, Anderson-Darling k-sample), the Wasserstein-1 distance,
// percentiles, and burstiness measures of an arrival stream (CV, index of dispersion, autocorrelation
// of windowed counts). Samples are plain 1-D spans of doubles in any order; times are in seconds.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trace/request_trace.hpp"

namespace meridian::trace {

// ---- Kolmogorov-Smirnov, two samples ------------------------------------------------------------

// D = sup_x |F_a(x) - F_b(x)| over the empirical CDFs, evaluated exactly: the merged sorted values
// are walked once and equal values are stepped past in both samples together before comparing, so
// ties inside or across the samples are handled as the ECDFs define them. InputError when a sample
// is empty or holds a NaN.
double ks_statistic(std::span<const double> a, std::span<const double> b);

// Kolmogorov's limiting survival function Q_KS(lambda) = 2 sum_{k>=1} (-1)^(k-1) exp(-2 k^2 lambda^2)
// (= P(sqrt(n) D_n > lambda) as n -> infinity); Q_KS(lambda) = 1 for lambda <= 0. For small lambda
// the equivalent theta-function form 1 - sqrt(2 pi)/lambda sum_k exp(-(2k-1)^2 pi^2 / (8 lambda^2))
// is summed instead, so both branches converge in a handful of terms.
double kolmogorov_q(double lambda);

// Asymptotic p-value P(D >= d) with Stephens' small-sample correction:
// lambda = (sqrt(ne) + 0.12 + 0.11/sqrt(ne)) d, ne = n m / (n + m), p = Q_KS(lambda). Against the
// exact tail for n, m in 50..500 it is within about 0.01 where p < 0.1 and within about 0.03
// everywhere (the worst case is n = m, whose lattice of attainable D is coarsest).
double ks_p_asymptotic(std::size_t n, std::size_t m, double d);

// Exact p-value P(D >= d) under H0 for continuous data (every arrangement of the n + m pooled ranks
// equally likely), by the lattice-path count of Hodges / Kim & Jennrich: a path from (0,0) to (n,m)
// steps right for an element of sample a and up for one of b; D >= d exactly when the path touches a
// point with |i/n - j/m| >= d. The dynamic programme carries, per lattice point, the FRACTION of paths
// to it that have already touched that region (all positive terms, so tiny p-values keep full
// relative precision and nothing overflows). Cost O(n m) time, O(m) memory. With ties in the data the
// observed D is at most that of any tie-breaking, so this p-value is conservative.
double ks_p_exact(std::size_t n, std::size_t m, double d);

struct KsResult {
  double statistic = 0.0;  // D in [0, 1]
  double p_value = 1.0;    // P(D >= statistic) under H0
  bool exact = false;      // true: ks_p_exact; false: ks_p_asymptotic
};

// D and its p-value: exact when n * m <= exact_max_product (the default 10000 keeps the path count
// below 10^4 lattice points, well under a millisecond), asymptotic with Stephens' correction
// otherwise. D = 0 gives p = 1 on either branch.
KsResult ks_two_sample(std::span<const double> a, std::span<const double> b,
                       std::size_t exact_max_product = 10000);

// ---- Anderson-Darling k-sample (Scholz & Stephens 1987) -----------------------------------------

enum class AdVariant {
  // A2_akN: the mid-rank version for data with ties (their eq. 7), recommended for discrete data
  // such as token counts; equals A2_kN in the limit of no ties. The default.
  midrank,
  // A2_kN: the right-continuous ECDF version (their eq. 3, extended to ties by weighting each
  // distinct pooled value with its multiplicity).
  right_continuous,
};

struct AdResult {
  double statistic = 0.0;     // A2 (mean k - 1 under H0)
  double standardized = 0.0;  // T = (A2 - (k - 1)) / sigma_N; NaN when N < 4
  double p_value = 1.0;       // approximate, from the Scholz-Stephens table (see ad_p_value)
};

// The k-sample statistic for k >= 2 non-empty samples (InputError otherwise, or for a NaN), its
// standardized form with the exact finite-N variance of Scholz & Stephens (their eq. 4), and the
// approximate p-value. All samples equal to one single value give A2 = 0.
AdResult anderson_darling_ksample(const std::vector<std::span<const double>>& samples,
                                  AdVariant variant = AdVariant::midrank);
AdResult anderson_darling_2(std::span<const double> a, std::span<const double> b,
                            AdVariant variant = AdVariant::midrank);

// Upper-tail critical values of the standardized statistic T for m = k - 1 degrees of freedom,
// t_m(alpha) = b0 + b1/sqrt(m) + b2/m (Scholz & Stephens, Table 1 fit), at
// alpha = 0.25, 0.10, 0.05, 0.025, 0.01 (in that order). For two samples (m = 1) these are
// 0.325, 1.226, 1.961, 2.718, 3.752: reject equality at level alpha when T > t_1(alpha).
std::vector<double> ad_critical_values(int m);
inline constexpr double kAdSignificanceLevels[5] = {0.25, 0.10, 0.05, 0.025, 0.01};

// Approximate p-value of T with m = k - 1: the log-odds ln(alpha / (1 - alpha)) is fitted as a
// quadratic in t_m(alpha) through the five table points (least squares) and evaluated at T, as
// Scholz & Stephens suggest. Reliable inside [t_m(0.25), t_m(0.01)], i.e. 0.01 <= p <= 0.25;
// outside it the log-odds follow the quadratic's tangent at the nearer end (the parabola would turn
// back), so p stays in (0, 1) and decreasing in T, but is only indicative: read p < 0.01 as "below
// 0.01" and p > 0.25 as "above 0.25". NaN T -> NaN.
double ad_p_value(double standardized, int m);

// ---- Wasserstein-1 ------------------------------------------------------------------------------

// W1 = integral |F_a(x) - F_b(x)| dx between the two empirical distributions (in the samples' unit),
// summed exactly over the gaps between consecutive distinct pooled values. InputError when empty.
double wasserstein1(std::span<const double> a, std::span<const double> b);

// ---- Percentiles and moments --------------------------------------------------------------------

// The q-th percentile (q in [0, 100]) with linear interpolation between order statistics, as numpy's
// default (method="linear"): position h = (n - 1) q / 100, x[floor h] + frac(h) (x[floor h + 1] -
// x[floor h]). The sample need not be sorted. InputError for an empty sample or q outside [0, 100].
double percentile(std::span<const double> x, double q);
// Several percentiles with one sort; same rules.
std::vector<double> percentiles(std::span<const double> x, std::span<const double> qs);

// (value - reference) / |reference|: signed, so +0.10 means value is 10% above the reference.
// 0 when both are 0, +-infinity when only the reference is 0, NaN when either is NaN.
double relative_error(double value, double reference);

double mean(std::span<const double> x);              // InputError when empty
// Sample variance with divisor n - 1 (unbiased); NaN for fewer than two values.
double sample_variance(std::span<const double> x);
// Coefficient of variation: sample standard deviation / mean; NaN when the mean is 0 or n < 2.
double coefficient_of_variation(std::span<const double> x);

// ---- Arrival streams ----------------------------------------------------------------------------

// Gaps between consecutive arrivals (times sorted first if they are not); n - 1 values, InputError
// for fewer than two arrivals.
std::vector<double> inter_arrival_s(std::span<const double> times_s);

// Arrivals per window of `window_s` seconds: window k counts times in
// [t0 + k w, t0 + (k + 1) w), t0 the first arrival, for the K = floor((t_last - t0) / w) complete
// windows; the trailing partial window is dropped (it would bias the counts low). Empty when the
// stream spans less than one window. InputError for w <= 0 or an empty stream.
std::vector<double> window_counts(std::span<const double> times_s, double window_s);

// Index of dispersion of counts, sample variance / mean (1 for a Poisson process at any window
// size, > 1 for bursty streams, 0 for a perfectly periodic one at a window that divides the
// period); NaN when there are fewer than two windows or the mean is 0.
double index_of_dispersion(std::span<const double> counts);

// Sample autocorrelation r_k = sum_{t < K-k} (x_t - xbar)(x_{t+k} - xbar) / sum_t (x_t - xbar)^2 for
// k = 1..max_lag (element k - 1), the usual biased estimator (as statsmodels' acf). NaN for a lag >=
// K or a constant series. InputError for max_lag < 1.
std::vector<double> autocorrelation(std::span<const double> x, int max_lag);

// ---- Comparing two traces -----------------------------------------------------------------------

struct CompareOptions {
  std::vector<double> window_s = {1.0, 10.0, 60.0};  // window sizes for count statistics
  int max_lag = 5;                                    // autocorrelation lags 1..max_lag
  std::size_t ks_exact_max_product = 10000;           // n*m up to which KS uses the exact p-value
};

// One distributional quantity (inter-arrival times, request tokens, response tokens) in both traces.
// Relative errors are (B - A) / |A|: A is the reference (the real trace), B the candidate.
struct QuantityComparison {
  std::string name;  // "inter_arrival_s", "request_tokens", "response_tokens"
  std::size_t n_a = 0, n_b = 0;
  double mean_a = 0.0, mean_b = 0.0, mean_rel_error = 0.0;
  double p50_a = 0.0, p50_b = 0.0, p50_rel_error = 0.0;
  double p90_a = 0.0, p90_b = 0.0, p90_rel_error = 0.0;
  double p99_a = 0.0, p99_b = 0.0, p99_rel_error = 0.0;
  KsResult ks;
  AdResult ad;
  double w1 = 0.0;  // in the quantity's unit
};

// Count statistics at one window size. `cv` is std/mean of the per-window counts (the CV of the
// inter-arrival times is a trace-level number in Comparison).
struct WindowComparison {
  double window_s = 0.0;
  std::size_t windows_a = 0, windows_b = 0;
  double mean_count_a = 0.0, mean_count_b = 0.0;
  double cv_a = 0.0, cv_b = 0.0;
  double dispersion_a = 0.0, dispersion_b = 0.0;
  std::vector<double> acf_a, acf_b;  // lags 1..max_lag
};

struct Comparison {
  std::size_t requests_a = 0, requests_b = 0;
  double duration_a_s = 0.0, duration_b_s = 0.0;  // last arrival - first arrival
  double rate_a_per_s = 0.0, rate_b_per_s = 0.0;  // (requests - 1) / duration; NaN for zero duration
  double interarrival_cv_a = 0.0, interarrival_cv_b = 0.0;
  std::vector<QuantityComparison> quantities;
  std::vector<WindowComparison> windows;

  // Every field; NaN and infinities are written as null (JSON has no such numbers).
  nlohmann::json to_json() const;
};

// All of the above for a reference trace `a` and a candidate `b`. InputError when either trace has
// fewer than two requests or the options are invalid (no window size, a window <= 0, max_lag < 1).
Comparison compare_traces(const RequestTrace& a, const RequestTrace& b, const CompareOptions& options = {});

// An aligned text table, one statistic a line, columns `quantity | A | B | error`, as `tracegen
// validate A B` prints it; name_a / name_b head the value columns. The error column holds the
// relative error of B against A ("+12.3%") for counts, means, percentiles, CVs and dispersions; the
// difference B - A ("+0.041 abs") for autocorrelations; and, on the KS / AD / W1 lines (whose A and
// B cells are empty), the two-sample statistic itself: "D=... p=... (exact|asymp.)",
// "A2=... T=... p~..." (p<0.01 / p>0.25 outside the interpolation table), and W1.
std::string format_comparison(const Comparison& comparison, const std::string& name_a = "A",
                              const std::string& name_b = "B");

}  // namespace meridian::trace
