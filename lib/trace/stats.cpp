// Validation statistics of request streams: KS (exact lattice count and asymptotic), Anderson-Darling
// k-sample, Wasserstein-1, percentiles, windowed count statistics, and the trace comparison table.
// Every function takes 1-D samples in any order and sorts a private copy where it needs one.
#include "trace/stats.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <numbers>

#include "kernels/common/error.hpp"

namespace meridian::trace {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_sample(std::span<const double> x, const char* what, const char* fn) {
  MERIDIAN_INPUT_CHECK(!x.empty(), fn, ": ", what, " is empty; it needs at least one value");
  for (double v : x)
    MERIDIAN_INPUT_CHECK(!std::isnan(v), fn, ": ", what, " contains NaN");
}

std::vector<double> sorted_copy(std::span<const double> x) {
  std::vector<double> s(x.begin(), x.end());
  std::sort(s.begin(), s.end());
  return s;
}

// max over the merged sorted samples of |i m - j n|, i and j the counts of a and b at or below the
// current value, i.e. D * n * m as an exact integer. a and b are sorted and non-empty.
std::uint64_t ks_numerator(const std::vector<double>& a, const std::vector<double>& b) {
  const std::uint64_t n = a.size(), m = b.size();
  std::uint64_t i = 0, j = 0, best = 0;
  while (i < n && j < m) {
    const double v = std::min(a[i], b[j]);
    while (i < n && a[i] == v) ++i;
    while (j < m && b[j] == v) ++j;
    const std::uint64_t x = i * m, y = j * n;
    best = std::max(best, x > y ? x - y : y - x);
  }
  // Once one sample is used up its ECDF is 1 and the other's only climbs towards 1, so the gap
  // shrinks from here: the maximum has been seen.
  return best;
}

void check_product_fits(std::size_t n, std::size_t m) {
  MERIDIAN_INPUT_CHECK(m == 0 || n <= (std::uint64_t{1} << 62) / m, "KS: sample sizes ", n, " x ", m,
                       " overflow the 64-bit lattice arithmetic");
}

// Fraction-of-paths DP for P(D >= K / (n m)); K >= 1 in integer units of 1/(n m).
double ks_exact_tail(std::uint64_t n, std::uint64_t m, std::uint64_t k_threshold) {
  auto outside = [&](std::uint64_t i, std::uint64_t j) {
    const std::uint64_t x = i * m, y = j * n;
    return (x > y ? x - y : y - x) >= k_threshold;
  };
  // row[j] = fraction of the lattice paths from (0,0) to (i,j) that have touched the region
  // |i/n - j/m| >= d. A path to (i,j) came from (i-1,j) with weight i/(i+j) and from (i,j-1) with
  // weight j/(i+j), since C(i+j-1, i-1) / C(i+j, i) = i/(i+j).
  std::vector<double> row(m + 1);
  row[0] = outside(0, 0) ? 1.0 : 0.0;
  for (std::uint64_t j = 1; j <= m; ++j) row[j] = outside(0, j) ? 1.0 : row[j - 1];
  for (std::uint64_t i = 1; i <= n; ++i) {
    row[0] = outside(i, 0) ? 1.0 : row[0];
    for (std::uint64_t j = 1; j <= m; ++j) {
      if (outside(i, j)) {
        row[j] = 1.0;
      } else {
        const double di = static_cast<double>(i), dj = static_cast<double>(j);
        row[j] = (di * row[j] + dj * row[j - 1]) / (di + dj);
      }
    }
  }
  return std::min(1.0, row[m]);
}

}  // namespace

// ---- Kolmogorov-Smirnov -------------------------------------------------------------------------

double ks_statistic(std::span<const double> a, std::span<const double> b) {
  check_sample(a, "sample a", "ks_statistic");
  check_sample(b, "sample b", "ks_statistic");
  check_product_fits(a.size(), b.size());
  const std::uint64_t num = ks_numerator(sorted_copy(a), sorted_copy(b));
  return static_cast<double>(num) / (static_cast<double>(a.size()) * static_cast<double>(b.size()));
}

