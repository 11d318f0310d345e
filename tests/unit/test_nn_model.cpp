// Tests of nn::Model and the models built on it: the backward hook's order and timing, parameter lists
// and flat copies, seeded initialisation, gradient accumulation over micro-batches, and that the MLP
// and the CNN overfit a tiny synthetic batch with SGD. Inputs (B, 1, 28, 28), logits (B, 10).
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "common/nn_reference.hpp"
#include "core/error.hpp"
#include "nn/linear.hpp"
#include "nn/model.hpp"
#include "nn/models.hpp"
#include "nn/relu.hpp"
#include "nn/sgd.hpp"
#include "nn/softmax_cross_entropy.hpp"

namespace {

using meridian::DType;
using meridian::Tensor;
using meridian::test::random_f32;
using meridian::test::Vec;
namespace nn = meridian::nn;

// A small CNN for 28x28 images that trains in milliseconds.
nn::CnnShape small_cnn() {
  nn::CnnShape s;
  s.channels1 = 4;
  s.channels2 = 8;
  s.hidden = 32;
  return s;
}

// A layer that logs its backward calls and, from its own backward, checks what the hook has seen.
class ProbeLayer final : public nn::Layer {
 public:
  ProbeLayer(std::string name, std::vector<std::string>& log) : nn::Layer(std::move(name)), log_(log) {
    scale_ = nn::make_parameter(this->name() + ".scale", {1});
    meridian::ops::fill(scale_.value, 2.0);
  }
  Tensor forward(const Tensor& x, bool) override {
    x_ = x;
    Tensor y = x.clone();
    meridian::ops::scale(y, 2.f);
    return y;
  }
  Tensor backward(const Tensor& dy) override {
    log_.push_back("backward " + name());
    Tensor dx = dy.clone();
    meridian::ops::scale(dx, 2.f);
    scale_.grad.set({0}, scale_.grad.item({0}) + 1.0);  // marks "gradient final"
    return dx;
  }
  std::vector<nn::Parameter*> parameters() override { return {&scale_}; }
  std::string kind() const override { return "Probe"; }
  nn::Parameter scale_;

 private:
  std::vector<std::string>& log_;
  Tensor x_;
};

Tensor labels_of(const std::vector<std::int32_t>& v) {
  Tensor t = Tensor::empty({static_cast<std::int64_t>(v.size())}, DType::i32);
  for (std::size_t i = 0; i < v.size(); ++i) t.data<std::int32_t>()[i] = v[i];
  return t;
}

std::vector<std::int32_t> random_labels(std::int64_t n, std::uint64_t stream) {
  const Vec u = random_f32({n}, stream, 0.f, 10.f).to_vector();
  std::vector<std::int32_t> out;
  for (const double v : u) out.push_back(static_cast<std::int32_t>(v));
  return out;
}

TEST(NnModel, HookRunsOncePerLayerInReverseRightAfterEachBackward) {
  std::vector<std::string> log;
  nn::Model model;
  auto& p0 = model.emplace<ProbeLayer>("p0", log);
  model.emplace<nn::ReLU>("relu");
  auto& p2 = model.emplace<ProbeLayer>("p2", log);
  auto& p3 = model.emplace<ProbeLayer>("p3", log);
  ProbeLayer* probes[] = {&p0, nullptr, &p2, &p3};
  model.set_backward_hook([&](int index, nn::Layer& layer) {
    log.push_back("hook " + std::to_string(index) + " " + layer.name());
    EXPECT_EQ(&layer, &model.layer(index));
    // This layer's gradient is set; no lower layer has run backward yet.
    for (int i = 0; i < 4; ++i)
      if (probes[i]) {
        EXPECT_EQ(probes[i]->scale_.grad.item({0}), i >= index ? 1.0 : 0.0) << "hook " << index;
      }
  });
  model.forward(Tensor::full({2, 3}, 1.0), true);
  const Tensor dx = model.backward(Tensor::full({2, 3}, 1.0));
  const std::vector<std::string> expected = {"backward p3", "hook 3 p3",   "backward p2", "hook 2 p2",
                                             "hook 1 relu", "backward p0", "hook 0 p0"};
  EXPECT_EQ(log, expected);
  EXPECT_EQ(dx.item({0, 0}), 8.0);  // 2·2·2, the ReLU passes the positive activations
  EXPECT_EQ(model.layers_with_parameters(), (std::vector<int>{0, 2, 3}));
}

TEST(NnModel, MlpHookSeesFinalGradientsBeforeLowerLayersRun) {
  nn::Model model = nn::make_mlp(12, {8, 6}, 4, 3);
  const Tensor x = random_f32({5, 12}, 101);
  const Tensor labels = labels_of({0, 1, 2, 3, 1});
  // Reference: gradients after a whole backward.
  nn::CrossEntropyResult loss = nn::softmax_cross_entropy(model.forward(x, true), labels);
  model.backward(loss.dlogits);
  std::vector<Vec> final_grads;
  for (nn::Parameter* p : model.parameters()) final_grads.push_back(p->grad.to_vector());
  model.zero_grad();

  std::vector<int> seen;
  model.set_backward_hook([&](int index, nn::Layer& layer) {
    seen.push_back(index);
    const std::vector<nn::Parameter*> all = model.parameters();
    for (std::size_t k = 0; k < all.size(); ++k) {
      bool mine = false, below = true;
      for (nn::Parameter* p : layer.parameters()) mine = mine || p == all[k];
      for (int j = index; j < model.size(); ++j)
        for (nn::Parameter* p : model.layer(j).parameters()) below = below && p != all[k];
      if (mine) {
        EXPECT_EQ(all[k]->grad.to_vector(), final_grads[k]) << all[k]->name;
      }
      if (below) {
        EXPECT_EQ(meridian::ops::sum(all[k]->grad), 0.0) << all[k]->name << " at hook " << index;
      }
    }
  });
  loss = nn::softmax_cross_entropy(model.forward(x, true), labels);
  model.backward(loss.dlogits);
  EXPECT_EQ(seen, (std::vector<int>{5, 4, 3, 2, 1, 0}));  // flatten fc1 relu1 fc2 relu2 fc3
}

TEST(NnModel, SkippingTheInputGradientKeepsParameterGradients) {
  // make_cnn turns the input gradient off; the same model with it on must give identical gradients.
  nn::Model off = nn::make_cnn(4, small_cnn()), on = nn::make_cnn(4, small_cnn());
  on.set_input_grad_needed(true);
  EXPECT_FALSE(off.input_grad_needed());
  const Tensor x = random_f32({3, 1, 28, 28}, 141);
  const Tensor labels = labels_of({1, 7, 3});
  std::vector<int> hooks;
  off.set_backward_hook([&](int index, nn::Layer&) { hooks.push_back(index); });
  const Tensor dx_off = off.backward(nn::softmax_cross_entropy(off.forward(x, true), labels).dlogits);
  const Tensor dx_on = on.backward(nn::softmax_cross_entropy(on.forward(x, true), labels).dlogits);
  EXPECT_FALSE(dx_off.defined());
  ASSERT_TRUE(dx_on.defined());
  EXPECT_EQ(dx_on.shape(), x.shape());
  EXPECT_EQ(hooks, (std::vector<int>{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}));
  const std::vector<nn::Parameter*> a = off.parameters(), b = on.parameters();
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t k = 0; k < a.size(); ++k) EXPECT_EQ(a[k]->grad.to_vector(), b[k]->grad.to_vector()) << a[k]->name;
}

