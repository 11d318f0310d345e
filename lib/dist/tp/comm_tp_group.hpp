// The tensor-parallel group of lib/nn's GPT layers over a Communicator (the TP communicator of the
// ProcessMesh): every all-reduce a sharded layer asks for, timed so that a step can report how much
// of it went to tensor-parallel communication.
#pragma once

#include "comm/communicator.hpp"
#include "nn/tp_group.hpp"

namespace meridian::dist {

class CommTpGroup final : public nn::TpGroup {
 public:
  explicit CommTpGroup(Communicator& comm) : comm_(comm) {}
  int rank() const override { return comm_.rank(); }
  int size() const override { return comm_.size(); }
  void all_reduce_sum(std::span<float> data) override;
  void all_reduce_max(std::span<float> data) override;

  double seconds() const { return seconds_; }  // in all-reduces since construction or reset
  void reset_time() { seconds_ = 0.0; }

 private:
  void reduce(std::span<float> data, ReduceOp op);
  Communicator& comm_;
  double seconds_ = 0.0;
};

}  // namespace meridian::dist