double kolmogorov_q(double lambda) {
  if (std::isnan(lambda)) return kNaN;
  if (lambda <= 0.0) return 1.0;
  if (lambda < 1.0) {
    // 1 - sqrt(2 pi)/lambda * sum_{k>=1} exp(-(2k-1)^2 pi^2 / (8 lambda^2)) (Jacobi theta form).
    const double c = std::numbers::pi * std::numbers::pi / (8.0 * lambda * lambda);
    double sum = 0.0;
    for (int k = 1; k <= 50; ++k) {
      const double odd = 2.0 * k - 1.0;
      const double term = std::exp(-odd * odd * c);
      sum += term;
      if (term < 1e-18 * sum) break;
    }
    return std::clamp(1.0 - std::sqrt(2.0 * std::numbers::pi) / lambda * sum, 0.0, 1.0);
  }
  double sum = 0.0;
  for (int k = 1; k <= 100; ++k) {
    const double term = std::exp(-2.0 * k * k * lambda * lambda);
    sum += (k % 2 == 1) ? term : -term;
    if (term < 1e-18 * std::abs(sum)) break;
  }
  return std::clamp(2.0 * sum, 0.0, 1.0);
}

double ks_p_asymptotic(std::size_t n, std::size_t m, double d) {
  MERIDIAN_INPUT_CHECK(n > 0 && m > 0, "ks_p_asymptotic: sample sizes must be positive (got ", n, " and ", m, ")");
  if (std::isnan(d)) return kNaN;
  const double dn = static_cast<double>(n), dm = static_cast<double>(m);
  const double root = std::sqrt(dn * dm / (dn + dm));
  return kolmogorov_q((root + 0.12 + 0.11 / root) * d);
}

double ks_p_exact(std::size_t n, std::size_t m, double d) {
  MERIDIAN_INPUT_CHECK(n > 0 && m > 0, "ks_p_exact: sample sizes must be positive (got ", n, " and ", m, ")");
  MERIDIAN_INPUT_CHECK(!std::isnan(d), "ks_p_exact: D is NaN");
  check_product_fits(n, m);
  if (d <= 0.0) return 1.0;
  if (d > 1.0) return 0.0;
  // The lattice distances |i m - j n| are integers; round d n m up to the next one, with a relative
  // allowance so that a D computed as K / (n m) in floating point maps back to K.
  const double scaled = d * static_cast<double>(n) * static_cast<double>(m);
  const auto k_threshold = static_cast<std::uint64_t>(std::ceil(scaled * (1.0 - 1e-9)));
  return ks_exact_tail(n, m, std::max<std::uint64_t>(k_threshold, 1));
}

KsResult ks_two_sample(std::span<const double> a, std::span<const double> b, std::size_t exact_max_product) {
  check_sample(a, "sample a", "ks_two_sample");
  check_sample(b, "sample b", "ks_two_sample");
  check_product_fits(a.size(), b.size());
  const std::uint64_t n = a.size(), m = b.size();
  const std::uint64_t num = ks_numerator(sorted_copy(a), sorted_copy(b));
  KsResult r;
  r.statistic = static_cast<double>(num) / (static_cast<double>(n) * static_cast<double>(m));
  r.exact = n * m <= exact_max_product;
  if (num == 0) {
    r.p_value = 1.0;
  } else if (r.exact) {
    r.p_value = ks_exact_tail(n, m, num);
  } else {
    r.p_value = ks_p_asymptotic(n, m, r.statistic);
  }
  return r;
}

// ---- Anderson-Darling ---------------------------------------------------------------------------

std::vector<double> ad_critical_values(int m) {
  MERIDIAN_INPUT_CHECK(m >= 1, "ad_critical_values: m = k - 1 must be >= 1 (got ", m, ")");
  // Scholz & Stephens (1987): t_m(alpha) = b0 + b1 / sqrt(m) + b2 / m.
  static constexpr double b0[5] = {0.675, 1.281, 1.645, 1.960, 2.326};
  static constexpr double b1[5] = {-0.245, 0.250, 0.678, 1.149, 1.822};
  static constexpr double b2[5] = {-0.105, -0.305, -0.362, -0.391, -0.396};
  const double dm = static_cast<double>(m);
  std::vector<double> t(5);
  for (int s = 0; s < 5; ++s) t[s] = b0[s] + b1[s] / std::sqrt(dm) + b2[s] / dm;
  return t;
}