TEST(NnModel, ParametersFlatCopiesAndSeededInit) {
  nn::Model model = nn::make_mlp(784, {32}, 10, 9);
  const std::vector<nn::Parameter*> params = model.parameters();
  ASSERT_EQ(params.size(), 4u);
  EXPECT_EQ(params[0]->name, "fc1.weight");
  EXPECT_EQ(params[3]->name, "fc2.bias");
  const std::int64_t count = 784 * 32 + 32 + 32 * 10 + 10;
  ASSERT_EQ(model.parameter_count(), count);

  std::vector<float> flat(static_cast<std::size_t>(count));
  model.copy_parameters_to(flat);
  EXPECT_EQ(flat[0], params[0]->value.data<float>()[0]);
  EXPECT_EQ(flat[784 * 32], params[1]->value.data<float>()[0]);
  nn::Model same = nn::make_mlp(784, {32}, 10, 9), other = nn::make_mlp(784, {32}, 10, 10);
  std::vector<float> flat_same(flat.size()), flat_other(flat.size());
  same.copy_parameters_to(flat_same);
  other.copy_parameters_to(flat_other);
  EXPECT_EQ(flat, flat_same);
  EXPECT_NE(flat, flat_other);

  other.copy_parameters_from(flat);  // e.g. a broadcast of rank 0's model
  other.copy_parameters_to(flat_other);
  EXPECT_EQ(flat, flat_other);
  for (float& v : flat) v = 0.25f;
  model.copy_grads_from(flat);
  EXPECT_EQ(params[2]->grad.item({3, 4}), 0.25);
  std::vector<float> too_short(flat.size() - 1);
  EXPECT_THROW(model.copy_parameters_to(too_short), meridian::Error);
}

TEST(NnModel, SharedParameterIsListedOnce) {
  // Two layers exposing one Parameter (tied weights) count it once.
  class Tied final : public nn::Layer {
   public:
    Tied(std::string name, nn::Parameter* p) : nn::Layer(std::move(name)), p_(p) {}
    Tensor forward(const Tensor& x, bool) override { return x; }
    Tensor backward(const Tensor& dy) override { return dy; }
    std::vector<nn::Parameter*> parameters() override { return {p_}; }
    std::string kind() const override { return "Tied"; }

   private:
    nn::Parameter* p_;
  };
  nn::Parameter shared = nn::make_parameter("shared", {3});
  nn::Model model;
  model.emplace<Tied>("a", &shared);
  model.emplace<Tied>("b", &shared);
  EXPECT_EQ(model.parameters().size(), 1u);
  EXPECT_EQ(model.parameter_count(), 3);
}

