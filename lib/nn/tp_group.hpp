// TpGroup: the reductions a tensor-parallel layer needs from the ranks that share one layer's shards
// (the TP group of the mesh). lib/nn only sees this interface; lib/dist/tp implements it over a
// Communicator, and SoloTpGroup is the group of one rank (no tensor parallelism).
#pragma once

#include <span>

namespace meridian::nn {

class TpGroup {
 public:
  virtual ~TpGroup() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // In place, over the group: data[i] = sum (max) over ranks of data[i]. Every rank calls with the
  // same length, in the same order.
  virtual void all_reduce_sum(std::span<float> data) = 0;
  virtual void all_reduce_max(std::span<float> data) = 0;
};

// One rank: the reductions are identities.
class SoloTpGroup final : public TpGroup {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void all_reduce_sum(std::span<float>) override {}
  void all_reduce_max(std::span<float>) override {}
};

}  // namespace meridian::nn