double ad_p_value(double standardized, int m) {
  const std::vector<double> t = ad_critical_values(m);
  if (std::isnan(standardized)) return kNaN;
  // Least-squares quadratic y = c0 + c1 u + c2 u^2 with u = t - mean(t) (centred for conditioning)
  // and y = ln(alpha / (1 - alpha)), through the five table points; normal equations by Cramer.
  double tbar = 0.0;
  for (double v : t) tbar += v / 5.0;
  double s[5] = {0, 0, 0, 0, 0};  // sums of u^0..u^4
  double r[3] = {0, 0, 0};        // sums of y u^0..u^2
  for (int p = 0; p < 5; ++p) {
    const double u = t[p] - tbar;
    const double alpha = kAdSignificanceLevels[p];
    const double y = std::log(alpha / (1.0 - alpha));
    double pw = 1.0;
    for (int e = 0; e < 5; ++e) {
      s[e] += pw;
      if (e < 3) r[e] += y * pw;
      pw *= u;
    }
  }
  const double m00 = s[0], m01 = s[1], m02 = s[2], m11 = s[2], m12 = s[3], m22 = s[4];
  auto det3 = [](double a, double b, double c, double d, double e, double f, double g, double h, double i) {
    return a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  };
  const double det = det3(m00, m01, m02, m01, m11, m12, m02, m12, m22);
  const double c0 = det3(r[0], m01, m02, r[1], m11, m12, r[2], m12, m22) / det;
  const double c1 = det3(m00, r[0], m02, m01, r[1], m12, m02, r[2], m22) / det;
  const double c2 = det3(m00, m01, r[0], m01, m11, r[1], m02, m12, r[2]) / det;
  // Inside the table's range the quadratic; outside it the tangent line at the nearer end, so the
  // p-value keeps falling as T grows (the parabola itself turns back up beyond the table).
  auto quad = [&](double x) { return c0 + c1 * x + c2 * x * x; };
  const double lo = t.front() - tbar, hi = t.back() - tbar;
  const double u = standardized - tbar;
  double y = 0.0;
  if (u < lo) {
    y = quad(lo) + (c1 + 2.0 * c2 * lo) * (u - lo);
  } else if (u > hi) {
    y = quad(hi) + (c1 + 2.0 * c2 * hi) * (u - hi);
  } else {
    y = quad(u);
  }
  return 1.0 / (1.0 + std::exp(-y));
}