// Gradients of one backward over a batch equal the sum of the gradients of its two halves, each with
// its loss gradient scaled by half/batch (micro-batching), for the MLP and the CNN.
void expect_micro_batches_sum_to_batch(nn::Model& model, const Tensor& x, const Tensor& labels, double tol) {
  const std::int64_t batch = x.size(0), half = batch / 2;
  nn::CrossEntropyResult whole = nn::softmax_cross_entropy(model.forward(x, true), labels);
  model.backward(whole.dlogits);
  std::vector<Vec> expected;
  for (nn::Parameter* p : model.parameters()) expected.push_back(p->grad.to_vector());
  model.zero_grad();
  for (int part = 0; part < 2; ++part) {
    const Tensor xs = x.slice(0, part * half, (part + 1) * half), ls = labels.slice(0, part * half, (part + 1) * half);
    nn::CrossEntropyResult r = nn::softmax_cross_entropy(model.forward(xs, true), ls);
    meridian::ops::scale(r.dlogits, static_cast<float>(half) / static_cast<float>(batch));
    model.backward(r.dlogits);
  }
  const std::vector<nn::Parameter*> params = model.parameters();
  for (std::size_t k = 0; k < params.size(); ++k) {
    double scale = 0.0;
    for (const double v : expected[k]) scale = std::max(scale, std::abs(v));
    meridian::test::expect_all_near(params[k]->grad.to_vector(), expected[k], tol, scale, params[k]->name);
  }
}

TEST(NnModel, MicroBatchGradientsAccumulate) {
  nn::Model mlp = nn::make_mlp(784, {32}, 10, 1);
  const Tensor x = random_f32({8, 1, 28, 28}, 111);
  const Tensor labels = labels_of(random_labels(8, 112));
  // Different f32 summation orders over 784- and 8-term sums.
  expect_micro_batches_sum_to_batch(mlp, x, labels, 1e-5);
  nn::Model cnn = nn::make_cnn(1, small_cnn());
  expect_micro_batches_sum_to_batch(cnn, x, labels, 1e-4);
}

// Trains on one fixed batch and returns (first loss, last loss).
std::pair<double, double> overfit(nn::Model& model, const Tensor& x, const Tensor& labels, int steps, float lr) {
  nn::SGD sgd(model.parameters(), nn::SgdOptions{lr, 0.9f, 0.f});
  double first = 0.0, last = 0.0;
  for (int step = 0; step < steps; ++step) {
    model.zero_grad();
    const nn::CrossEntropyResult r = nn::softmax_cross_entropy(model.forward(x, true), labels);
    model.backward(r.dlogits);
    sgd.step();
    if (step == 0) first = r.loss;
    last = r.loss;
  }
  return {first, last};
}

TEST(NnModel, MlpOverfitsATinyBatch) {
  nn::Model model = nn::make_mlp(784, {64}, 10, 2);
  const Tensor x = random_f32({16, 784}, 121);
  const auto [first, last] = overfit(model, x, labels_of(random_labels(16, 122)), 100, 0.02f);
  EXPECT_GT(first, 1.5);  // about log 10 at initialisation
  EXPECT_LT(last, first / 10) << "first " << first << ", last " << last;
}

TEST(NnModel, CnnOverfitsATinyBatch) {
  nn::CnnShape shape = small_cnn();
  shape.image = 16;
  nn::Model model = nn::make_cnn(3, shape);
  const Tensor x = random_f32({16, 1, 16, 16}, 131);
  const auto [first, last] = overfit(model, x, labels_of(random_labels(16, 132)), 150, 0.02f);
  EXPECT_GT(first, 1.5);
  EXPECT_LT(last, first / 10) << "first " << first << ", last " << last;
}

TEST(NnModel, CnnShapesAndErrors) {
  nn::Model model = nn::make_cnn(0);
  EXPECT_EQ(model.size(), 10);
  const Tensor logits = model.forward(Tensor::zeros({2, 1, 28, 28}), false);
  EXPECT_EQ(logits.shape(), (meridian::Shape{2, 10}));
  nn::CnnShape odd_image;
  odd_image.image = 30;
  EXPECT_THROW(nn::make_cnn(0, odd_image), meridian::InputError);
  EXPECT_THROW(nn::make_mlp(784, {0}), meridian::InputError);
  EXPECT_THROW(nn::Model().forward(Tensor::zeros({1, 1}), true), meridian::Error);
}

}  // namespace
