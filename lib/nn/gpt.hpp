// A GPT-2-architecture decoder, split for 3D parallelism: token and position embeddings, pre-LayerNorm
// blocks (causal multi-head self-attention, GELU(tanh) MLP), a final LayerNorm and an LM head tied to
// the token embedding, with a cross-entropy loss. Shapes: tokens (B, T) i32, hidden states (B, T, C).
//
// One GptStage is what one rank holds: the blocks of one pipeline stage (plus the embeddings on the
// first stage and the final LayerNorm, head and loss on the last), each weight sharded over the
// rank's tensor-parallel group in the Megatron manner — QKV and MLP-up column-parallel, attention-out
// and MLP-down row-parallel (one all-reduce after each in forward, one before each LayerNorm's
// backward), and the vocabulary split over the group for the embedding and the cross-entropy.
// Activations are kept per micro-batch, so a pipeline schedule can have several in flight.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "nn/parameter.hpp"
#include "nn/sparse_linear.hpp"
#include "nn/tp_group.hpp"

namespace meridian::nn {

struct GptConfig {
  std::int64_t vocab = 257;    // tokens are in [0, vocab)
  std::int64_t max_seq = 256;  // rows of the position embedding; T <= max_seq
  std::int64_t layers = 4;
  std::int64_t d_model = 128;  // C
  std::int64_t heads = 4;      // NH; head size C / NH
  // N:M sparsity of the MLP's two weights (keep n of every m rows along the reduction dimension, one
  // choice per v output columns), pruned once by magnitude from the initial values and fixed; the
  // kept values are the parameters. n = 0: dense.
  NMPattern sparse_ffn{.n = 0, .m = 4, .v = 1};
  // How the matmuls compute (the linear layers, attention's two products, the LM head): fp32, or bf16
  // mixed precision — their inputs rounded to bf16, products accumulated and returned in fp32 (bf16
  // tensor cores on a GPU, emulated on the CPU). Everything else (embeddings, LayerNorm, softmax,
  // GELU, the loss, the fp32 master weights and AdamW) stays fp32.
  MatmulPrecision precision = MatmulPrecision::fp32;

  bool sparse() const { return sparse_ffn.n > 0; }

  // Rows of the token embedding: vocab rounded up to a multiple of 64 (so that it divides among
  // tensor-parallel ranks); the extra rows are never looked up and their logits are left out of the
  // softmax, so they neither change the loss nor receive gradient.
  std::int64_t padded_vocab() const;
  // Parameters of the whole model (embedding rows counted padded; the tied head once; a sparse MLP
  // weight by its kept values).
  std::int64_t parameter_count() const;
  // Training FLOPs per token at sequence length t: 6·parameters for the matmuls of forward and
  // backward, plus 12·layers·C·t for attention's scores and weighted sums (the PaLM count).
  double training_flops_per_token(std::int64_t t) const;
  // InputError naming the option (--layers, --heads, --d-model, --tp, --pp, --sparse-ffn, ...) when the
  // shape is impossible or does not split over tp tensor-parallel ranks and pp pipeline stages (a
  // sparse MLP also needs m and v to divide 4·d_model/tp, so that every shard is pruned as the whole,
  // and fp32 matmuls).
  void validate(int tp, int pp) const;
};

// A parameter of a stage and what the parallel machinery must know about it.
struct GptParameter {
  Parameter* param = nullptr;
  bool tp_replicated = false;  // the same full tensor on every TP rank (LayerNorms, row-parallel biases, wpe)
  bool decay = false;          // AdamW weight decay applies (matmul weights and embeddings)
  bool tied_copy = false;      // the last stage's copy of wte when the pipeline has more than one stage
};

class GptStage {
 public:
  // Stage `stage` of `stages` (layers split evenly and in order), sharded over `tp` (which must
  // outlive the stage). Initial values as GPT-2 (weights N(0, 0.02), the two residual projections
  // N(0, 0.02/sqrt(2·layers)), wpe N(0, 0.01), biases 0, LayerNorm gains 1) drawn per element of the
  // FULL tensor from counter-based streams under `seed`: every layout holds the same model. On
  // `device` cuda every tensor lives on the GPU and the kernels are kernels/cuda/gpt's; `tp`
  // must then reduce device memory (an NCCL group).
  GptStage(const GptConfig& config, int stage, int stages, TpGroup& tp, std::uint64_t seed,
           Device device = Device::cpu());
  ~GptStage();
  GptStage(const GptStage&) = delete;
  GptStage& operator=(const GptStage&) = delete;