AdResult anderson_darling_ksample(const std::vector<std::span<const double>>& samples, AdVariant variant) {
  const std::size_t k = samples.size();
  MERIDIAN_INPUT_CHECK(k >= 2, "anderson_darling_ksample: needs at least two samples (got ", k, ")");
  std::vector<std::vector<double>> sorted(k);
  std::vector<double> pooled;
  for (std::size_t i = 0; i < k; ++i) {
    check_sample(samples[i], "a sample", "anderson_darling_ksample");
    sorted[i] = sorted_copy(samples[i]);
    pooled.insert(pooled.end(), samples[i].begin(), samples[i].end());
  }
  std::sort(pooled.begin(), pooled.end());
  const std::size_t big_n = pooled.size();
  const double nn = static_cast<double>(big_n);

  // Distinct pooled values z*_j with multiplicities l_j.
  std::vector<double> z;
  std::vector<double> l;
  for (std::size_t p = 0; p < big_n;) {
    std::size_t q = p;
    while (q < big_n && pooled[q] == pooled[p]) ++q;
    z.push_back(pooled[p]);
    l.push_back(static_cast<double>(q - p));
    p = q;
  }
  const std::size_t distinct = z.size();

  double total = 0.0;
  for (std::size_t i = 0; i < k; ++i) {
    const std::vector<double>& s = sorted[i];
    const double ni = static_cast<double>(s.size());
    double inner = 0.0;
    double below_pooled = 0.0;  // B_{j-1}: pooled values < z*_j
    std::size_t pos = 0;        // values of sample i < z*_j
    for (std::size_t j = 0; j < distinct; ++j) {
      const std::size_t start = pos;
      while (pos < s.size() && s[pos] == z[j]) ++pos;
      const double below_i = static_cast<double>(start), equal_i = static_cast<double>(pos - start);
      const double lj = l[j];
      if (variant == AdVariant::midrank) {
        // B_aj = B_{j-1} + l_j/2, M_aij = (#i below) + f_ij/2; the denominator
        // B_aj (N - B_aj) - N l_j / 4 simplifies to below*above + (below + above) l_j / 4.
        const double above = nn - below_pooled - lj;
        const double denom = below_pooled * above + (below_pooled + above) * lj / 4.0;
        if (denom > 0.0) {
          const double diff = nn * (below_i + equal_i / 2.0) - ni * (below_pooled + lj / 2.0);
          inner += lj * diff * diff / denom;
        }
      } else if (j + 1 < distinct) {
        const double bj = below_pooled + lj;  // pooled values <= z*_j
        const double diff = nn * (below_i + equal_i) - ni * bj;
        inner += lj * diff * diff / (bj * (nn - bj));
      }
      below_pooled += lj;
    }
    total += inner / ni;
  }
  AdResult r;
  r.statistic = variant == AdVariant::midrank ? total * (nn - 1.0) / (nn * nn) : total / nn;

  // Var(A2) under H0 for finite N (Scholz & Stephens eq. 4).
  if (big_n < 4) {
    r.standardized = kNaN;
    r.p_value = kNaN;
    return r;
  }
  const double dk = static_cast<double>(k);
  double h_big = 0.0;
  for (const auto& s : sorted) h_big += 1.0 / static_cast<double>(s.size());
  double h = 0.0;  // sum_{i=1}^{N-1} 1/i
  for (std::size_t i = 1; i < big_n; ++i) h += 1.0 / static_cast<double>(i);
  // g = sum_{i=1}^{N-2} sum_{j=i+1}^{N-1} 1 / ((N - i) j) = sum_{j=2}^{N-1} (1/j) sum_{i=1}^{j-1} 1/(N-i).
  double g = 0.0, tail = 0.0;
  for (std::size_t j = 2; j < big_n; ++j) {
    tail += 1.0 / (nn - static_cast<double>(j - 1));
    g += tail / static_cast<double>(j);
  }
  const double a = (4.0 * g - 6.0) * (dk - 1.0) + (10.0 - 6.0 * g) * h_big;
  const double b = (2.0 * g - 4.0) * dk * dk + 8.0 * h * dk + (2.0 * g - 14.0 * h - 4.0) * h_big - 8.0 * h +
                   4.0 * g - 6.0;
  const double c = (6.0 * h + 2.0 * g - 2.0) * dk * dk + (4.0 * h - 4.0 * g + 6.0) * dk + (2.0 * h - 6.0) * h_big +
                   4.0 * h;
  const double d = (2.0 * h + 6.0) * dk * dk - 4.0 * h * dk;
  const double var = (((a * nn + b) * nn + c) * nn + d) / ((nn - 1.0) * (nn - 2.0) * (nn - 3.0));
  r.standardized = (r.statistic - (dk - 1.0)) / std::sqrt(var);
  r.p_value = ad_p_value(r.standardized, static_cast<int>(k) - 1);
  return r;
}

AdResult anderson_darling_2(std::span<const double> a, std::span<const double> b, AdVariant variant) {
  return anderson_darling_ksample({a, b}, variant);
}

// ---- Wasserstein-1 ------------------------------------------------------------------------------

double wasserstein1(std::span<const double> a, std::span<const double> b) {
  check_sample(a, "sample a", "wasserstein1");
  check_sample(b, "sample b", "wasserstein1");
  const std::vector<double> sa = sorted_copy(a), sb = sorted_copy(b);
  const std::size_t n = sa.size(), m = sb.size();
  const double dn = static_cast<double>(n), dm = static_cast<double>(m);
  std::size_t i = 0, j = 0;
  double v = std::min(sa[0], sb[0]);
  double w = 0.0;
  while (i < n || j < m) {
    while (i < n && sa[i] == v) ++i;
    while (j < m && sb[j] == v) ++j;
    if (i == n && j == m) break;
    // F and G are constant on [v, next): add the area of the gap between them.
    const double next = std::min(i < n ? sa[i] : sb[j], j < m ? sb[j] : sa[i]);
    w += std::abs(static_cast<double>(i) / dn - static_cast<double>(j) / dm) * (next - v);
    v = next;
  }
  return w;
}

// ---- Percentiles and moments --------------------------------------------------------------------

