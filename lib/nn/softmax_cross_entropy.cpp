// Softmax cross-entropy on the CPU: one Kokkos loop over rows computes each row's loss term, its
// gradient row and whether its argmax is right; the rows' terms are then summed in order (deterministic).
#include "nn/softmax_cross_entropy.hpp"

#include <cmath>
#include <vector>

#include "nn/checks.hpp"
#include "nn/host_parallel.hpp"

namespace meridian::nn {
namespace {

// Labels as i64 on the host, checked to lie in [0, classes).
std::vector<std::int64_t> labels_as_i64(const Tensor& labels_in, std::int64_t batch, std::int64_t classes) {
  MERIDIAN_CHECK(
      labels_in.defined() && labels_in.device().is_cpu() && labels_in.numel() == batch &&
          (labels_in.dtype() == DType::i32 || labels_in.dtype() == DType::i64 || labels_in.dtype() == DType::u8),
      "softmax_cross_entropy: labels must be a host i32, i64 or u8 tensor of B = ", batch, " elements, got ",
      labels_in.defined() ? cat(dtype_name(labels_in.dtype()), " ", shape_string(labels_in.shape()), " on ",
                                device_name(labels_in.device()))
                          : std::string("an undefined tensor"));
  const Tensor labels = labels_in.contiguous();
  std::vector<std::int64_t> out(static_cast<std::size_t>(batch));
  for (std::int64_t i = 0; i < batch; ++i) {
    std::int64_t v = 0;
    if (labels.dtype() == DType::i32)
      v = labels.data<std::int32_t>()[i];
    else if (labels.dtype() == DType::i64)
      v = labels.data<std::int64_t>()[i];
    else
      v = labels.data<std::uint8_t>()[i];
    MERIDIAN_CHECK(v >= 0 && v < classes, "softmax_cross_entropy: label ", v, " of row ", i, " is outside [0, ",
                   classes, ")");
    out[static_cast<std::size_t>(i)] = v;
  }
  return out;
}

}  // namespace

CrossEntropyResult softmax_cross_entropy(const Tensor& logits_in, const Tensor& labels_in) {
  const Tensor logits = require_host_f32(logits_in, "softmax_cross_entropy", "logits", {-1, -1}, "(B, classes)");
  const std::int64_t batch = logits.size(0), classes = logits.size(1);
  MERIDIAN_CHECK(batch > 0 && classes > 0, "softmax_cross_entropy: logits ", shape_string(logits.shape()),
                 " must have at least one row and one class");
  const std::vector<std::int64_t> labels = labels_as_i64(labels_in, batch, classes);

  CrossEntropyResult result;
  result.dlogits = Tensor::empty({batch, classes});
  std::vector<double> row_loss(static_cast<std::size_t>(batch));
  std::vector<std::uint8_t> row_correct(static_cast<std::size_t>(batch));
  const float* zp = logits.data<float>();
  float* dp = result.dlogits.data<float>();
  const std::int64_t* lp = labels.data();
  double* lossp = row_loss.data();
  std::uint8_t* okp = row_correct.data();
  const double inv_batch = 1.0 / static_cast<double>(batch);
  host_for("meridian::nn::softmax_cross_entropy", batch, 3 * classes, [=](const std::int64_t i) {
    const float* z = zp + i * classes;
    std::int64_t arg = 0;
    for (std::int64_t c = 1; c < classes; ++c)
      if (z[c] > z[arg]) arg = c;
    const double zmax = z[arg];
    double denom = 0.0;
    for (std::int64_t c = 0; c < classes; ++c) denom += std::exp(static_cast<double>(z[c]) - zmax);
    const double log_denom = std::log(denom);
    const std::int64_t label = lp[i];
    // −log softmax(z)[label] = log Σ exp(z − zmax) − (z[label] − zmax)
    lossp[i] = log_denom - (static_cast<double>(z[label]) - zmax);
    okp[i] = arg == label ? 1 : 0;
    float* d = dp + i * classes;
    for (std::int64_t c = 0; c < classes; ++c) {
      const double p = std::exp(static_cast<double>(z[c]) - zmax - log_denom);
      d[c] = static_cast<float>((p - (c == label ? 1.0 : 0.0)) * inv_batch);
    }
  });
  double total = 0.0;
  for (std::int64_t i = 0; i < batch; ++i) {
    total += row_loss[static_cast<std::size_t>(i)];
    result.correct += row_correct[static_cast<std::size_t>(i)];
  }
  result.loss = total * inv_batch;
  return result;
}

}  // namespace meridian::nn
