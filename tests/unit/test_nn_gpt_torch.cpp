// The whole GPT against PyTorch: this test writes a tiny model's weights and a batch, runs
// tests/reference/gpt2_torch.py (the same architecture in float64 autograd, with Debian's python3-torch)
// and compares the logits, the loss and the gradient of every parameter. Skipped, saying why, when
// python3 or torch is missing.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/file_bytes.hpp"
#include "core/rng.hpp"
#include "nn/gpt.hpp"

namespace meridian::nn {
namespace {

namespace fs = std::filesystem;

using testing::write_raw;

TEST(GptTorch, LogitsLossAndEveryGradientMatchPyTorch) {
  const std::string python = MERIDIAN_PYTHON3;
  if (python.empty() || python.find("NOTFOUND") != std::string::npos) GTEST_SKIP() << "no python3 found at configure time";
  GptConfig c;
  c.vocab = 257;
  c.max_seq = 12;
  c.layers = 2;
  c.d_model = 32;
  c.heads = 4;
  const std::int64_t b = 3, t = 10;
  SoloTpGroup solo;
  GptStage stage(c, 0, 1, solo, 2025);
  // Larger weights than the initial ones, so that every layer is far from linear and the attention
  // far from uniform: a wrong gradient anywhere shows.
  Rng rng(5, stream_id(StreamPurpose::test, 77));
  for (auto& gp : stage.parameters()) {
    float* v = gp.param->value.data<float>();
    for (std::int64_t i = 0; i < gp.param->value.numel(); ++i) v[i] += 0.2f * (2 * rng.uniform() - 1);
  }
  std::vector<std::int32_t> tokens(static_cast<std::size_t>(2 * b * t));
  for (auto& x : tokens) x = static_cast<std::int32_t>(rng.below(257));

  const fs::path dir = fs::temp_directory_path() / ("meridian_gpt_torch_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << nlohmann::json{{"vocab", c.vocab}, {"padded_vocab", c.padded_vocab()},
                                                       {"max_seq", c.max_seq}, {"layers", c.layers},
                                                       {"d_model", c.d_model}, {"heads", c.heads},
                                                       {"batch", b}, {"seq", t}}.dump();
  std::vector<float> params;
  for (auto& gp : stage.parameters()) {
    const float* v = gp.param->value.data<float>();
    params.insert(params.end(), v, v + gp.param->value.numel());
  }
  write_raw((dir / "params.bin").string(), params);
  write_raw((dir / "tokens.bin").string(), tokens);
  const std::string script = std::string(MERIDIAN_SOURCE_DIR) + "/tests/reference/gpt2_torch.py";
  const std::string command = python + " " + script + " " + dir.string() + " > " + (dir / "log.txt").string() + " 2>&1";
  const int status = std::system(command.c_str());
  std::ifstream log_file(dir / "log.txt");
  const std::string log((std::istreambuf_iterator<char>(log_file)), std::istreambuf_iterator<char>());
  if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
    fs::remove_all(dir);
    GTEST_SKIP() << log;
  }
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << command << "\n" << log;

  std::ifstream in(dir / "out.bin", std::ios::binary | std::ios::ate);
  const auto bytes = static_cast<std::size_t>(in.tellg());
  in.seekg(0);
  std::vector<double> ref(bytes / sizeof(double));
  in.read(reinterpret_cast<char*>(ref.data()), static_cast<std::streamsize>(bytes));
  in.close();
  fs::remove_all(dir);
  ASSERT_EQ(ref.size(), 1 + static_cast<std::size_t>(b * t * c.vocab + c.parameter_count()));

  Tensor inputs = Tensor::empty({b, t}, DType::i32), targets = Tensor::empty({b, t}, DType::i32);
  std::copy_n(tokens.data(), b * t, inputs.data<std::int32_t>());
  std::copy_n(tokens.data() + b * t, b * t, targets.data<std::int32_t>());
  stage.zero_grad();
  const double loss = stage.forward_loss(0, inputs, targets);
  EXPECT_NEAR(loss, ref[0], 1e-5 * ref[0]) << "loss";
  const Tensor& logits = stage.logits(0);
  std::size_t k = 1;
  double max_err = 0;
  for (std::int64_t row = 0; row < b * t; ++row)
    for (std::int64_t v = 0; v < c.vocab; ++v)
      max_err = std::max(max_err, std::abs(logits.data<float>()[row * c.padded_vocab() + v] - ref[k++]));
  EXPECT_LT(max_err, 1e-4) << "logits";
  stage.backward_loss(0, 1.f);
  // Each gradient within 1e-4 of its own largest entry (float against float64 over a few hundred terms).
  for (auto& gp : stage.parameters()) {
    const Parameter& p = *gp.param;
    const float* g = p.grad.data<float>();
    double scale = 0, err = 0;
    for (std::int64_t i = 0; i < p.grad.numel(); ++i) scale = std::max(scale, std::abs(ref[k + static_cast<std::size_t>(i)]));
    for (std::int64_t i = 0; i < p.grad.numel(); ++i) err = std::max(err, std::abs(g[i] - ref[k + static_cast<std::size_t>(i)]));
    EXPECT_LE(err, 1e-4 * scale + 1e-9) << p.name << ": largest gradient " << scale;
    EXPECT_GT(scale, 0.0) << p.name << " has no gradient in the reference";
    k += static_cast<std::size_t>(p.grad.numel());
  }
}

}  // namespace
}  // namespace meridian::nn