namespace {

// numpy's linear method on a sorted sample, including its two-sided lerp (exact at both ends).
double percentile_sorted(const std::vector<double>& s, double q) {
  MERIDIAN_INPUT_CHECK(q >= 0.0 && q <= 100.0, "percentile: q must be in [0, 100] (got ", q, ")");
  const double h = static_cast<double>(s.size() - 1) * q / 100.0;
  const auto lo = static_cast<std::size_t>(std::floor(h));
  if (lo + 1 >= s.size()) return s.back();
  const double t = h - static_cast<double>(lo);
  const double x0 = s[lo], x1 = s[lo + 1];
  return t < 0.5 ? x0 + (x1 - x0) * t : x1 - (x1 - x0) * (1.0 - t);
}

}  // namespace

double percentile(std::span<const double> x, double q) {
  check_sample(x, "the sample", "percentile");
  return percentile_sorted(sorted_copy(x), q);
}

std::vector<double> percentiles(std::span<const double> x, std::span<const double> qs) {
  check_sample(x, "the sample", "percentiles");
  const std::vector<double> s = sorted_copy(x);
  std::vector<double> out;
  out.reserve(qs.size());
  for (double q : qs) out.push_back(percentile_sorted(s, q));
  return out;
}

double relative_error(double value, double reference) {
  if (std::isnan(value) || std::isnan(reference)) return kNaN;
  if (reference == 0.0) {
    if (value == 0.0) return 0.0;
    return value > 0.0 ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
  }
  return (value - reference) / std::abs(reference);
}

double mean(std::span<const double> x) {
  MERIDIAN_INPUT_CHECK(!x.empty(), "mean: the sample is empty");
  double sum = 0.0;
  for (double v : x) sum += v;
  return sum / static_cast<double>(x.size());
}

double sample_variance(std::span<const double> x) {
  if (x.size() < 2) return kNaN;
  const double mu = mean(x);
  double ss = 0.0;
  for (double v : x) ss += (v - mu) * (v - mu);
  return ss / static_cast<double>(x.size() - 1);
}

double coefficient_of_variation(std::span<const double> x) {
  if (x.size() < 2) return kNaN;
  const double mu = mean(x);
  if (mu == 0.0) return kNaN;
  return std::sqrt(sample_variance(x)) / mu;
}

// ---- Arrival streams ----------------------------------------------------------------------------

std::vector<double> inter_arrival_s(std::span<const double> times_s) {
  MERIDIAN_INPUT_CHECK(times_s.size() >= 2, "inter_arrival_s: needs at least two arrivals (got ", times_s.size(), ")");
  std::vector<double> t(times_s.begin(), times_s.end());
  for (double v : t) MERIDIAN_INPUT_CHECK(std::isfinite(v), "inter_arrival_s: an arrival time is not finite");
  if (!std::is_sorted(t.begin(), t.end())) std::sort(t.begin(), t.end());
  std::vector<double> gaps(t.size() - 1);
  for (std::size_t i = 1; i < t.size(); ++i) gaps[i - 1] = t[i] - t[i - 1];
  return gaps;
}

std::vector<double> window_counts(std::span<const double> times_s, double window_s) {
  MERIDIAN_INPUT_CHECK(!times_s.empty(), "window_counts: the arrival stream is empty");
  MERIDIAN_INPUT_CHECK(window_s > 0.0 && std::isfinite(window_s), "window_counts: window must be > 0 s (got ",
                       window_s, ")");
  double t0 = times_s[0], t1 = times_s[0];
  for (double v : times_s) {
    MERIDIAN_INPUT_CHECK(std::isfinite(v), "window_counts: an arrival time is not finite");
    t0 = std::min(t0, v);
    t1 = std::max(t1, v);
  }
  const double windows = std::floor((t1 - t0) / window_s);
  MERIDIAN_INPUT_CHECK(windows <= 1e8, "window_counts: a ", window_s, " s window over a ", t1 - t0,
                       " s stream gives more than 1e8 windows; use a larger window");
  const auto count = static_cast<std::size_t>(windows);
  std::vector<double> counts(count, 0.0);
  for (double v : times_s) {
    const double w = std::floor((v - t0) / window_s);
    if (w < windows) counts[static_cast<std::size_t>(w)] += 1.0;
  }
  return counts;
}

