// GptTrainer: the stage's parameters and gradients are re-homed into two flat buffers ordered by
// gradient group (the order backward finalises them), so that a data-parallel bucket is one contiguous
// range, ZeRO-1's shard is one slice, and the optimizer walks (parameter ∩ owned range) pieces.
#include "dist/hybrid/gpt_trainer.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "core/ops.hpp"
#include "core/timer.hpp"
#include "dist/pp/schedule.hpp"

#if MERIDIAN_HAVE_CUDA
#include "kernels/cuda/gpt.hpp"
#endif

namespace meridian::dist {

struct GptTrainer::Flat {
  struct Entry {
    nn::Parameter* param = nullptr;
    std::int64_t offset = 0, numel = 0;
    float decay = 0.f;         // 1 where AdamW's weight decay applies
    double norm_weight = 1.0;  // 0 for copies another rank (or stage) already counts in the norm
  };
  Tensor values, grads;  // padded to a multiple of the DP size
  std::vector<Entry> entries;
  std::vector<std::int64_t> group_end;  // end offset of each gradient group
  std::int64_t total = 0, padded = 0;
  std::int64_t own_begin = 0, own_end = 0;  // the range this rank updates
  Tensor m, v;                              // AdamW state of the owned range
  std::int64_t steps = 0;
};

struct GptTrainer::Buckets {
  std::vector<int> last_group;            // per bucket: the group whose completion starts it
  std::vector<std::int64_t> begin, end;   // per bucket: range of the flat gradients
  std::vector<Request> requests;
};

namespace {

std::span<float> range_of(Tensor& t, std::int64_t begin, std::int64_t end) {
  return {t.data<float>() + begin, static_cast<std::size_t>(end - begin)};
}

// Σ x² over each range [begin, end) of a flat f32 buffer, on its device (on a GPU with one
// synchronisation for all of them).
std::vector<double> sums_of_squares(Tensor& t, const std::vector<std::pair<std::int64_t, std::int64_t>>& ranges) {
#if MERIDIAN_HAVE_CUDA
  if (t.device().is_cuda()) return kernels::cuda::gpt::sums_of_squares(t.data<float>(), ranges);
#endif
  std::vector<double> sums;
  sums.reserve(ranges.size());
  for (const auto& [begin, end] : ranges) sums.push_back(nn::sum_of_squares(range_of(t, begin, end)));
  return sums;
}

}  // namespace

GptTrainer::GptTrainer(const nn::GptConfig& config, ProcessMesh& mesh, std::uint64_t seed,
                       const GptTrainOptions& options)
    : config_(config), mesh_(mesh), options_(options) {
  const MeshShape shape = mesh.layout().shape();
  config_.validate(shape.tp, shape.pp);
  if (options_.micro_batches < 1)
    throw InputError(cat("--micro-batches ", options_.micro_batches, ": at least one micro-batch per step"));
  options_.adamw.validate();
  options_.schedule.validate();
  if (!(options_.grad_clip >= 0.0)) throw InputError(cat("--grad-clip ", options_.grad_clip, " must be >= 0"));

  const Device device = options_.device;
  MERIDIAN_INPUT_CHECK(device.kind == mesh.tp().device_kind(), "GptTrainer: the model on ", device_name(device),
                       " needs a mesh whose communicators hold ", device.is_cuda() ? "device memory (--backend nccl)"
                                                                                  : "host memory (MPI)");
  tp_ = std::make_unique<CommTpGroup>(mesh.tp());
  stage_ = std::make_unique<nn::GptStage>(config_, mesh.pp().rank(), shape.pp, *tp_, seed, device);

  // Flat buffers in gradient-group order.
  flat_ = std::make_unique<Flat>();
  Flat& f = *flat_;
  std::map<const nn::Parameter*, const nn::GptParameter*> meta;
  for (const auto& gp : stage_->parameters()) meta[gp.param] = &gp;
  std::set<const nn::Parameter*> seen;
  for (const auto& group : stage_->gradient_groups()) {
    for (nn::Parameter* p : group) {
      MERIDIAN_CHECK(seen.insert(p).second, "GptTrainer: parameter ", p->name, " is in two gradient groups");
      const nn::GptParameter& gp = *meta.at(p);
      const bool counted = !gp.tied_copy && !(gp.tp_replicated && mesh.tp().rank() != 0);
      f.entries.push_back({p, f.total, p->value.numel(), gp.decay ? 1.f : 0.f, counted ? 1.0 : 0.0});
      f.total += p->value.numel();
    }
    f.group_end.push_back(f.total);
  }
  MERIDIAN_CHECK(seen.size() == stage_->parameters().size(), "GptTrainer: the gradient groups miss parameters");
  const std::int64_t dp = shape.dp;
  f.padded = (f.total + dp - 1) / dp * dp;
  f.values = Tensor::zeros({f.padded}, DType::f32, device);
  f.grads = Tensor::zeros({f.padded}, DType::f32, device);
  for (auto& e : f.entries) {
    Tensor value = f.values.slice(0, e.offset, e.offset + e.numel).view(e.param->value.shape());
    ops::copy(value, e.param->value);
    e.param->value = value;
    e.param->grad = f.grads.slice(0, e.offset, e.offset + e.numel).view(e.param->grad.shape());
  }
  if (options_.zero1 && dp > 1) {
    const std::int64_t shard = f.padded / dp;
    f.own_begin = mesh.dp().rank() * shard;
    f.own_end = f.own_begin + shard;
  } else {
    f.own_begin = 0;
    f.own_end = f.total;
  }
  f.m = Tensor::zeros({std::max<std::int64_t>(f.own_end - f.own_begin, 1)}, DType::f32, device);
  f.v = Tensor::zeros({std::max<std::int64_t>(f.own_end - f.own_begin, 1)}, DType::f32, device);

  // Plain data parallelism: buckets of whole consecutive groups, started as the last one completes.
  if (dp > 1 && !options_.zero1) {
    buckets_ = std::make_unique<Buckets>();
    std::int64_t begin = 0;
    const auto groups = static_cast<int>(f.group_end.size());
    for (int g = 0; g < groups; ++g) {
      const std::int64_t end = f.group_end[static_cast<std::size_t>(g)];
      if ((end - begin) * 4 >= options_.bucket_bytes || g == groups - 1) {
        buckets_->last_group.push_back(g);
        buckets_->begin.push_back(begin);
        buckets_->end.push_back(end);
        begin = end;
      }
    }
    stage_->set_gradient_hook([this](int group) {
      if (!overlap_active_) return;
      Buckets& b = *buckets_;
      for (std::size_t k = 0; k < b.last_group.size(); ++k) {
        if (b.last_group[k] != group || b.end[k] == b.begin[k]) continue;
        float* g = flat_->grads.data<float>() + b.begin[k];
        b.requests.push_back(mesh_.dp().iall_reduce(g, g, b.end[k] - b.begin[k], DType::f32, ReduceOp::avg));
      }
    });
  }
}

GptTrainer::~GptTrainer() {
  if (buckets_) {
    // An exception may leave reductions in flight: finish them before the buffers go.
    for (auto& r : buckets_->requests) {
      try {
        r.wait();
      } catch (...) {
      }
    }
  }
}

std::int64_t GptTrainer::optimizer_elements() const { return flat_->own_end - flat_->own_begin; }

void GptTrainer::run_pipeline(const Tensor& inputs, const Tensor& targets, bool train, double* loss_sum) {
  nn::GptStage& st = *stage_;
  const int m = options_.micro_batches;
  const std::int64_t b_local = inputs.size(0), t = inputs.size(1);
  MERIDIAN_CHECK(b_local % m == 0, "GptTrainer: the local batch of ", b_local, " sequences does not split into ", m,
                 " micro-batches");
  const std::int64_t bm = b_local / m;
  Communicator& pp = mesh_.pp();
  const int s = st.stage();
  std::vector<Tensor> received(static_cast<std::size_t>(m)), outputs(static_cast<std::size_t>(m)),
      grads_in(static_cast<std::size_t>(m)), grads_out(static_cast<std::size_t>(m));
  auto micro = [&](const Tensor& x, int mb) { return x.slice(0, mb * bm, (mb + 1) * bm); };
  auto hidden = [&]() { return Tensor::empty({bm, t, config_.d_model}, DType::f32, st.device()); };
  auto input_of = [&](int mb) -> Tensor { return st.is_first() ? micro(inputs, mb) : received[static_cast<std::size_t>(mb)]; };
  auto run_forward = [&](int mb) {
    if (st.is_last()) {
      *loss_sum += st.forward_loss(mb, input_of(mb), micro(targets, mb));
      if (!train) st.release(mb);
    } else {
      outputs[static_cast<std::size_t>(mb)] = st.forward(mb, input_of(mb));
    }
  };

  if (!train) {
    // Forward only: receive, compute, send, micro-batch by micro-batch (a chain, no cycle).
    for (int mb = 0; mb < m; ++mb) {
      const WallTimer timer;
      if (!st.is_first()) {
        received[static_cast<std::size_t>(mb)] = hidden();
        pp.recv(received[static_cast<std::size_t>(mb)], s - 1, pp::message_tag(pp::Direction::activation, mb));
      }
      pp_seconds_ += timer.elapsed_s();
      run_forward(mb);
      if (!st.is_last()) {
        const WallTimer send_timer;
        pp.send(outputs[static_cast<std::size_t>(mb)], s + 1, pp::message_tag(pp::Direction::activation, mb));
        st.release(mb);
        pp_seconds_ += send_timer.elapsed_s();
      }
    }
    return;
  }

  for (const pp::Action& action : pp::one_f_one_b(st.stages(), m, s)) {
    if (action.kind == pp::ActionKind::forward) {
      run_forward(action.micro_batch);
      continue;
    }
    if (action.kind == pp::ActionKind::backward) {
      const int mb = action.micro_batch;
      overlap_active_ = mb == m - 1;
      grads_out[static_cast<std::size_t>(mb)] =
          st.is_last() ? st.backward_loss(mb, 1.f / static_cast<float>(m)) : st.backward(mb, grads_in[static_cast<std::size_t>(mb)]);
      overlap_active_ = false;
      continue;
    }
    // Communication: at most one send and one receive, run together.
    const WallTimer timer;
    const void* send_buf = nullptr;
    void* recv_buf = nullptr;
    std::int64_t send_count = 0, recv_count = 0;
    int dest = Communicator::no_peer, source = Communicator::no_peer, send_tag = 0, recv_tag = 0;
    for (const pp::CommPart& part : pp::comm_parts(action, s)) {
      const auto mb = static_cast<std::size_t>(part.micro_batch);
      if (part.send) {
        const Tensor& out = part.direction == pp::Direction::activation ? outputs[mb] : grads_out[mb];
        send_buf = out.raw_data();
        send_count = out.numel();
        dest = part.peer;
        send_tag = part.tag;
      } else {
        Tensor& in = part.direction == pp::Direction::activation ? received[mb] : grads_in[mb];
        in = hidden();
        recv_buf = in.raw_data();
        recv_count = in.numel();
        source = part.peer;
        recv_tag = part.tag;
      }
    }
    if (dest != Communicator::no_peer && source != Communicator::no_peer && pp.backend() == CommBackend::nccl) {
      // NCCL has no tags and runs a lone send or receive in stream order: both halves as one group.
      pp.send_recv(send_buf, send_count, dest, recv_buf, recv_count, source, DType::f32);
    } else if (dest != Communicator::no_peer && source != Communicator::no_peer) {
      // Both directions at once; the tags of the two halves differ, so post them separately.
      Request r = pp.irecv(recv_buf, recv_count, DType::f32, source, recv_tag);
      pp.send(send_buf, send_count, DType::f32, dest, send_tag);
      r.wait();
    } else if (dest != Communicator::no_peer) {
      pp.send(send_buf, send_count, DType::f32, dest, send_tag);
    } else if (source != Communicator::no_peer) {
      pp.recv(recv_buf, recv_count, DType::f32, source, recv_tag);
    }
    pp_seconds_ += timer.elapsed_s();
  }
}

void GptTrainer::exchange_tied_embedding() {
  nn::GptStage& st = *stage_;
  if (st.stages() == 1 || !(st.is_first() || st.is_last())) return;
  nn::Parameter* wte = st.token_embedding();
  const int peer = st.is_first() ? st.stages() - 1 : 0;
  Tensor theirs = Tensor::empty(wte->grad.shape(), DType::f32, wte->grad.device());
  mesh_.pp().send_recv(wte->grad.raw_data(), wte->grad.numel(), peer, theirs.raw_data(), theirs.numel(), peer,
                       DType::f32, pp::message_tag(pp::Direction::gradient, options_.micro_batches));
  ops::axpy(1.f, theirs, wte->grad);
}

double GptTrainer::global_loss(double loss_sum) {
  // The last stage's mean over micro-batches (TP rank 0's copy), averaged over DP, known everywhere.
  const int dp = mesh_.layout().shape().dp;
  double loss = stage_->is_last() && mesh_.tp().rank() == 0 ? loss_sum / options_.micro_batches / dp : 0.0;
  mesh_.control().all_reduce(&loss, &loss, 1, DType::f64, ReduceOp::sum);
  return loss;
}

double GptTrainer::global_grad_norm_squared() {
  Flat& f = *flat_;
  const bool plain = !(options_.zero1 && mesh_.layout().shape().dp > 1);
  // Plain data parallelism: the gradients are the same on every DP rank, so DP rank 0 counts them.
  const double dp_weight = plain && mesh_.dp().rank() != 0 ? 0.0 : 1.0;
  std::vector<std::pair<std::int64_t, std::int64_t>> ranges;
  std::vector<double> weights;
  for (const auto& e : f.entries) {
    const std::int64_t begin = std::max(e.offset, f.own_begin), end = std::min(e.offset + e.numel, f.own_end);
    if (begin >= end || e.norm_weight == 0.0) continue;
    ranges.emplace_back(begin, end);
    weights.push_back(e.norm_weight);
  }
  const std::vector<double> sums = sums_of_squares(f.grads, ranges);
  double local = 0.0;
  for (std::size_t i = 0; i < sums.size(); ++i) local += weights[i] * sums[i];
  local *= dp_weight;
  mesh_.control().all_reduce(&local, &local, 1, DType::f64, ReduceOp::sum);
  return local;
}

void GptTrainer::optimizer_step(float lr, float grad_scale) {
  Flat& f = *flat_;
  ++f.steps;
  for (const auto& e : f.entries) {
    const std::int64_t begin = std::max(e.offset, f.own_begin), end = std::min(e.offset + e.numel, f.own_end);
    if (begin >= end) continue;
    Tensor g = f.grads.slice(0, begin, end);
    if (grad_scale != 1.f) ops::scale(g, grad_scale);
    const std::int64_t mb = begin - f.own_begin, me = end - f.own_begin;
#if MERIDIAN_HAVE_CUDA
    if (f.grads.device().is_cuda()) {
      const nn::AdamWHyper& h = options_.adamw;
      kernels::cuda::gpt::adamw_update(f.values.data<float>() + begin, g.data<float>(), f.m.data<float>() + mb,
                                       f.v.data<float>() + mb, end - begin, lr, h.beta1, h.beta2, h.eps,
                                       h.weight_decay * e.decay, f.steps);
      continue;
    }
#endif
    nn::adamw_update(range_of(f.values, begin, end), range_of(f.grads, begin, end), range_of(f.m, mb, me),
                     range_of(f.v, mb, me), options_.adamw, f.steps, lr, e.decay);
  }
}

GptStepStats GptTrainer::step(const Tensor& inputs, const Tensor& targets, std::int64_t step) {
  GptStepStats stats;
  const WallTimer total;
  Flat& f = *flat_;
  const int dp = mesh_.layout().shape().dp;
  ops::fill(f.grads, 0.0);
  tp_->reset_time();
  pp_seconds_ = 0.0;
  double loss_sum = 0.0;
  run_pipeline(inputs, targets, true, &loss_sum);

  const WallTimer dp_timer;
  if (buckets_) {  // plain DP: the averages started from the hooks
    wait_all(buckets_->requests);
    buckets_->requests.clear();
  }
  // The tied embedding's two parts (a sum, so before or after the DP average alike), then with
  // ZeRO-1 each rank's shard of the average.
  exchange_tied_embedding();
  if (options_.zero1 && dp > 1) {
    const std::int64_t shard = f.padded / dp;
    float* g = f.grads.data<float>();
    mesh_.dp().reduce_scatter(g, g + mesh_.dp().rank() * shard, shard, DType::f32, ReduceOp::avg);
  }
  const double norm2 = global_grad_norm_squared();
  const double loss = global_loss(loss_sum);
  stats.dp_s = dp_timer.elapsed_s();

  const WallTimer opt_timer;
  stats.loss = loss;
  stats.grad_norm = std::sqrt(norm2);
  stats.lr = options_.schedule.at(step);
  stats.skipped = !std::isfinite(stats.grad_norm);
  if (!stats.skipped) {
    const double scale = options_.grad_clip > 0 ? nn::clip_scale(stats.grad_norm, options_.grad_clip) : 1.0;
    optimizer_step(static_cast<float>(stats.lr), static_cast<float>(scale));
    if (options_.zero1 && dp > 1) {
      const std::int64_t shard = f.padded / dp;
      float* v = f.values.data<float>();
      mesh_.dp().all_gather(v + mesh_.dp().rank() * shard, v, shard, DType::f32);
    }
  }
  stats.optimizer_s = opt_timer.elapsed_s();
  stats.tp_s = tp_->seconds();
  stats.pp_s = pp_seconds_;
  stats.step_s = total.elapsed_s();
  return stats;
}

double GptTrainer::evaluate(const Tensor& inputs, const Tensor& targets) {
  double loss_sum = 0.0;
  run_pipeline(inputs, targets, false, &loss_sum);
  return global_loss(loss_sum);
}

}  // namespace meridian::dist
