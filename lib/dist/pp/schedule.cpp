// The 1F1B action lists and the rendezvous checker. Stages 0..p-1 (activations to s+1, gradients to
// s-1), micro-batches 0..m-1; the checker counts time in rounds of unit-free compute.
#include "dist/pp/schedule.hpp"

#include <algorithm>
#include <cstddef>
#include <sstream>

#include "kernels/common/error.hpp"

namespace meridian::dist::pp {

namespace {

std::size_t idx(int i) { return static_cast<std::size_t>(i); }

void check_shape(int stages, int micro_batches) {
  MERIDIAN_INPUT_CHECK(stages >= 1, "pipeline schedule: the number of stages must be at least 1 (got ", stages, ")");
  MERIDIAN_INPUT_CHECK(micro_batches >= 1, "pipeline schedule: the number of micro-batches must be at least 1 (got ",
                       micro_batches, ")");
}

void check_stage(int stages, int micro_batches, int stage) {
  check_shape(stages, micro_batches);
  MERIDIAN_INPUT_CHECK(stage >= 0 && stage < stages, "pipeline schedule: stage ", stage, " is outside 0..",
                       stages - 1);
}

CommPart part(bool send, Direction direction, int peer, int micro_batch) {
  return CommPart{send, direction, peer, micro_batch, message_tag(direction, micro_batch)};
}

}  // namespace

bool is_compute(ActionKind kind) { return kind == ActionKind::forward || kind == ActionKind::backward; }

bool is_fused(ActionKind kind) {
  return kind == ActionKind::send_forward_recv_backward || kind == ActionKind::send_backward_recv_forward;
}

int message_tag(Direction direction, int micro_batch) {
  return 2 * micro_batch + (direction == Direction::gradient ? 1 : 0);
}

std::vector<CommPart> comm_parts(const Action& action, int stage) {
  const int mb = action.micro_batch;
  const int recv_mb = action.peer_micro_batch;
  switch (action.kind) {
    case ActionKind::forward:
    case ActionKind::backward:
      return {};
    case ActionKind::recv_forward:
      return {part(false, Direction::activation, stage - 1, mb)};
    case ActionKind::send_forward:
      return {part(true, Direction::activation, stage + 1, mb)};
    case ActionKind::recv_backward:
      return {part(false, Direction::gradient, stage + 1, mb)};
    case ActionKind::send_backward:
      return {part(true, Direction::gradient, stage - 1, mb)};
    case ActionKind::send_forward_recv_backward:
      return {part(true, Direction::activation, stage + 1, mb), part(false, Direction::gradient, stage + 1, recv_mb)};
    case ActionKind::send_backward_recv_forward:
      return {part(true, Direction::gradient, stage - 1, mb), part(false, Direction::activation, stage - 1, recv_mb)};
  }
  MERIDIAN_CHECK(false, "unknown action kind ", static_cast<int>(action.kind));
  return {};
}

std::string to_string(const Action& action) {
  const auto mb = std::to_string(action.micro_batch);
  const auto peer = std::to_string(action.peer_micro_batch);
  switch (action.kind) {
    case ActionKind::forward:
      return "F" + mb;
    case ActionKind::backward:
      return "B" + mb;
    case ActionKind::recv_forward:
      return "recv_fwd(" + mb + ")";
    case ActionKind::send_forward:
      return "send_fwd(" + mb + ")";
    case ActionKind::recv_backward:
      return "recv_bwd(" + mb + ")";
    case ActionKind::send_backward:
      return "send_bwd(" + mb + ")";
    case ActionKind::send_forward_recv_backward:
      return "send_fwd(" + mb + ")+recv_bwd(" + peer + ")";
    case ActionKind::send_backward_recv_forward:
      return "send_bwd(" + mb + ")+recv_fwd(" + peer + ")";
  }
  return "?";
}

std::string to_string(const std::vector<Action>& actions) {
  std::string out;
  for (const auto& a : actions) {
    if (!out.empty()) out += ' ';
    out += to_string(a);
  }
  return out;
}

std::string to_string(Direction direction) { return direction == Direction::activation ? "activation" : "gradient"; }

std::string to_string(CheckVerdict verdict) {
  switch (verdict) {
    case CheckVerdict::ok:
      return "ok";
    case CheckVerdict::deadlock:
      return "deadlock";
    case CheckVerdict::mismatch:
      return "mismatch";
    case CheckVerdict::invariant:
      return "invariant";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------
// 1F1B

int warmup_forwards(int stages, int micro_batches, int stage) {
  check_stage(stages, micro_batches, stage);
  return std::min(stages - stage - 1, micro_batches);
}

std::vector<Action> one_f_one_b(int stages, int micro_batches, int stage) {
  const int warmup = warmup_forwards(stages, micro_batches, stage);
  const int steady = micro_batches - warmup;
  const bool first = stage == 0;
  const bool last = stage == stages - 1;

  std::vector<Action> out;
  out.reserve(idx(6 * micro_batches + 1));
  // Communication toward a pipeline end that does not exist is dropped; fused calls pair parts with
  // the same neighbour, so they vanish whole.
  auto recv_fwd = [&](int mb) {
    if (!first) out.push_back(Action::recv_forward(mb));
  };
  auto send_fwd = [&](int mb) {
    if (!last) out.push_back(Action::send_forward(mb));
  };
  auto recv_bwd = [&](int mb) {
    if (!last) out.push_back(Action::recv_backward(mb));
  };
  auto send_bwd = [&](int mb) {
    if (!first) out.push_back(Action::send_backward(mb));
  };
  auto send_fwd_recv_bwd = [&](int send_mb, int recv_mb) {
    if (!last) out.push_back(Action::send_forward_recv_backward(send_mb, recv_mb));
  };
  auto send_bwd_recv_fwd = [&](int send_mb, int recv_mb) {
    if (!first) out.push_back(Action::send_backward_recv_forward(send_mb, recv_mb));
  };

  for (int mb = 0; mb < warmup; ++mb) {
    recv_fwd(mb);
    out.push_back(Action::forward(mb));
    send_fwd(mb);
  }
  if (steady > 0) recv_fwd(warmup);
  for (int i = 0; i < steady; ++i) {
    const int fwd_mb = warmup + i;
    const int bwd_mb = i;
    out.push_back(Action::forward(fwd_mb));
    send_fwd_recv_bwd(fwd_mb, bwd_mb);
    out.push_back(Action::backward(bwd_mb));
    if (i == steady - 1) {
      send_bwd(bwd_mb);
    } else {
      send_bwd_recv_fwd(bwd_mb, fwd_mb + 1);
    }
  }
  for (int mb = steady; mb < micro_batches; ++mb) {
    recv_bwd(mb);
    out.push_back(Action::backward(mb));
    send_bwd(mb);
  }
  return out;
}

std::vector<std::vector<Action>> one_f_one_b_pipeline(int stages, int micro_batches) {
  check_shape(stages, micro_batches);
  std::vector<std::vector<Action>> out;
  out.reserve(idx(stages));
  for (int s = 0; s < stages; ++s) out.push_back(one_f_one_b(stages, micro_batches, s));
  return out;
}

double bubble_fraction(int stages, int micro_batches) {
  check_shape(stages, micro_batches);
  return static_cast<double>(stages - 1) / static_cast<double>(micro_batches);
}

int max_in_flight(int stages, int micro_batches, int stage) {
  check_stage(stages, micro_batches, stage);
  return std::min(stages - stage, micro_batches);
}

int ideal_rounds(int stages, int micro_batches, int forward_rounds, int backward_rounds) {
  check_shape(stages, micro_batches);
  MERIDIAN_INPUT_CHECK(forward_rounds >= 1 && backward_rounds >= 1,
                       "pipeline schedule: forward and backward must take at least 1 round each (got ", forward_rounds,
                       " and ", backward_rounds, ")");
  return (micro_batches + stages - 1) * (forward_rounds + backward_rounds);
}

// ---------------------------------------------------------------------------------------------
// The checker

namespace {

// Where one stage is: its program counter, the parts of its current call and which are done, the
// rounds left of its current compute, and what it has seen of every micro-batch.
struct StageState {
  int pc = 0;
  std::vector<CommPart> parts;
  std::vector<bool> part_done;
  int compute_left = 0;  // 0: the current compute has not started
  std::vector<int> forwards, backwards;                      // how often each mb was computed
  std::vector<int> activations_received, gradients_received;  // how often each mb arrived
  int held = 0;
};

class Simulator {
 public:
  Simulator(const std::vector<std::vector<Action>>& per_stage, const CheckOptions& options, ScheduleCheck& result)
      : plan_(per_stage), options_(options), r_(result), p_(static_cast<int>(per_stage.size())) {}

  void run();

 private:
  bool at_end(int s) const { return state_[idx(s)].pc >= static_cast<int>(plan_[idx(s)].size()); }
  const Action& current(int s) const { return plan_[idx(s)][idx(state_[idx(s)].pc)]; }
  bool at_comm(int s) const { return !at_end(s) && !is_compute(current(s).kind); }
  void load_parts(int s);
  bool settle_communication();  // false once a mismatch ended the check
  void compute(int s, int round);
  void violation(int s, const std::string& what) {
    r_.violations.push_back(cat("stage ", s, " at #", state_[idx(s)].pc, " ", to_string(current(s)), ": ", what));
  }

  const std::vector<std::vector<Action>>& plan_;
  const CheckOptions& options_;
  ScheduleCheck& r_;
  int p_;
  std::vector<StageState> state_;
};

void Simulator::load_parts(int s) {
  auto& st = state_[idx(s)];
  st.parts.clear();
  st.part_done.clear();
  if (at_comm(s)) {
    st.parts = comm_parts(current(s), s);
    st.part_done.assign(st.parts.size(), false);
  }
}

bool Simulator::settle_communication() {
  bool progress = true;
  while (progress) {
    progress = false;
    for (int a = 0; a < p_; ++a) {
      if (!at_comm(a)) continue;
      auto& sa = state_[idx(a)];
      for (std::size_t i = 0; i < sa.parts.size(); ++i) {
        const CommPart& send = sa.parts[i];
        if (!send.send || sa.part_done[i]) continue;
        const int b = send.peer;
        if (!at_comm(b)) continue;
        auto& sb = state_[idx(b)];
        for (std::size_t j = 0; j < sb.parts.size(); ++j) {
          const CommPart& recv = sb.parts[j];
          if (recv.send || sb.part_done[j] || recv.direction != send.direction) continue;
          // Paired in program order: the n-th message a -> b of this direction meets the n-th receive.
          if (recv.micro_batch != send.micro_batch) {
            r_.mismatch = Mismatch{b, sb.pc, current(b), a, sa.pc, current(a), send.direction, recv.micro_batch,
                                   send.micro_batch};
            return false;
          }
          const int mb = send.micro_batch;
          if (send.direction == Direction::activation) {
            if (sa.forwards[idx(mb)] == 0) {
              violation(a, cat("sends the activation of micro-batch ", mb, " before its forward"));
            }
            if (sb.activations_received[idx(mb)]++ > 0) {
              violation(b, cat("receives the activation of micro-batch ", mb, " a second time"));
            }
          } else {
            if (sa.backwards[idx(mb)] == 0) {
              violation(a, cat("sends the gradient of micro-batch ", mb, " before its backward"));
            }
            if (sb.gradients_received[idx(mb)]++ > 0) {
              violation(b, cat("receives the gradient of micro-batch ", mb, " a second time"));
            }
          }
          sa.part_done[i] = true;
          sb.part_done[j] = true;
          progress = true;
          break;
        }
      }
    }
    for (int s = 0; s < p_; ++s) {
      if (!at_comm(s)) continue;
      const auto& done = state_[idx(s)].part_done;
      if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) {
        ++state_[idx(s)].pc;
        load_parts(s);
        progress = true;
      }
    }
  }
  return true;
}

void Simulator::compute(int s, int round) {
  auto& st = state_[idx(s)];
  const Action& act = current(s);
  const int mb = act.micro_batch;
  const bool fwd = act.kind == ActionKind::forward;
  if (st.compute_left == 0) {  // starts now: check its inputs
    if (fwd) {
      if (s > 0 && st.activations_received[idx(mb)] == 0) {
        violation(s, cat("forward of micro-batch ", mb, " before its activation arrived from stage ", s - 1));
      }
    } else {
      if (st.forwards[idx(mb)] == 0) violation(s, cat("backward of micro-batch ", mb, " before its forward"));
      if (s < p_ - 1 && st.gradients_received[idx(mb)] == 0) {
        violation(s, cat("backward of micro-batch ", mb, " before its gradient arrived from stage ", s + 1));
      }
    }
    st.compute_left = fwd ? options_.forward_rounds : options_.backward_rounds;
  }
  ++r_.busy_rounds[idx(s)];
  if (--st.compute_left > 0) return;

  r_.finish_round[idx(s)] = round;
  if (fwd) {
    if (st.forwards[idx(mb)]++ > 0) violation(s, cat("micro-batch ", mb, " forwarded a second time"));
    ++st.held;
    r_.peak_in_flight[idx(s)] = std::max(r_.peak_in_flight[idx(s)], st.held);
    const int limit = max_in_flight(p_, r_.micro_batches, s);
    if (options_.limit_in_flight && st.held > limit) {
      violation(s, cat(st.held, " activations held, more than max_in_flight = ", limit));
    }
  } else {
    if (st.backwards[idx(mb)]++ > 0) violation(s, cat("micro-batch ", mb, " backwarded a second time"));
    if (st.forwards[idx(mb)] > 0 && st.backwards[idx(mb)] == 1) --st.held;
  }
  ++st.pc;
  load_parts(s);
}

void Simulator::run() {
  const auto m = idx(r_.micro_batches);
  state_.assign(idx(p_), StageState{});
  for (int s = 0; s < p_; ++s) {
    auto& st = state_[idx(s)];
    st.forwards.assign(m, 0);
    st.backwards.assign(m, 0);
    st.activations_received.assign(m, 0);
    st.gradients_received.assign(m, 0);
    load_parts(s);
  }

  int round = 0;
  while (true) {
    if (!settle_communication()) {
      r_.rounds = round;
      return;
    }
    bool computed = false;
    for (int s = 0; s < p_; ++s) {
      if (at_end(s) || !is_compute(current(s).kind)) continue;
      if (!computed) ++round;
      computed = true;
      compute(s, round);
    }
    if (!computed) break;
  }
  r_.rounds = round;

  for (int s = 0; s < p_; ++s) {
    if (at_end(s)) continue;
    const auto& st = state_[idx(s)];
    StuckStage stuck{s, st.pc, current(s), {}};
    for (std::size_t i = 0; i < st.parts.size(); ++i) {
      if (!st.part_done[i]) stuck.pending.push_back(st.parts[i]);
    }
    r_.stuck.push_back(std::move(stuck));
  }
  if (!r_.stuck.empty()) return;

  for (int s = 0; s < p_; ++s) {
    const auto& st = state_[idx(s)];
    for (int mb = 0; mb < r_.micro_batches; ++mb) {
      const int f = st.forwards[idx(mb)];
      const int b = st.backwards[idx(mb)];
      if (f != 1 || b != 1) {
        r_.violations.push_back(cat("stage ", s, ": micro-batch ", mb, " forwarded ", f, " times and backwarded ", b,
                                    " times (expected 1 and 1)"));
      }
    }
  }
}

// Indices and peers in range, before anything is simulated (they index the per-micro-batch state).
void check_structure(const std::vector<std::vector<Action>>& per_stage, int micro_batches,
                     std::vector<std::string>& violations) {
  const int p = static_cast<int>(per_stage.size());
  for (int s = 0; s < p; ++s) {
    const auto& actions = per_stage[idx(s)];
    for (std::size_t i = 0; i < actions.size(); ++i) {
      const Action& a = actions[i];
      const auto where = cat("stage ", s, " at #", i, " ", to_string(a), ": ");
      auto in_range = [&](int mb) { return mb >= 0 && mb < micro_batches; };
      if (!in_range(a.micro_batch)) {
        violations.push_back(cat(where, "micro-batch ", a.micro_batch, " is outside 0..", micro_batches - 1));
      }
      if (is_fused(a.kind) && !in_range(a.peer_micro_batch)) {
        violations.push_back(cat(where, "micro-batch ", a.peer_micro_batch, " is outside 0..", micro_batches - 1));
      }
      for (const auto& part : comm_parts(a, s)) {
        if (part.peer < 0 || part.peer >= p) {
          violations.push_back(cat(where, "its ", to_string(part.direction), part.send ? " send" : " receive",
                                   " names stage ", part.peer, ", outside 0..", p - 1));
        }
      }
    }
  }
}

}  // namespace

ScheduleCheck check_schedule(const std::vector<std::vector<Action>>& per_stage, const CheckOptions& options) {
  MERIDIAN_INPUT_CHECK(!per_stage.empty(), "schedule check: no stages");
  MERIDIAN_INPUT_CHECK(options.micro_batches >= 0, "schedule check: micro_batches must be >= 0 (0 = inferred), got ",
                       options.micro_batches);
  MERIDIAN_INPUT_CHECK(options.forward_rounds >= 1 && options.backward_rounds >= 1,
                       "schedule check: forward_rounds and backward_rounds must be at least 1 (got ",
                       options.forward_rounds, " and ", options.backward_rounds, ")");
  ScheduleCheck r;
  r.stages = static_cast<int>(per_stage.size());
  r.micro_batches = options.micro_batches;
  if (r.micro_batches == 0) {
    for (const auto& actions : per_stage) {
      for (const auto& a : actions) {
        r.micro_batches = std::max({r.micro_batches, a.micro_batch + 1, a.peer_micro_batch + 1});
      }
    }
  }
  r.busy_rounds.assign(idx(r.stages), 0);
  r.finish_round.assign(idx(r.stages), 0);
  r.peak_in_flight.assign(idx(r.stages), 0);

  if (r.micro_batches == 0) {
    r.violations.push_back("no micro-batches: every stage's schedule is empty");
  } else {
    check_structure(per_stage, r.micro_batches, r.violations);
    if (r.violations.empty()) Simulator(per_stage, options, r).run();
  }

  if (r.mismatch) {
    r.verdict = CheckVerdict::mismatch;
  } else if (!r.stuck.empty()) {
    r.verdict = CheckVerdict::deadlock;
  } else if (!r.violations.empty()) {
    r.verdict = CheckVerdict::invariant;
  } else {
    r.verdict = CheckVerdict::ok;
  }
  return r;
}

std::string ScheduleCheck::summary() const {
  std::ostringstream os;
  os << to_string(verdict) << ": " << stages << " stages, " << micro_batches << " micro-batches, " << rounds
     << " rounds";
  if (mismatch) {
    const auto& mm = *mismatch;
    os << " | stage " << mm.stage << " at #" << mm.action_index << " " << to_string(mm.action) << " expects the "
       << to_string(mm.direction) << " of micro-batch " << mm.expected_micro_batch << " but stage " << mm.from_stage
       << " at #" << mm.from_action_index << " " << to_string(mm.from_action) << " sends micro-batch "
       << mm.sent_micro_batch;
  }
  for (const auto& st : stuck) {
    os << " | stage " << st.stage << " stuck at #" << st.action_index << " " << to_string(st.action);
    for (const auto& part : st.pending) {
      os << (part.send ? " (send " : " (recv ") << to_string(part.direction) << " " << part.micro_batch
         << (part.send ? " to stage " : " from stage ") << part.peer << ")";
    }
  }
  const std::size_t shown = std::min<std::size_t>(violations.size(), 3);
  for (std::size_t i = 0; i < shown; ++i) os << " | " << violations[i];
  if (violations.size() > shown) os << " | ... " << violations.size() - shown << " more violations";
  return os.str();
}

}  // namespace meridian::dist::pp