double index_of_dispersion(std::span<const double> counts) {
  if (counts.size() < 2) return kNaN;
  const double mu = mean(counts);
  if (mu == 0.0) return kNaN;
  return sample_variance(counts) / mu;
}

std::vector<double> autocorrelation(std::span<const double> x, int max_lag) {
  MERIDIAN_INPUT_CHECK(max_lag >= 1, "autocorrelation: max_lag must be >= 1 (got ", max_lag, ")");
  std::vector<double> r(static_cast<std::size_t>(max_lag), kNaN);
  if (x.empty()) return r;
  const double mu = mean(x);
  double denom = 0.0;
  for (double v : x) denom += (v - mu) * (v - mu);
  if (denom == 0.0) return r;
  for (std::size_t lag = 1; lag <= r.size() && lag < x.size(); ++lag) {
    double num = 0.0;
    for (std::size_t t = 0; t + lag < x.size(); ++t) num += (x[t] - mu) * (x[t + lag] - mu);
    r[lag - 1] = num / denom;
  }
  return r;
}

// ---- Comparing two traces -----------------------------------------------------------------------

namespace {

std::vector<double> as_double(const std::vector<std::int32_t>& v) { return {v.begin(), v.end()}; }

QuantityComparison compare_quantity(const std::string& name, const std::vector<double>& a,
                                    const std::vector<double>& b, const CompareOptions& options) {
  QuantityComparison q;
  q.name = name;
  q.n_a = a.size();
  q.n_b = b.size();
  q.mean_a = mean(a);
  q.mean_b = mean(b);
  q.mean_rel_error = relative_error(q.mean_b, q.mean_a);
  static constexpr double kQs[3] = {50.0, 90.0, 99.0};
  const std::vector<double> pa = percentiles(a, kQs), pb = percentiles(b, kQs);
  q.p50_a = pa[0], q.p90_a = pa[1], q.p99_a = pa[2];
  q.p50_b = pb[0], q.p90_b = pb[1], q.p99_b = pb[2];
  q.p50_rel_error = relative_error(q.p50_b, q.p50_a);
  q.p90_rel_error = relative_error(q.p90_b, q.p90_a);
  q.p99_rel_error = relative_error(q.p99_b, q.p99_a);
  q.ks = ks_two_sample(a, b, options.ks_exact_max_product);
  q.ad = anderson_darling_2(a, b);
  q.w1 = wasserstein1(a, b);
  return q;
}

double span_s(const std::vector<double>& t) {
  const auto [lo, hi] = std::minmax_element(t.begin(), t.end());
  return *hi - *lo;
}

nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

nlohmann::json nums(const std::vector<double>& v) {
  nlohmann::json out = nlohmann::json::array();
  for (double x : v) out.push_back(num(x));
  return out;
}

}  // namespace

