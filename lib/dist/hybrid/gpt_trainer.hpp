// GptTrainer: one training step of a GPT over a DP × TP × PP ProcessMesh. The rank's GptStage (its
// pipeline stage, its tensor-parallel shard) runs the micro-batches in the 1F1B order of
// dist/pp/schedule, exchanging activations and gradients with its neighbour stages; the data-parallel
// gradient average is bucketed and started from the backward hooks of the last micro-batch (or, with
// ZeRO-1, a reduce-scatter after the pipeline flush); the tied embedding's two copies are summed across
// the first and last stage; the global gradient norm is clipped over every group; AdamW updates the
// parameters this rank owns (all of them, or its 1/dp slice with ZeRO-1, then an all-gather).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "comm/process_mesh.hpp"
#include "core/tensor.hpp"
#include "dist/tp/comm_tp_group.hpp"
#include "nn/adamw.hpp"
#include "nn/gpt.hpp"

namespace meridian::dist {

struct GptTrainOptions {
  int micro_batches = 1;                 // per step and data-parallel rank; must divide the local batch
  bool zero1 = false;                    // shard AdamW's state over the DP group
  std::int64_t bucket_bytes = 25 << 20;  // data-parallel all-reduce buckets (plain DP)
  nn::AdamWHyper adamw;
  double grad_clip = 1.0;                // max global gradient norm; 0 = no clipping
  nn::LrSchedule schedule;
  Device device = Device::cpu();         // cuda: the stage on this rank's GPU; the mesh must be NCCL
};

struct GptStepStats {
  double loss = 0.0;       // mean over the global batch (every rank has it)
  double lr = 0.0;
  double grad_norm = 0.0;  // before clipping
  bool skipped = false;    // a non-finite gradient norm: no update
  double step_s = 0.0;     // this rank's wall time of the step
  double tp_s = 0.0;       // of which in tensor-parallel all-reduces
  double pp_s = 0.0;       // in pipeline sends and receives (waiting on neighbours included)
  double dp_s = 0.0;       // waiting for the data-parallel reduction, the embedding exchange and the norm
  double optimizer_s = 0.0;
};

class GptTrainer {
 public:
  // Builds this rank's stage from the mesh coordinates; every rank of the mesh calls it.
  GptTrainer(const nn::GptConfig& config, ProcessMesh& mesh, std::uint64_t seed, const GptTrainOptions& options);
  ~GptTrainer();
  GptTrainer(const GptTrainer&) = delete;
  GptTrainer& operator=(const GptTrainer&) = delete;

  // One optimizer step at step index `step` (0-based, for the learning-rate schedule). inputs and
  // targets (B_local, T) i32 are this data-parallel rank's share of the global batch; the first stage
  // reads inputs, the last stage targets (the other ranks may pass the same tensors).
  GptStepStats step(const Tensor& inputs, const Tensor& targets, std::int64_t step);
  // Mean loss over the given batch (this DP rank's share; averaged over DP), no update; every rank
  // gets the value.
  double evaluate(const Tensor& inputs, const Tensor& targets);

  nn::GptStage& stage() { return *stage_; }
  const GptTrainOptions& options() const { return options_; }
  // Parameters this rank updates with AdamW (all of its stage's, or its ZeRO-1 slice of them).
  std::int64_t optimizer_elements() const;

 private:
  struct Flat;
  struct Buckets;
  void run_pipeline(const Tensor& inputs, const Tensor& targets, bool train, double* loss_sum);
  void exchange_tied_embedding();
  double global_grad_norm_squared();
  double global_loss(double loss_sum);
  void optimizer_step(float lr, float grad_scale);

  nn::GptConfig config_;
  ProcessMesh& mesh_;
  GptTrainOptions options_;
  std::unique_ptr<CommTpGroup> tp_;
  std::unique_ptr<nn::GptStage> stage_;
  std::unique_ptr<Flat> flat_;
  std::unique_ptr<Buckets> buckets_;
  bool overlap_active_ = false;
  double pp_seconds_ = 0.0;
};

}  // namespace meridian::dist