  const GptConfig& config() const { return config_; }
  bool is_first() const { return stage_ == 0; }
  bool is_last() const { return stage_ == stages_ - 1; }
  int stage() const { return stage_; }
  Device device() const { return device_; }
  int stages() const { return stages_; }
  int first_layer() const { return first_layer_; }
  int layer_count() const { return static_cast<int>(blocks_.size()); }

  // Non-last stages. input: tokens (B, T) i32 on the host on the first stage (checked there, then
  // copied to the device), hidden (B, T, C) f32 on the stage's device otherwise (copied). Returns the hidden state (B, T, C) to send to the next stage (valid until the next
  // forward or backward of this micro-batch). Activations are kept under `micro_batch` until its
  // backward or release().
  Tensor forward(int micro_batch, const Tensor& input);
  // The last stage: as forward, then the LM head and the mean cross-entropy over the B·T positions
  // of targets (B, T) i32, returned (the same value on every TP rank).
  double forward_loss(int micro_batch, const Tensor& input, const Tensor& targets);

  // Backward of a non-last stage: dy (B, T, C) is the gradient with respect to forward's output.
  // Returns the gradient with respect to the stage's input hidden state (undefined on the first
  // stage, which ends in the embeddings). Parameter gradients ACCUMULATE; the activations are freed.
  Tensor backward(int micro_batch, const Tensor& dy);
  // Backward of the last stage from the gradient `loss_scale` of the objective with respect to this
  // micro-batch's loss (e.g. 1/micro-batches when the step's loss is their mean).
  Tensor backward_loss(int micro_batch, float loss_scale);
  // Drops the activations of a micro-batch without backward (evaluation).
  void release(int micro_batch);

  // The last stage's logits of a micro-batch after forward_loss: (B, T, padded_vocab / tp) for this
  // rank's vocabulary rows [tp.rank() · padded_vocab/tp, ...).
  const Tensor& logits(int micro_batch) const;

  // Every parameter of this rank's stage, in a fixed order (names as "h3.fc.weight").
  std::vector<GptParameter>& parameters() { return params_; }
  std::vector<Parameter*> parameter_list() const;
  // Groups of parameters in the order their gradients become final during backward (head, blocks
  // last to first, embeddings); `hook(i)` is called after group i is final on every backward (the
  // moment a data-parallel sync may start on it). Empty hook: none.
  const std::vector<std::vector<Parameter*>>& gradient_groups() const { return groups_; }
  void set_gradient_hook(std::function<void(int group)> hook) { hook_ = std::move(hook); }
  void zero_grad();

  // The token embedding (this rank's rows), present on the first and the last stage.
  Parameter* token_embedding() { return wte_.get(); }

 private:
  struct Block;
  struct Activations;

  Activations& activations_for(int micro_batch, std::int64_t b, std::int64_t t);
  Activations& existing(int micro_batch, const char* what) const;
  Activations& run_forward(int micro_batch, const Tensor& input, const Tensor* targets);
  Tensor finish_backward(int micro_batch, Activations& a);
  void run_blocks_forward(Activations& a);
  void run_blocks_backward(Activations& a, float* dres);
  void ensure_scratch(std::int64_t b, std::int64_t t);
  void check_hidden(const Tensor& h, std::int64_t b, std::int64_t t, const char* what) const;
  void call_hook(int group);

  GptConfig config_;
  int stage_, stages_, first_layer_;
  TpGroup& tp_;
  Device device_;
  bool cuda_ = false;
  std::int64_t c_, c_local_, heads_local_, ff_local_, vocab_local_, vocab_begin_;
  std::unique_ptr<Parameter> wte_, wpe_, lnf_w_, lnf_b_;
  std::vector<std::unique_ptr<Block>> blocks_;
  std::vector<GptParameter> params_;
  std::vector<std::vector<Parameter*>> groups_;
  std::function<void(int)> hook_;
  std::map<int, std::unique_ptr<Activations>> live_;
  std::vector<std::unique_ptr<Activations>> pool_;
  // Backward work space, sized for the largest (B, T) seen.
  std::int64_t scratch_rows_ = 0, scratch_bt_ = 0;
  Tensor dres_, dtmp_, dqkv_, datty_, dfc_, datt_, dlogits_, ln_scratch_;
};

}  // namespace meridian::nn