Comparison compare_traces(const RequestTrace& a, const RequestTrace& b, const CompareOptions& options) {
  MERIDIAN_INPUT_CHECK(a.size() >= 2, "compare_traces: trace A has ", a.size(), " requests; at least two are needed");
  MERIDIAN_INPUT_CHECK(b.size() >= 2, "compare_traces: trace B has ", b.size(), " requests; at least two are needed");
  MERIDIAN_INPUT_CHECK(!options.window_s.empty(), "compare_traces: no window size given");
  MERIDIAN_INPUT_CHECK(options.max_lag >= 1, "compare_traces: max_lag must be >= 1 (got ", options.max_lag, ")");
  for (double w : options.window_s)
    MERIDIAN_INPUT_CHECK(w > 0.0 && std::isfinite(w), "compare_traces: window sizes must be > 0 s (got ", w, ")");
  MERIDIAN_INPUT_CHECK(a.request_tokens.size() == a.size() && a.response_tokens.size() == a.size(),
                       "compare_traces: trace A's token columns do not match its ", a.size(), " times");
  MERIDIAN_INPUT_CHECK(b.request_tokens.size() == b.size() && b.response_tokens.size() == b.size(),
                       "compare_traces: trace B's token columns do not match its ", b.size(), " times");

  Comparison c;
  c.requests_a = a.size();
  c.requests_b = b.size();
  c.duration_a_s = span_s(a.time_s);
  c.duration_b_s = span_s(b.time_s);
  c.rate_a_per_s = c.duration_a_s > 0.0 ? static_cast<double>(a.size() - 1) / c.duration_a_s : kNaN;
  c.rate_b_per_s = c.duration_b_s > 0.0 ? static_cast<double>(b.size() - 1) / c.duration_b_s : kNaN;

  const std::vector<double> gaps_a = inter_arrival_s(a.time_s), gaps_b = inter_arrival_s(b.time_s);
  c.interarrival_cv_a = coefficient_of_variation(gaps_a);
  c.interarrival_cv_b = coefficient_of_variation(gaps_b);
  c.quantities.push_back(compare_quantity("inter_arrival_s", gaps_a, gaps_b, options));
  c.quantities.push_back(
      compare_quantity("request_tokens", as_double(a.request_tokens), as_double(b.request_tokens), options));
  c.quantities.push_back(
      compare_quantity("response_tokens", as_double(a.response_tokens), as_double(b.response_tokens), options));

  for (double w : options.window_s) {
    WindowComparison wc;
    wc.window_s = w;
    const std::vector<double> ca = window_counts(a.time_s, w), cb = window_counts(b.time_s, w);
    wc.windows_a = ca.size();
    wc.windows_b = cb.size();
    wc.mean_count_a = ca.empty() ? kNaN : mean(ca);
    wc.mean_count_b = cb.empty() ? kNaN : mean(cb);
    wc.cv_a = coefficient_of_variation(ca);
    wc.cv_b = coefficient_of_variation(cb);
    wc.dispersion_a = index_of_dispersion(ca);
    wc.dispersion_b = index_of_dispersion(cb);
    wc.acf_a = autocorrelation(ca, options.max_lag);
    wc.acf_b = autocorrelation(cb, options.max_lag);
    c.windows.push_back(std::move(wc));
  }
  return c;
}

nlohmann::json Comparison::to_json() const {
  nlohmann::json j;
  j["requests"] = {{"a", requests_a}, {"b", requests_b}};
  j["duration_s"] = {{"a", num(duration_a_s)}, {"b", num(duration_b_s)}};
  j["rate_per_s"] = {{"a", num(rate_a_per_s)}, {"b", num(rate_b_per_s)}};
  j["interarrival_cv"] = {{"a", num(interarrival_cv_a)}, {"b", num(interarrival_cv_b)}};
  nlohmann::json qs = nlohmann::json::array();
  for (const QuantityComparison& q : quantities) {
    qs.push_back({
        {"name", q.name},
        {"n", {{"a", q.n_a}, {"b", q.n_b}}},
        {"mean", {{"a", num(q.mean_a)}, {"b", num(q.mean_b)}, {"rel_error", num(q.mean_rel_error)}}},
        {"p50", {{"a", num(q.p50_a)}, {"b", num(q.p50_b)}, {"rel_error", num(q.p50_rel_error)}}},
        {"p90", {{"a", num(q.p90_a)}, {"b", num(q.p90_b)}, {"rel_error", num(q.p90_rel_error)}}},
        {"p99", {{"a", num(q.p99_a)}, {"b", num(q.p99_b)}, {"rel_error", num(q.p99_rel_error)}}},
        {"ks", {{"d", num(q.ks.statistic)}, {"p", num(q.ks.p_value)}, {"exact", q.ks.exact}}},
        {"ad", {{"a2", num(q.ad.statistic)}, {"t", num(q.ad.standardized)}, {"p", num(q.ad.p_value)}}},
        {"w1", num(q.w1)},
    });
  }
  j["quantities"] = std::move(qs);
  nlohmann::json ws = nlohmann::json::array();
  for (const WindowComparison& w : windows) {
    ws.push_back({
        {"window_s", w.window_s},
        {"windows", {{"a", w.windows_a}, {"b", w.windows_b}}},
        {"mean_count", {{"a", num(w.mean_count_a)}, {"b", num(w.mean_count_b)}}},
        {"cv", {{"a", num(w.cv_a)}, {"b", num(w.cv_b)}}},
        {"dispersion", {{"a", num(w.dispersion_a)}, {"b", num(w.dispersion_b)}}},
        {"acf", {{"a", nums(w.acf_a)}, {"b", nums(w.acf_b)}}},
    });
  }
  j["windows"] = std::move(ws);
  return j;
}

// ---- The text table -----------------------------------------------------------------------------

