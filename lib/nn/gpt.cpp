// GptStage on the CPU backend: parameters sharded at construction from counter-based initial values,
// activations per micro-batch, forward and backward block by block through lib/nn/gpt_kernels.
#include "nn/gpt.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/ops.hpp"
#include "core/rng.hpp"
#include "kernels/common/philox.hpp"
#include "kernels/cpu/nm_sparse.hpp"
#include "kernels/cpu/ops.hpp"
#include "kernels/reference/ops.hpp"
#include "nn/checks.hpp"
#include "nn/gpt_kernels.hpp"
#include "nn/host_parallel.hpp"

#if MERIDIAN_HAVE_CUDA
#include "kernels/cuda/gpt.hpp"
#include "kernels/cuda/ops.hpp"
#endif

namespace meridian::nn {
namespace {

constexpr std::int64_t kVocabMultiple = 64;
constexpr float kInitStd = 0.02f;
constexpr float kPositionInitStd = 0.01f;

// Stream ids of the initial values: one per full tensor of the model, independent of the layout.
enum : std::uint64_t { kWteTensor = 1, kWpeTensor = 2, kBlockTensors = 16, kTensorsPerBlock = 16 };
enum BlockRole : std::uint64_t { kQkvW = 0, kProjW = 1, kFcW = 2, kFcProjW = 3 };

std::uint64_t init_stream(std::uint64_t tensor) { return stream_id(StreamPurpose::init, tensor, 0); }
std::uint64_t block_stream(std::int64_t layer, BlockRole role) {
  return init_stream(kBlockTensors + static_cast<std::uint64_t>(layer) * kTensorsPerBlock + role);
}

float* f32(Tensor& t) { return t.data<float>(); }

std::unique_ptr<Parameter> new_parameter(const std::string& name, Shape shape) {
  return std::make_unique<Parameter>(make_parameter(name, std::move(shape)));
}

// value (rows, blocks·width): for each block k, columns [begins[k], begins[k] + width) of a full
// (*, full_cols) N(0, std) tensor, side by side, starting at full row `row_begin`. Element (i, j) of
// the full tensor is normal number i·full_cols + j of the stream, whatever the shard.
void init_blocks(Parameter& p, std::uint64_t seed, std::uint64_t stream, float std, std::int64_t full_cols,
                 std::int64_t row_begin, const std::vector<std::int64_t>& begins, std::int64_t width) {
  const std::int64_t rows = p.value.size(0), cols = p.value.size(1);
  const std::int64_t blocks = static_cast<std::int64_t>(begins.size());
  const std::int64_t* bp = begins.data();
  float* v = f32(p.value);
  host_for("meridian::nn::gpt::init", rows, 40 * cols, [=](std::int64_t i) {
    for (std::int64_t k = 0; k < blocks; ++k) {
      const auto first = static_cast<std::uint64_t>((row_begin + i) * full_cols + bp[k]);
      float* out = v + i * cols + k * width;
      for (std::int64_t j = 0; j < width; ++j)
        out[j] = kernels::reference::normal_value(normal_at(seed, stream, first + static_cast<std::uint64_t>(j)),
                                                  0.f, std);
    }
  });
}

// value (rows, cols) = rows [row_begin, row_begin + rows) of a full (*, cols) N(0, std) tensor.
void init_rows(Parameter& p, std::uint64_t seed, std::uint64_t stream, float std, std::int64_t row_begin) {
  const std::int64_t cols = p.value.size(1);
  init_blocks(p, seed, stream, std, cols, row_begin, {0}, cols);
}

// value (rows, blocks·width): for each block k, columns [begins[k], begins[k] + width) of a full
// (rows, full_cols) N(0, std) tensor.
void init_column_blocks(Parameter& p, std::uint64_t seed, std::uint64_t stream, float std, std::int64_t full_cols,
                        const std::vector<std::int64_t>& begins, std::int64_t width) {
  init_blocks(p, seed, stream, std, full_cols, 0, begins, width);
}

// Replaces the dense weight p (k, cols) by its N:M kept values (kept_rows, cols), pruned by magnitude;
// index receives the choices.
void prune(Parameter& p, Tensor& index, const NMLayout& layout) {
  index = Tensor::empty({layout.kept_rows(), layout.col_vectors()}, DType::u8);
  kernels::cpu::nm_select(p.value.data<float>(), layout.cols, layout, index.data<std::uint8_t>());
  Parameter kept = make_parameter(p.name, {layout.kept_rows(), layout.cols});
  kernels::cpu::nm_compress(p.value.data<float>(), layout.cols, layout, index.data<std::uint8_t>(), f32(kept.value));
  p = std::move(kept);
}

void fill_value(Parameter& p, float value) {
  float* v = f32(p.value);
  std::fill(v, v + p.value.numel(), value);
}

void check_tokens(const Tensor& tokens, std::int64_t vocab, std::int64_t max_seq, const char* what) {
  MERIDIAN_CHECK(tokens.defined() && tokens.device().is_cpu() && tokens.dtype() == DType::i32 && tokens.dim() == 2,
                 "GptStage: ", what, " must be a host i32 tensor (B, T), got ",
                 tokens.defined() ? shape_string(tokens.shape()) : std::string("an undefined tensor"));
  MERIDIAN_CHECK(tokens.size(1) >= 1 && tokens.size(1) <= max_seq && tokens.size(0) >= 1, "GptStage: ", what,
                 " has shape ", shape_string(tokens.shape()), " but T must be in [1, ", max_seq, "] and B >= 1");
  const Tensor t = tokens.contiguous();
  const std::int32_t* p = t.data<std::int32_t>();
  for (std::int64_t i = 0; i < t.numel(); ++i)
    MERIDIAN_CHECK(p[i] >= 0 && p[i] < vocab, "GptStage: ", what, " holds token ", p[i], " at position ", i,
                   ", outside the vocabulary [0, ", vocab, ")");
}


// Every kernel call of the stage goes through `on::`: the CPU kernel (lib/nn/gpt_kernels), or the
// CUDA one (kernels/cuda/gpt, same arguments) for a stage on a GPU.
namespace on {
#if MERIDIAN_HAVE_CUDA
#define MERIDIAN_GPT_KERNEL(name)                        \
  template <class... A>                                  \
  void name(bool cuda, A... a) {                         \
    if (cuda) {                                          \
      kernels::cuda::gpt::name(a...);                    \
    } else {                                             \
      gpt::name(a...);                                   \
    }                                                    \
  }
#else
#define MERIDIAN_GPT_KERNEL(name)  \
  template <class... A>            \
  void name(bool, A... a) {        \
    gpt::name(a...);               \
  }
#endif
MERIDIAN_GPT_KERNEL(embedding_forward)
MERIDIAN_GPT_KERNEL(embedding_backward)
MERIDIAN_GPT_KERNEL(add_positions)
MERIDIAN_GPT_KERNEL(positions_backward)
MERIDIAN_GPT_KERNEL(layernorm_forward)
MERIDIAN_GPT_KERNEL(linear_forward)
MERIDIAN_GPT_KERNEL(linear_backward)
MERIDIAN_GPT_KERNEL(attention_forward)
MERIDIAN_GPT_KERNEL(attention_backward)
MERIDIAN_GPT_KERNEL(gelu_forward)
MERIDIAN_GPT_KERNEL(gelu_backward)
MERIDIAN_GPT_KERNEL(bias_residual_forward)
MERIDIAN_GPT_KERNEL(cross_entropy_row_max)
MERIDIAN_GPT_KERNEL(cross_entropy_sums)
MERIDIAN_GPT_KERNEL(cross_entropy_backward)
#undef MERIDIAN_GPT_KERNEL

// The CUDA LayerNorm backward adds its weight gradients through `scratch` (per-chunk partial sums).
void layernorm_backward(bool cuda, float* dx, float* dw, float* db, const float* dout, const float* x,
                        const float* w, const float* mean, const float* rstd, std::int64_t n, std::int64_t c,
                        float* scratch) {
#if MERIDIAN_HAVE_CUDA
  if (cuda) {
    kernels::cuda::gpt::layernorm_backward(dx, dw, db, dout, x, w, mean, rstd, n, c, scratch);
    return;
  }
#endif
  (void)cuda;
  (void)scratch;
  gpt::layernorm_backward(dx, dw, db, dout, x, w, mean, rstd, n, c);
}

void gemm(bool cuda, MatmulPrecision precision, kernels::Trans ta, kernels::Trans tb, std::int64_t m, std::int64_t n,
          std::int64_t k, float alpha, const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta,
          float* c, std::int64_t ldc) {
#if MERIDIAN_HAVE_CUDA
  if (cuda) {
    kernels::cuda::gemm(precision, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
#endif
  (void)cuda;
  kernels::cpu::gemm(precision, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

std::int64_t layernorm_scratch_floats(bool cuda, std::int64_t n, std::int64_t c) {
#if MERIDIAN_HAVE_CUDA
  if (cuda) return kernels::cuda::gpt::layernorm_backward_scratch_floats(n, c);
#endif
  (void)cuda;
  (void)n;
  (void)c;
  return 1;
}
}  // namespace on

}  // namespace

// ---- configuration ----

std::int64_t GptConfig::padded_vocab() const { return (vocab + kVocabMultiple - 1) / kVocabMultiple * kVocabMultiple; }

std::int64_t GptConfig::parameter_count() const {
  const std::int64_t c = d_model;
  std::int64_t fc = c * 4 * c, fc_proj = 4 * c * c;
  if (sparse()) {
    fc = NMLayout{.k = c, .cols = 4 * c, .n = sparse_ffn.n, .m = sparse_ffn.m, .v = sparse_ffn.v}.value_count();
    fc_proj = NMLayout{.k = 4 * c, .cols = c, .n = sparse_ffn.n, .m = sparse_ffn.m, .v = sparse_ffn.v}.value_count();
  }
  const std::int64_t block = 2 * c + (c * 3 * c + 3 * c) + (c * c + c) + 2 * c + (fc + 4 * c) + (fc_proj + c);
  return padded_vocab() * c + max_seq * c + layers * block + 2 * c;
}

double GptConfig::training_flops_per_token(std::int64_t t) const {
  return 6.0 * static_cast<double>(parameter_count()) +
         12.0 * static_cast<double>(layers) * static_cast<double>(d_model) * static_cast<double>(t);
}

void GptConfig::validate(int tp, int pp) const {
  if (vocab < 2 || vocab > 65536) throw InputError(cat("GPT vocabulary of ", vocab, " tokens: it must be in [2, 65536]"));
  if (max_seq < 1) throw InputError(cat("--seq ", max_seq, ": the sequence length must be at least 1"));
  if (layers < 1) throw InputError(cat("--layers ", layers, ": a GPT needs at least one layer"));
  if (d_model < 1 || heads < 1)
    throw InputError(cat("--d-model ", d_model, " and --heads ", heads, " must both be at least 1"));
  if (d_model % heads != 0)
    throw InputError(cat("--d-model ", d_model, " is not divisible by --heads ", heads,
                     ": every head needs d_model / heads channels; pick a multiple of ", heads));
  if (tp < 1 || pp < 1) throw InputError(cat("--tp ", tp, " and --pp ", pp, " must both be at least 1"));
  if (heads % tp != 0)
    throw InputError(cat("--heads ", heads, " is not divisible by --tp ", tp,
                     ": tensor parallelism gives every rank heads / tp whole heads; use a --tp that divides ", heads));
  if (layers % pp != 0)
    throw InputError(cat("--layers ", layers, " is not divisible by --pp ", pp,
                     ": every pipeline stage holds layers / pp layers; use a --pp that divides ", layers));
  if (sparse()) {
    const std::int64_t width = 4 * d_model / tp;
    try {
      check_nm_layout(NMLayout{.k = 0, .cols = 0, .n = sparse_ffn.n, .m = sparse_ffn.m, .v = sparse_ffn.v});
    } catch (const InputError& e) {
      throw InputError(cat("--sparse-ffn ", sparse_ffn.n, ":", sparse_ffn.m, ":", sparse_ffn.v, ": ", e.what()));
    }
    if (width % sparse_ffn.m != 0 || width % sparse_ffn.v != 0)
      throw InputError(cat("--sparse-ffn ", sparse_ffn.n, ":", sparse_ffn.m, ":", sparse_ffn.v, ": m and v must divide the ",
                           "MLP width per tensor-parallel rank, 4 x d_model / tp = ", width,
                           ", so that every shard is pruned as the whole weight is"));
  }
  if (sparse() && precision == MatmulPrecision::bf16)
    throw InputError(cat("--precision bf16 with --sparse-ffn ", sparse_ffn.n, ":", sparse_ffn.m, ":", sparse_ffn.v,
                         ": the N:M sparse MLP computes in fp32 only; use --precision fp32 or a dense MLP"));
  if (padded_vocab() % tp != 0)
    throw InputError(cat("the padded vocabulary of ", padded_vocab(), " rows does not split over --tp ", tp,
                     "; use a --tp that divides ", kVocabMultiple));
}

// ---- stage ----

struct GptStage::Block {
  Parameter ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_w, ln2_b, fc_w, fc_b, fcp_w, fcp_b;
  // Sparse MLP: fc_w and fcp_w hold the kept values; these are their fixed indices and layouts.
  Tensor fc_index, fcp_index;
  NMLayout fc_layout, fcp_layout;
};

struct GptStage::Activations {
  std::int64_t b = 0, t = 0;
  Tensor tokens, targets;  // i32 (B, T): first stage / last stage
  std::vector<Tensor> res;  // layers + 1 residual streams (N, C): res[0] the stage input
  struct Layer {
    Tensor ln1, ln1_mean, ln1_rstd, qkv, att, atty, res2, ln2, ln2_mean, ln2_rstd, fc, fc_gelu;
  };
  std::vector<Layer> layer;
  Tensor tmp;  // (N, C) the row-parallel outputs before their all-reduce
  Tensor lnf, lnf_mean, lnf_rstd, logits, lse, reduce;  // last stage
  double loss = 0.0;
};

GptStage::GptStage(const GptConfig& config, int stage, int stages, TpGroup& tp, std::uint64_t seed, Device device)
    : config_(config), stage_(stage), stages_(stages), tp_(tp), device_(device), cuda_(device.is_cuda()) {
  config_.validate(tp.size(), stages);
  if (cuda_) {
    MERIDIAN_INPUT_CHECK(cuda_available(), "GptStage on ", device_name(device),
                         ": this build has no CUDA backend or the machine no GPU; use the CPU");
    MERIDIAN_INPUT_CHECK(!config_.sparse(), "--sparse-ffn on a GPU: the CUDA N:M kernels have no gradients yet; "
                         "train the sparse MLP on the CPU");
  }
  MERIDIAN_CHECK(stage >= 0 && stage < stages, "GptStage: stage ", stage, " outside [0, ", stages, ")");
  const std::int64_t tps = tp.size(), r = tp.rank();
  const std::int64_t per_stage = config_.layers / stages;
  first_layer_ = static_cast<int>(per_stage * stage);
  c_ = config_.d_model;
  c_local_ = c_ / tps;
  heads_local_ = config_.heads / tps;
  ff_local_ = 4 * c_ / tps;
  vocab_local_ = config_.padded_vocab() / tps;
  vocab_begin_ = r * vocab_local_;

  if (is_first() || is_last()) {
    wte_ = new_parameter("wte", {vocab_local_, c_});
    init_rows(*wte_, seed, init_stream(kWteTensor), kInitStd, vocab_begin_);
    params_.push_back({wte_.get(), false, true, !is_first()});
  }
  if (is_first()) {
    wpe_ = new_parameter("wpe", {config_.max_seq, c_});
    init_rows(*wpe_, seed, init_stream(kWpeTensor), kPositionInitStd, 0);
    params_.push_back({wpe_.get(), true, true, false});
  }
  const float proj_std = kInitStd / std::sqrt(2.f * static_cast<float>(config_.layers));
  for (std::int64_t l = 0; l < per_stage; ++l) {
    const std::int64_t layer = first_layer_ + l;
    const std::string p = cat("h", layer, ".");
    auto blk = std::make_unique<Block>();
    Block& k = *blk;
    k.ln1_w = make_parameter(cat(p, "ln1.weight"), {c_});
    k.ln1_b = make_parameter(cat(p, "ln1.bias"), {c_});
    k.qkv_w = make_parameter(cat(p, "qkv.weight"), {c_, 3 * c_local_});
    k.qkv_b = make_parameter(cat(p, "qkv.bias"), {3 * c_local_});
    k.proj_w = make_parameter(cat(p, "attn_proj.weight"), {c_local_, c_});
    k.proj_b = make_parameter(cat(p, "attn_proj.bias"), {c_});
    k.ln2_w = make_parameter(cat(p, "ln2.weight"), {c_});
    k.ln2_b = make_parameter(cat(p, "ln2.bias"), {c_});
    k.fc_w = make_parameter(cat(p, "fc.weight"), {c_, ff_local_});
    k.fc_b = make_parameter(cat(p, "fc.bias"), {ff_local_});
    k.fcp_w = make_parameter(cat(p, "fc_proj.weight"), {ff_local_, c_});
    k.fcp_b = make_parameter(cat(p, "fc_proj.bias"), {c_});
    for (Parameter* q : {&k.ln1_w, &k.ln2_w}) fill_value(*q, 1.f);
    for (Parameter* q : {&k.ln1_b, &k.ln2_b, &k.qkv_b, &k.proj_b, &k.fc_b, &k.fcp_b}) fill_value(*q, 0.f);
    // QKV: this rank's heads of q, k and v, i.e. columns [r·C/tp, (r+1)·C/tp) of each third.
    init_column_blocks(k.qkv_w, seed, block_stream(layer, kQkvW), kInitStd, 3 * c_,
                       {r * c_local_, c_ + r * c_local_, 2 * c_ + r * c_local_}, c_local_);
    init_rows(k.proj_w, seed, block_stream(layer, kProjW), proj_std, r * c_local_);
    init_column_blocks(k.fc_w, seed, block_stream(layer, kFcW), kInitStd, 4 * c_, {r * ff_local_}, ff_local_);
    init_rows(k.fcp_w, seed, block_stream(layer, kFcProjW), proj_std, r * ff_local_);
    if (config_.sparse()) {
      const NMPattern& sp = config_.sparse_ffn;
      k.fc_layout = NMLayout{.k = c_, .cols = ff_local_, .n = sp.n, .m = sp.m, .v = sp.v};
      k.fcp_layout = NMLayout{.k = ff_local_, .cols = c_, .n = sp.n, .m = sp.m, .v = sp.v};
      prune(k.fc_w, k.fc_index, k.fc_layout);
      prune(k.fcp_w, k.fcp_index, k.fcp_layout);
    }
    params_.push_back({&k.ln1_w, true, false, false});
    params_.push_back({&k.ln1_b, true, false, false});
    params_.push_back({&k.qkv_w, false, true, false});
    params_.push_back({&k.qkv_b, false, false, false});
    params_.push_back({&k.proj_w, false, true, false});
    params_.push_back({&k.proj_b, true, false, false});
    params_.push_back({&k.ln2_w, true, false, false});
    params_.push_back({&k.ln2_b, true, false, false});
    params_.push_back({&k.fc_w, false, true, false});
    params_.push_back({&k.fc_b, false, false, false});
    params_.push_back({&k.fcp_w, false, true, false});
    params_.push_back({&k.fcp_b, true, false, false});
    blocks_.push_back(std::move(blk));
  }
  if (is_last()) {
    lnf_w_ = new_parameter("lnf.weight", {c_});
    lnf_b_ = new_parameter("lnf.bias", {c_});
    fill_value(*lnf_w_, 1.f);
    fill_value(*lnf_b_, 0.f);
    params_.push_back({lnf_w_.get(), true, false, false});
    params_.push_back({lnf_b_.get(), true, false, false});
  }
  // Initial values are drawn on the host; a GPU stage then moves every tensor to its device.
  for (auto& gp : params_) {
    Parameter& p = *gp.param;
    if (cuda_) p.value = p.value.to(device_);
    p.grad = Tensor::zeros(p.value.shape(), DType::f32, device_);
  }

  // Gradient groups in the order backward finalises them.
  if (is_last()) {
    std::vector<Parameter*> head{lnf_w_.get(), lnf_b_.get()};
    if (!is_first()) head.insert(head.begin(), wte_.get());
    groups_.push_back(std::move(head));
  }
  for (auto it = blocks_.rbegin(); it != blocks_.rend(); ++it) {
    Block& k = **it;
    groups_.push_back({&k.ln1_w, &k.ln1_b, &k.qkv_w, &k.qkv_b, &k.proj_w, &k.proj_b, &k.ln2_w, &k.ln2_b, &k.fc_w,
                       &k.fc_b, &k.fcp_w, &k.fcp_b});
  }
  if (is_first()) groups_.push_back({wte_.get(), wpe_.get()});
}

GptStage::~GptStage() = default;

std::vector<Parameter*> GptStage::parameter_list() const {
  std::vector<Parameter*> out;
  out.reserve(params_.size());
  for (const auto& p : params_) out.push_back(p.param);
  return out;
}

void GptStage::zero_grad() {
  for (auto& p : params_) ops::fill(p.param->grad, 0.0);
}

void GptStage::call_hook(int group) {
  if (hook_) hook_(group);
}

GptStage::Activations& GptStage::activations_for(int micro_batch, std::int64_t b, std::int64_t t) {
  MERIDIAN_CHECK(!live_.contains(micro_batch), "GptStage: micro-batch ", micro_batch,
                 " already has activations (a forward without its backward or release)");
  std::unique_ptr<Activations> a;
  for (auto it = pool_.begin(); it != pool_.end(); ++it) {
    if ((*it)->b == b && (*it)->t == t) {
      a = std::move(*it);
      pool_.erase(it);
      break;
    }
  }
  if (!a) {
    a = std::make_unique<Activations>();
    a->b = b;
    a->t = t;
    const std::int64_t n = b * t;
    for (int l = 0; l <= layer_count(); ++l) a->res.push_back(Tensor::empty({n, c_}, DType::f32, device_));
    a->layer.resize(static_cast<std::size_t>(layer_count()));
    for (auto& y : a->layer) {
      y.ln1 = Tensor::empty({n, c_}, DType::f32, device_);
      y.ln1_mean = Tensor::empty({n}, DType::f32, device_);
      y.ln1_rstd = Tensor::empty({n}, DType::f32, device_);
      y.qkv = Tensor::empty({n, 3 * c_local_}, DType::f32, device_);
      y.att = Tensor::empty({b, heads_local_, t, t}, DType::f32, device_);
      y.atty = Tensor::empty({n, c_local_}, DType::f32, device_);
      y.res2 = Tensor::empty({n, c_}, DType::f32, device_);
      y.ln2 = Tensor::empty({n, c_}, DType::f32, device_);
      y.ln2_mean = Tensor::empty({n}, DType::f32, device_);
      y.ln2_rstd = Tensor::empty({n}, DType::f32, device_);
      y.fc = Tensor::empty({n, ff_local_}, DType::f32, device_);
      y.fc_gelu = Tensor::empty({n, ff_local_}, DType::f32, device_);
    }
    a->tmp = Tensor::empty({n, c_}, DType::f32, device_);
    if (is_last()) {
      a->lnf = Tensor::empty({n, c_}, DType::f32, device_);
      a->lnf_mean = Tensor::empty({n}, DType::f32, device_);
      a->lnf_rstd = Tensor::empty({n}, DType::f32, device_);
      a->logits = Tensor::empty({b, t, vocab_local_}, DType::f32, device_);
      a->lse = Tensor::empty({n}, DType::f32, device_);
      a->reduce = Tensor::empty({2 * n}, DType::f32, device_);
    }
  }
  Activations& ref = *a;
  live_.emplace(micro_batch, std::move(a));
  return ref;
}

GptStage::Activations& GptStage::existing(int micro_batch, const char* what) const {
  const auto it = live_.find(micro_batch);
  MERIDIAN_CHECK(it != live_.end(), "GptStage::", what, ": micro-batch ", micro_batch,
                 " has no activations (run its forward first)");
  return *it->second;
}

void GptStage::release(int micro_batch) {
  const auto it = live_.find(micro_batch);
  if (it == live_.end()) return;
  pool_.push_back(std::move(it->second));
  live_.erase(it);
}

const Tensor& GptStage::logits(int micro_batch) const {
  MERIDIAN_CHECK(is_last(), "GptStage::logits: only the last stage has logits");
  return existing(micro_batch, "logits").logits;
}

void GptStage::run_blocks_forward(Activations& a) {
  const MatmulPrecision mp = config_.precision;
  const std::int64_t b = a.b, t = a.t, n = b * t;
  for (int l = 0; l < layer_count(); ++l) {
    Block& k = *blocks_[static_cast<std::size_t>(l)];
    auto& y = a.layer[static_cast<std::size_t>(l)];
    const float* x = f32(a.res[static_cast<std::size_t>(l)]);
    on::layernorm_forward(cuda_, f32(y.ln1), f32(y.ln1_mean), f32(y.ln1_rstd), x, f32(k.ln1_w.value), f32(k.ln1_b.value), n,
                           c_);
    on::linear_forward(cuda_, f32(y.qkv), f32(y.ln1), f32(k.qkv_w.value), f32(k.qkv_b.value), n, c_, 3 * c_local_, mp);
    on::attention_forward(cuda_, f32(y.atty), f32(y.att), f32(y.qkv), b, t, c_local_, heads_local_, mp);
    on::linear_forward(cuda_, f32(a.tmp), f32(y.atty), f32(k.proj_w.value), nullptr, n, c_local_, c_, mp);
    tp_.all_reduce_sum({f32(a.tmp), static_cast<std::size_t>(n * c_)});
    on::bias_residual_forward(cuda_, f32(y.res2), x, f32(a.tmp), f32(k.proj_b.value), n, c_);
    on::layernorm_forward(cuda_, f32(y.ln2), f32(y.ln2_mean), f32(y.ln2_rstd), f32(y.res2), f32(k.ln2_w.value),
                           f32(k.ln2_b.value), n, c_);
    if (config_.sparse()) {
      gpt::nm_linear_forward(f32(y.fc), f32(y.ln2), f32(k.fc_w.value), k.fc_index.data<std::uint8_t>(), k.fc_layout,
                             f32(k.fc_b.value), n);
    } else {
      on::linear_forward(cuda_, f32(y.fc), f32(y.ln2), f32(k.fc_w.value), f32(k.fc_b.value), n, c_, ff_local_, mp);
    }
    on::gelu_forward(cuda_, f32(y.fc_gelu), f32(y.fc), n * ff_local_);
    if (config_.sparse()) {
      gpt::nm_linear_forward(f32(a.tmp), f32(y.fc_gelu), f32(k.fcp_w.value), k.fcp_index.data<std::uint8_t>(),
                             k.fcp_layout, nullptr, n);
    } else {
      on::linear_forward(cuda_, f32(a.tmp), f32(y.fc_gelu), f32(k.fcp_w.value), nullptr, n, ff_local_, c_, mp);
    }
    tp_.all_reduce_sum({f32(a.tmp), static_cast<std::size_t>(n * c_)});
    on::bias_residual_forward(cuda_, f32(a.res[static_cast<std::size_t>(l) + 1]), f32(y.res2), f32(a.tmp),
                               f32(k.fcp_b.value), n, c_);
  }
}

void GptStage::check_hidden(const Tensor& h, std::int64_t b, std::int64_t t, const char* what) const {
  MERIDIAN_CHECK(h.defined() && h.dtype() == DType::f32 && h.device() == device_ && h.dim() == 3 && h.size(0) == b &&
                     h.size(1) == t && h.size(2) == c_,
                 "GptStage: ", what, " must be an f32 tensor (B, T, C) = (", b, ", ", t, ", ", c_, ") on ",
                 device_name(device_), ", got ", h.defined() ? shape_string(h.shape()) : std::string("an undefined tensor"),
                 h.defined() ? cat(" ", dtype_name(h.dtype()), " on ", device_name(h.device())) : std::string());
}

GptStage::Activations& GptStage::run_forward(int micro_batch, const Tensor& input, const Tensor* targets) {
  if (is_first()) {
    check_tokens(input, config_.vocab, config_.max_seq, "input tokens");
  } else {
    MERIDIAN_CHECK(input.defined() && input.dim() == 3, "GptStage: the hidden input must be (B, T, C), got ",
                   input.defined() ? shape_string(input.shape()) : std::string("an undefined tensor"));
  }
  const std::int64_t b = input.size(0), t = input.size(1), n = b * t;
  if (targets != nullptr) {
    check_tokens(*targets, config_.vocab, config_.max_seq, "targets");
    MERIDIAN_CHECK(targets->size(0) == b && targets->size(1) == t, "GptStage: targets ",
                   shape_string(targets->shape()), " do not match the input's (B, T) = (", b, ", ", t, ")");
  }
  Activations& a = activations_for(micro_batch, b, t);
  if (targets != nullptr) a.targets = targets->contiguous().to(device_);
  if (is_first()) {
    a.tokens = input.contiguous().to(device_);
    float* x = f32(a.res[0]);
    on::embedding_forward(cuda_, x, a.tokens.data<std::int32_t>(), f32(wte_->value), vocab_begin_, vocab_local_, n, c_);
    tp_.all_reduce_sum({x, static_cast<std::size_t>(n * c_)});
    on::add_positions(cuda_, x, f32(wpe_->value), b, t, c_);
  } else {
    check_hidden(input, b, t, "the hidden input");
    ops::copy(a.res[0], input.contiguous().view({n, c_}));
  }
  run_blocks_forward(a);
  return a;
}

Tensor GptStage::forward(int micro_batch, const Tensor& input) {
  MERIDIAN_CHECK(!is_last(), "GptStage::forward: the last stage computes the loss; call forward_loss");
  Activations& a = run_forward(micro_batch, input, nullptr);
  return a.res.back().view({a.b, a.t, c_});
}

double GptStage::forward_loss(int micro_batch, const Tensor& input, const Tensor& targets) {
  MERIDIAN_CHECK(is_last(), "GptStage::forward_loss: only the last stage computes the loss");
  Activations& a = run_forward(micro_batch, input, &targets);
  const std::int64_t n = a.b * a.t;
  const MatmulPrecision mp = config_.precision;

  // Final LayerNorm and the head: logits (N, V/tp) = lnf · wte_localᵀ.
  on::layernorm_forward(cuda_, f32(a.lnf), f32(a.lnf_mean), f32(a.lnf_rstd), f32(a.res.back()), f32(lnf_w_->value),
                         f32(lnf_b_->value), n, c_);
  float* logits = f32(a.logits);
  const std::int64_t vl = vocab_local_;
  on::gemm(cuda_, mp, kernels::Trans::no, kernels::Trans::yes, n, vl, c_, 1.f, f32(a.lnf), c_, f32(wte_->value), c_,
                     0.f, logits, vl);

  // Vocabulary-parallel cross-entropy: row maxima, then the sums of exponentials and the target's
  // logit (held by one rank) in one all-reduce.
  const std::int64_t valid = std::clamp<std::int64_t>(config_.vocab - vocab_begin_, 0, vl);
  const std::int32_t* tg = a.targets.data<std::int32_t>();
  on::cross_entropy_row_max(cuda_, f32(a.lse), logits, n, vl, valid);
  tp_.all_reduce_max({f32(a.lse), static_cast<std::size_t>(n)});
  on::cross_entropy_sums(cuda_, f32(a.reduce), logits, f32(a.lse), tg, vocab_begin_, n, vl, valid);
  tp_.all_reduce_sum({f32(a.reduce), static_cast<std::size_t>(2 * n)});
  // lse = max + log Σ exp; the loss in double on the host (2N + N floats from a GPU).
  const Tensor red = a.reduce.to(Device::cpu());
  Tensor lse = a.lse.to(Device::cpu());
  const float* r = red.data<float>();
  float* l = lse.data<float>();
  double loss = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    l[i] += std::log(r[i]);
    loss += static_cast<double>(l[i]) - static_cast<double>(r[n + i]);
  }
  if (cuda_) ops::copy(a.lse, lse);
  a.loss = loss / static_cast<double>(n);
  return a.loss;
}

void GptStage::ensure_scratch(std::int64_t b, std::int64_t t) {
  const std::int64_t n = b * t;
  if (n <= scratch_rows_ && b * t * t <= scratch_bt_) return;
  scratch_rows_ = std::max(scratch_rows_, n);
  scratch_bt_ = std::max(scratch_bt_, b * t * t);
  const std::int64_t rows = scratch_rows_;
  dres_ = Tensor::empty({rows * c_}, DType::f32, device_);
  dtmp_ = Tensor::empty({rows * c_}, DType::f32, device_);
  dqkv_ = Tensor::empty({rows * 3 * c_local_}, DType::f32, device_);
  datty_ = Tensor::empty({rows * c_local_}, DType::f32, device_);
  dfc_ = Tensor::empty({rows * ff_local_}, DType::f32, device_);
  datt_ = Tensor::empty({scratch_bt_ * heads_local_}, DType::f32, device_);
  if (is_last()) dlogits_ = Tensor::empty({rows * vocab_local_}, DType::f32, device_);
  ln_scratch_ = Tensor::empty({on::layernorm_scratch_floats(cuda_, rows, c_)}, DType::f32, device_);
}

void GptStage::run_blocks_backward(Activations& a, float* dres) {
  const MatmulPrecision mp = config_.precision;
  const std::int64_t b = a.b, t = a.t, n = b * t;
  float* dtmp = f32(dtmp_);
  for (int l = layer_count() - 1; l >= 0; --l) {
    Block& k = *blocks_[static_cast<std::size_t>(l)];
    auto& y = a.layer[static_cast<std::size_t>(l)];
    // MLP: res[l+1] = res2 + fc_proj(gelu(fc(ln2(res2)))) + bias
    float* dfc = f32(dfc_);
    if (config_.sparse()) {
      gpt::nm_linear_backward(dfc, f32(k.fcp_w.grad), f32(k.fcp_b.grad), dres, f32(y.fc_gelu), f32(k.fcp_w.value),
                              k.fcp_index.data<std::uint8_t>(), k.fcp_layout, n);
    } else {
      on::linear_backward(cuda_, dfc, f32(k.fcp_w.grad), f32(k.fcp_b.grad), dres, f32(y.fc_gelu), f32(k.fcp_w.value), n,
                           ff_local_, c_, false, mp);
    }
    on::gelu_backward(cuda_, dfc, f32(y.fc), dfc, n * ff_local_);
    if (config_.sparse()) {
      gpt::nm_linear_backward(dtmp, f32(k.fc_w.grad), f32(k.fc_b.grad), dfc, f32(y.ln2), f32(k.fc_w.value),
                              k.fc_index.data<std::uint8_t>(), k.fc_layout, n);
    } else {
      on::linear_backward(cuda_, dtmp, f32(k.fc_w.grad), f32(k.fc_b.grad), dfc, f32(y.ln2), f32(k.fc_w.value), n, c_,
                           ff_local_, false, mp);
    }
    tp_.all_reduce_sum({dtmp, static_cast<std::size_t>(n * c_)});
    on::layernorm_backward(cuda_, dres, f32(k.ln2_w.grad), f32(k.ln2_b.grad), dtmp, f32(y.res2), f32(k.ln2_w.value),
                            f32(y.ln2_mean), f32(y.ln2_rstd), n, c_, f32(ln_scratch_));
    // attention: res2 = res[l] + attn_proj(attention(qkv(ln1(res[l])))) + bias
    float* datty = f32(datty_);
    float* dqkv = f32(dqkv_);
    on::linear_backward(cuda_, datty, f32(k.proj_w.grad), f32(k.proj_b.grad), dres, f32(y.atty), f32(k.proj_w.value), n,
                         c_local_, c_, false, mp);
    on::attention_backward(cuda_, dqkv, f32(datt_), datty, f32(y.qkv), f32(y.att), b, t, c_local_, heads_local_, mp);
    on::linear_backward(cuda_, dtmp, f32(k.qkv_w.grad), f32(k.qkv_b.grad), dqkv, f32(y.ln1), f32(k.qkv_w.value), n, c_,
                         3 * c_local_, false, mp);
    tp_.all_reduce_sum({dtmp, static_cast<std::size_t>(n * c_)});
    on::layernorm_backward(cuda_, dres, f32(k.ln1_w.grad), f32(k.ln1_b.grad), dtmp, f32(a.res[static_cast<std::size_t>(l)]),
                            f32(k.ln1_w.value), f32(y.ln1_mean), f32(y.ln1_rstd), n, c_, f32(ln_scratch_));
    call_hook((is_last() ? 1 : 0) + (layer_count() - 1 - l));
  }
}

Tensor GptStage::finish_backward(int micro_batch, Activations& a) {
  const std::int64_t b = a.b, t = a.t, n = b * t;
  Tensor dx;
  if (is_first()) {
    const float* dres = f32(dres_);
    on::embedding_backward(cuda_, f32(wte_->grad), a.tokens.data<std::int32_t>(), dres, vocab_begin_, vocab_local_, n, c_);
    on::positions_backward(cuda_, f32(wpe_->grad), dres, b, t, c_);
    call_hook(static_cast<int>(groups_.size()) - 1);
  } else {
    dx = dres_.slice(0, 0, n * c_).view({b, t, c_});
  }
  release(micro_batch);
  return dx;
}

Tensor GptStage::backward(int micro_batch, const Tensor& dy) {
  MERIDIAN_CHECK(!is_last(), "GptStage::backward: the last stage starts from its loss; call backward_loss");
  Activations& a = existing(micro_batch, "backward");
  const std::int64_t b = a.b, t = a.t, n = b * t;
  check_hidden(dy, b, t, "dy");
  ensure_scratch(b, t);
  float* dres = f32(dres_);
  Tensor dres_rows = dres_.slice(0, 0, n * c_);
  ops::copy(dres_rows, dy.contiguous().view({-1}));
  run_blocks_backward(a, dres);
  return finish_backward(micro_batch, a);
}

Tensor GptStage::backward_loss(int micro_batch, float loss_scale) {
  MERIDIAN_CHECK(is_last(), "GptStage::backward_loss: only the last stage has a loss");
  Activations& a = existing(micro_batch, "backward_loss");
  const std::int64_t b = a.b, t = a.t, n = b * t;
  ensure_scratch(b, t);
  const std::int64_t vl = vocab_local_;
  const std::int64_t valid = std::clamp<std::int64_t>(config_.vocab - vocab_begin_, 0, vl);
  const MatmulPrecision mp = config_.precision;
  float* dl = f32(dlogits_);
  on::cross_entropy_backward(cuda_, dl, f32(a.logits), f32(a.lse), a.targets.data<std::int32_t>(), vocab_begin_, n, vl,
                             valid, loss_scale / static_cast<float>(n));
  // Head: dwte += dlogitsᵀ · lnf, dlnf = dlogits · wte (partial over the vocabulary shards).
  float* dtmp = f32(dtmp_);
  on::gemm(cuda_, mp, kernels::Trans::yes, kernels::Trans::no, vl, c_, n, 1.f, dl, vl, f32(a.lnf), c_, 1.f,
                     f32(wte_->grad), c_);
  on::gemm(cuda_, mp, kernels::Trans::no, kernels::Trans::no, n, c_, vl, 1.f, dl, vl, f32(wte_->value), c_, 0.f, dtmp,
                     c_);
  tp_.all_reduce_sum({dtmp, static_cast<std::size_t>(n * c_)});
  float* dres = f32(dres_);
  Tensor dres_rows = dres_.slice(0, 0, n * c_);
  ops::fill(dres_rows, 0.0);
  on::layernorm_backward(cuda_, dres, f32(lnf_w_->grad), f32(lnf_b_->grad), dtmp, f32(a.res.back()), f32(lnf_w_->value),
                          f32(a.lnf_mean), f32(a.lnf_rstd), n, c_, f32(ln_scratch_));
  call_hook(0);
  run_blocks_backward(a, dres);
  return finish_backward(micro_batch, a);
}

}  // namespace meridian::nn
