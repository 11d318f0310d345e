// CommTpGroup: blocking in-place all-reduces; a group of one rank costs nothing.
#include "dist/tp/comm_tp_group.hpp"

#include "core/timer.hpp"

namespace meridian::dist {

void CommTpGroup::reduce(std::span<float> data, ReduceOp op) {
  if (comm_.size() == 1 || data.empty()) return;
  const WallTimer timer;
  comm_.all_reduce(data.data(), data.data(), static_cast<std::int64_t>(data.size()), DType::f32, op);
  seconds_ += timer.elapsed_s();
}

void CommTpGroup::all_reduce_sum(std::span<float> data) { reduce(data, ReduceOp::sum); }
void CommTpGroup::all_reduce_max(std::span<float> data) { reduce(data, ReduceOp::max); }

}  // namespace meridian::dist