namespace {

std::string fmt_value(double v) {
  if (std::isnan(v)) return "n/a";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.5g", v);
  return buf;
}

std::string fmt_rel(double e) {
  if (std::isnan(e)) return "n/a";
  if (std::isinf(e)) return e > 0 ? "+inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%+.1f%%", 100.0 * e);
  return buf;
}

std::string fmt_diff(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%+.3f abs", b - a);
  return buf;
}

std::string fmt_window(double w) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%gs", w);
  return buf;
}

}  // namespace

std::string format_comparison(const Comparison& c, const std::string& name_a, const std::string& name_b) {
  struct Row {
    std::string label, a, b, err;
  };
  std::vector<Row> rows;
  rows.push_back({"quantity", name_a, name_b, "error"});
  auto add = [&](std::string label, double a, double b) {
    rows.push_back({std::move(label), fmt_value(a), fmt_value(b), fmt_rel(relative_error(b, a))});
  };
  auto add_test = [&](std::string label, std::string err) { rows.push_back({std::move(label), "", "", std::move(err)}); };

  add("requests", static_cast<double>(c.requests_a), static_cast<double>(c.requests_b));
  add("duration_s", c.duration_a_s, c.duration_b_s);
  add("rate_per_s", c.rate_a_per_s, c.rate_b_per_s);
  add("inter_arrival CV", c.interarrival_cv_a, c.interarrival_cv_b);
  for (const QuantityComparison& q : c.quantities) {
    add(cat(q.name, " mean"), q.mean_a, q.mean_b);
    add(cat(q.name, " p50"), q.p50_a, q.p50_b);
    add(cat(q.name, " p90"), q.p90_a, q.p90_b);
    add(cat(q.name, " p99"), q.p99_a, q.p99_b);
    add_test(cat(q.name, " KS"), cat("D=", fmt_value(q.ks.statistic), " p=", fmt_value(q.ks.p_value),
                                     q.ks.exact ? " (exact)" : " (asymp.)"));
    // The AD p-value is only interpolated inside the table's 0.01..0.25; say so rather than print
    // an extrapolated 1e-50.
    const double ad_p = q.ad.p_value;
    const std::string ad_p_text = ad_p < 0.01 ? "p<0.01" : ad_p > 0.25 ? "p>0.25" : cat("p~", fmt_value(ad_p));
    add_test(cat(q.name, " AD"),
             cat("A2=", fmt_value(q.ad.statistic), " T=", fmt_value(q.ad.standardized), " ", ad_p_text));
    add_test(cat(q.name, " W1"), fmt_value(q.w1));
  }
  for (const WindowComparison& w : c.windows) {
    const std::string at = cat(" @", fmt_window(w.window_s));
    add(cat("windows", at), static_cast<double>(w.windows_a), static_cast<double>(w.windows_b));
    add(cat("count mean", at), w.mean_count_a, w.mean_count_b);
    add(cat("count CV", at), w.cv_a, w.cv_b);
    add(cat("dispersion", at), w.dispersion_a, w.dispersion_b);
    for (std::size_t lag = 0; lag < w.acf_a.size() && lag < w.acf_b.size(); ++lag) {
      rows.push_back({cat("acf lag ", lag + 1, at), fmt_value(w.acf_a[lag]), fmt_value(w.acf_b[lag]),
                      fmt_diff(w.acf_a[lag], w.acf_b[lag])});
    }
  }

  std::size_t width[3] = {0, 0, 0};
  for (const Row& r : rows) {
    width[0] = std::max(width[0], r.label.size());
    width[1] = std::max(width[1], r.a.size());
    width[2] = std::max(width[2], r.b.size());
  }
  std::string out;
  auto pad_right = [](const std::string& s, std::size_t w) { return s + std::string(w - s.size(), ' '); };
  auto pad_left = [](const std::string& s, std::size_t w) { return std::string(w - s.size(), ' ') + s; };
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    out += cat(pad_right(r.label, width[0]), "  ", pad_left(r.a, width[1]), "  ", pad_left(r.b, width[2]), "  ",
               r.err, "\n");
    if (i == 0) out += cat(std::string(width[0] + width[1] + width[2] + 6 + 5, '-'), "\n");
  }
  return out;
}

}  // namespace meridian::trace
