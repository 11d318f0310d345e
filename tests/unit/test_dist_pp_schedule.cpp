// lib/dist/pp: the 1F1B action lists (small cases written out by hand, action counts, every shape up to
// p = 8, m = 16 through the checker) and the rendezvous checker itself, which must catch a deadlock,
// a micro-batch mismatch and broken invariants. Stages 0..p-1, micro-batches 0..m-1, time in rounds.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "dist/pp/schedule.hpp"
#include "kernels/common/error.hpp"

namespace meridian::dist::pp {

// Failure messages show actions as "send_fwd(1)" instead of raw bytes (found by ADL, so not in the
// anonymous namespace).
void PrintTo(const Action& action, std::ostream* os) { *os << to_string(action); }

namespace {

using Pipeline = std::vector<std::vector<Action>>;

// The 1F1B pipeline with every fused call split into two blocking calls, send first: the naive
// variant that deadlocks under rendezvous semantics.
Pipeline unfused(const Pipeline& pipeline) {
  Pipeline out;
  for (const auto& actions : pipeline) {
    std::vector<Action> split;
    for (const auto& a : actions) {
      if (a.kind == ActionKind::send_forward_recv_backward) {
        split.push_back(Action::send_forward(a.micro_batch));
        split.push_back(Action::recv_backward(a.peer_micro_batch));
      } else if (a.kind == ActionKind::send_backward_recv_forward) {
        split.push_back(Action::send_backward(a.micro_batch));
        split.push_back(Action::recv_forward(a.peer_micro_batch));
      } else {
        split.push_back(a);
      }
    }
    out.push_back(std::move(split));
  }
  return out;
}

// GPipe with blocking calls: every forward, then every backward in reverse order.
Pipeline gpipe(int stages, int micro_batches) {
  Pipeline out(static_cast<std::size_t>(stages));
  for (int s = 0; s < stages; ++s) {
    auto& a = out[static_cast<std::size_t>(s)];
    for (int mb = 0; mb < micro_batches; ++mb) {
      if (s > 0) a.push_back(Action::recv_forward(mb));
      a.push_back(Action::forward(mb));
      if (s < stages - 1) a.push_back(Action::send_forward(mb));
    }
    for (int mb = micro_batches - 1; mb >= 0; --mb) {
      if (s < stages - 1) a.push_back(Action::recv_backward(mb));
      a.push_back(Action::backward(mb));
      if (s > 0) a.push_back(Action::send_backward(mb));
    }
  }
  return out;
}

bool has_violation(const ScheduleCheck& r, const std::string& text) {
  return std::any_of(r.violations.begin(), r.violations.end(),
                     [&](const std::string& v) { return v.find(text) != std::string::npos; });
}

std::map<ActionKind, int> kind_counts(const std::vector<Action>& actions) {
  std::map<ActionKind, int> counts;
  for (const auto& a : actions) ++counts[a.kind];
  return counts;
}

// ---------------------------------------------------------------------------------------------
// 1F1B

TEST(PipelineSchedule, TwoStagesThreeMicroBatchesByHand) {
  // Stage 0: one warm-up forward, two steady iterations (whose send_bwd+recv_fwd vanish at stage 0),
  // one cool-down backward. Stage 1: no warm-up, three steady iterations.
  EXPECT_EQ(to_string(one_f_one_b(2, 3, 0)),
            "F0 send_fwd(0) F1 send_fwd(1)+recv_bwd(0) B0 F2 send_fwd(2)+recv_bwd(1) B1 recv_bwd(2) B2");
  EXPECT_EQ(to_string(one_f_one_b(2, 3, 1)),
            "recv_fwd(0) F0 B0 send_bwd(0)+recv_fwd(1) F1 B1 send_bwd(1)+recv_fwd(2) F2 B2 send_bwd(2)");

  const std::vector<Action> stage0 = {
      Action::forward(0),  Action::send_forward(0), Action::forward(1), Action::send_forward_recv_backward(1, 0),
      Action::backward(0), Action::forward(2),      Action::send_forward_recv_backward(2, 1),
      Action::backward(1), Action::recv_backward(2), Action::backward(2)};
  EXPECT_TRUE(one_f_one_b(2, 3, 0) == stage0);
}

TEST(PipelineSchedule, MoreSmallCasesByHand) {
  // One stage: no communication at all.
  EXPECT_EQ(to_string(one_f_one_b(1, 3, 0)), "F0 B0 F1 B1 F2 B2");
  // One micro-batch through three stages: a plain relay both ways.
  EXPECT_EQ(to_string(one_f_one_b(3, 1, 0)), "F0 send_fwd(0) recv_bwd(0) B0");
  EXPECT_EQ(to_string(one_f_one_b(3, 1, 1)), "recv_fwd(0) F0 send_fwd(0) recv_bwd(0) B0 send_bwd(0)");
  EXPECT_EQ(to_string(one_f_one_b(3, 1, 2)), "recv_fwd(0) F0 B0 send_bwd(0)");
  // m < p: the warm-up of stage 0 is cut to m and there is no steady phase.
  EXPECT_EQ(to_string(one_f_one_b(4, 2, 0)), "F0 send_fwd(0) F1 send_fwd(1) recv_bwd(0) B0 recv_bwd(1) B1");
  // A middle stage of p = 4, m = 4: warm-up 1, steady 3 with both fused calls, cool-down 1.
  EXPECT_EQ(to_string(one_f_one_b(4, 4, 2)),
            "recv_fwd(0) F0 send_fwd(0) recv_fwd(1) F1 send_fwd(1)+recv_bwd(0) B0 send_bwd(0)+recv_fwd(2) "
            "F2 send_fwd(2)+recv_bwd(1) B1 send_bwd(1)+recv_fwd(3) F3 send_fwd(3)+recv_bwd(2) B2 send_bwd(2) "
            "recv_bwd(3) B3 send_bwd(3)");
}

TEST(PipelineSchedule, ActionCountsOfEveryStage) {
  for (int p = 1; p <= 8; ++p) {
    for (int m = 1; m <= 16; ++m) {
      for (int s = 0; s < p; ++s) {
        SCOPED_TRACE(::testing::Message() << "p=" << p << " m=" << m << " s=" << s);
        const auto actions = one_f_one_b(p, m, s);
        const int w = std::min(p - s - 1, m);
        const int steady = m - w;
        const bool first = s == 0;
        const bool last = s == p - 1;
        EXPECT_EQ(warmup_forwards(p, m, s), w);
        auto c = kind_counts(actions);
        EXPECT_EQ(c[ActionKind::forward], m);
        EXPECT_EQ(c[ActionKind::backward], m);
        EXPECT_EQ(c[ActionKind::recv_forward], first ? 0 : w + (steady > 0 ? 1 : 0));
        EXPECT_EQ(c[ActionKind::send_forward], last ? 0 : w);
        EXPECT_EQ(c[ActionKind::recv_backward], last ? 0 : w);
        EXPECT_EQ(c[ActionKind::send_backward], first ? 0 : w + (steady > 0 ? 1 : 0));
        EXPECT_EQ(c[ActionKind::send_forward_recv_backward], last ? 0 : steady);
        EXPECT_EQ(c[ActionKind::send_backward_recv_forward], first || steady == 0 ? 0 : steady - 1);

        // Per direction, every micro-batch moves once, in order, and the first w actions that compute
        // are the warm-up forwards.
        std::vector<int> fwd, bwd, act_in, act_out, grad_in, grad_out;
        for (const auto& a : actions) {
          if (a.kind == ActionKind::forward) fwd.push_back(a.micro_batch);
          if (a.kind == ActionKind::backward) bwd.push_back(a.micro_batch);
          for (const auto& part : comm_parts(a, s)) {
            auto& list = part.direction == Direction::activation ? (part.send ? act_out : act_in)
                                                                  : (part.send ? grad_out : grad_in);
            list.push_back(part.micro_batch);
            EXPECT_EQ(part.peer, s + ((part.direction == Direction::activation) == part.send ? 1 : -1));
            EXPECT_EQ(part.tag, message_tag(part.direction, part.micro_batch));
          }
        }
        std::vector<int> all(static_cast<std::size_t>(m));
        for (int mb = 0; mb < m; ++mb) all[static_cast<std::size_t>(mb)] = mb;
        EXPECT_EQ(fwd, all);
        EXPECT_EQ(bwd, all);
        EXPECT_EQ(act_in, first ? std::vector<int>{} : all);
        EXPECT_EQ(act_out, last ? std::vector<int>{} : all);
        EXPECT_EQ(grad_in, last ? std::vector<int>{} : all);
        EXPECT_EQ(grad_out, first ? std::vector<int>{} : all);
        int leading_forwards = 0;
        for (const auto& a : actions) {
          if (a.kind == ActionKind::backward) break;
          if (a.kind == ActionKind::forward) ++leading_forwards;
        }
        EXPECT_EQ(leading_forwards, steady > 0 ? w + 1 : w);
      }
    }
  }
}

TEST(PipelineSchedule, EveryShapePassesTheCheckerInIdealTime) {
  for (int p = 1; p <= 8; ++p) {
    for (int m = 1; m <= 16; ++m) {
      SCOPED_TRACE(::testing::Message() << "p=" << p << " m=" << m);
      const auto r = check_schedule(one_f_one_b_pipeline(p, m));
      ASSERT_TRUE(r.ok()) << r.summary();
      EXPECT_EQ(r.stages, p);
      EXPECT_EQ(r.micro_batches, m);
      // Unit compute: the pipeline fills and drains in p - 1 rounds each way, so 2(m + p - 1) rounds,
      // of which every stage computes 2m; its idle share of compute is the 1F1B bubble (p - 1) / m.
      EXPECT_EQ(r.rounds, 2 * (m + p - 1));
      EXPECT_EQ(r.rounds, ideal_rounds(p, m));
      EXPECT_EQ(r.finish_round[0], r.rounds);  // stage 0 runs the last backward
      for (int s = 0; s < p; ++s) {
        const auto si = static_cast<std::size_t>(s);
        EXPECT_EQ(r.busy_rounds[si], 2 * m);
        EXPECT_DOUBLE_EQ(static_cast<double>(r.rounds - r.busy_rounds[si]) / r.busy_rounds[si], bubble_fraction(p, m));
        EXPECT_EQ(r.peak_in_flight[si], max_in_flight(p, m, s));
      }
    }
  }
}

TEST(PipelineSchedule, UnevenComputeStillTakesTheIdealTime) {
  // A backward costs about two forwards in a transformer; the 1F1B steady state keeps every stage
  // busy, so the whole step is still (m + p - 1)(tf + tb).
  for (const auto& [tf, tb] : std::vector<std::pair<int, int>>{{1, 2}, {2, 3}, {3, 1}}) {
    for (int p = 1; p <= 6; ++p) {
      for (int m = 1; m <= 12; ++m) {
        SCOPED_TRACE(::testing::Message() << "tf=" << tf << " tb=" << tb << " p=" << p << " m=" << m);
        CheckOptions options;
        options.forward_rounds = tf;
        options.backward_rounds = tb;
        const auto r = check_schedule(one_f_one_b_pipeline(p, m), options);
        ASSERT_TRUE(r.ok()) << r.summary();
        EXPECT_EQ(r.rounds, ideal_rounds(p, m, tf, tb));
        EXPECT_EQ(r.busy_rounds[0], m * (tf + tb));
      }
    }
  }
}

TEST(PipelineSchedule, BubbleFractionAndInFlightClosedForms) {
  EXPECT_DOUBLE_EQ(bubble_fraction(1, 7), 0.0);
  EXPECT_DOUBLE_EQ(bubble_fraction(4, 8), 3.0 / 8.0);
  EXPECT_DOUBLE_EQ(bubble_fraction(8, 16), 7.0 / 16.0);
  EXPECT_DOUBLE_EQ(bubble_fraction(8, 2), 3.5);  // m < p: more idle than compute
  EXPECT_EQ(max_in_flight(4, 8, 0), 4);
  EXPECT_EQ(max_in_flight(4, 8, 3), 1);
  EXPECT_EQ(max_in_flight(4, 2, 0), 2);  // never more than m
  EXPECT_EQ(ideal_rounds(4, 8), 22);
  EXPECT_EQ(ideal_rounds(4, 8, 1, 2), 33);
}

TEST(PipelineSchedule, CommPartsTagsAndNames) {
  const auto parts = comm_parts(Action::send_backward_recv_forward(3, 5), 2);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_TRUE(parts[0].send);
  EXPECT_EQ(parts[0].direction, Direction::gradient);
  EXPECT_EQ(parts[0].peer, 1);
  EXPECT_EQ(parts[0].micro_batch, 3);
  EXPECT_EQ(parts[0].tag, 7);
  EXPECT_FALSE(parts[1].send);
  EXPECT_EQ(parts[1].direction, Direction::activation);
  EXPECT_EQ(parts[1].peer, 1);
  EXPECT_EQ(parts[1].micro_batch, 5);
  EXPECT_EQ(parts[1].tag, 10);
  const auto sfrb = comm_parts(Action::send_forward_recv_backward(4, 1), 2);
  ASSERT_EQ(sfrb.size(), 2u);
  EXPECT_EQ(sfrb[0].peer, 3);
  EXPECT_EQ(sfrb[1].peer, 3);
  EXPECT_TRUE(comm_parts(Action::forward(0), 0).empty());
  EXPECT_TRUE(is_compute(ActionKind::backward));
  EXPECT_FALSE(is_compute(ActionKind::recv_forward));
  EXPECT_TRUE(is_fused(ActionKind::send_forward_recv_backward));
  EXPECT_FALSE(is_fused(ActionKind::send_forward));
  EXPECT_EQ(to_string(Action::send_forward_recv_backward(4, 1)), "send_fwd(4)+recv_bwd(1)");
  EXPECT_EQ(to_string(Action::recv_backward(2)), "recv_bwd(2)");
  EXPECT_EQ(to_string(std::vector<Action>{}), "");
}

TEST(PipelineSchedule, BadArgumentsThrowInputError) {
  EXPECT_THROW(one_f_one_b(0, 4, 0), InputError);
  EXPECT_THROW(one_f_one_b(2, 0, 0), InputError);
  EXPECT_THROW(one_f_one_b(2, 4, 2), InputError);
  EXPECT_THROW(one_f_one_b(2, 4, -1), InputError);
  EXPECT_THROW(one_f_one_b_pipeline(0, 1), InputError);
  EXPECT_THROW(bubble_fraction(0, 4), InputError);
  EXPECT_THROW(bubble_fraction(4, 0), InputError);
  EXPECT_THROW(max_in_flight(4, 4, 4), InputError);
  EXPECT_THROW(max_in_flight(4, -1, 0), InputError);
  EXPECT_THROW(warmup_forwards(3, 3, 3), InputError);
  EXPECT_THROW(ideal_rounds(4, 4, 0, 1), InputError);
  EXPECT_THROW(check_schedule({}), InputError);
  CheckOptions options;
  options.backward_rounds = 0;
  EXPECT_THROW(check_schedule(one_f_one_b_pipeline(2, 2), options), InputError);
  options = {};
  options.micro_batches = -1;
  EXPECT_THROW(check_schedule(one_f_one_b_pipeline(2, 2), options), InputError);
}

// ---------------------------------------------------------------------------------------------
// The checker must be able to fail

TEST(PipelineScheduleCheck, UnfusedNaiveScheduleDeadlocks) {
  // Stage 0: F1 then send_fwd(1) blocks until stage 1 posts recv_fwd(1); stage 1 first has to finish
  // send_bwd(0), which waits for stage 0's recv_bwd(0), queued behind the send.
  const auto r = check_schedule(unfused(one_f_one_b_pipeline(2, 2)));
  ASSERT_EQ(r.verdict, CheckVerdict::deadlock) << r.summary();
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.stuck.size(), 2u);
  EXPECT_EQ(r.stuck[0].stage, 0);
  EXPECT_EQ(r.stuck[0].action, Action::send_forward(1));
  ASSERT_EQ(r.stuck[0].pending.size(), 1u);
  EXPECT_EQ(r.stuck[0].pending[0].peer, 1);
  EXPECT_EQ(r.stuck[1].stage, 1);
  EXPECT_EQ(r.stuck[1].action, Action::send_backward(0));
  EXPECT_EQ(r.rounds, 3);  // F0 | F1, F0 | B0, then nothing moves
  EXPECT_NE(r.summary().find("deadlock"), std::string::npos);
  EXPECT_NE(r.summary().find("stage 0 stuck at #3 send_fwd(1)"), std::string::npos) << r.summary();

  // The same holds for every pipeline with two stages or more once m >= 2; with m = 1 there is no
  // steady-state exchange and the naive form is harmless.
  for (int p = 2; p <= 6; ++p) {
    for (int m = 1; m <= 8; ++m) {
      const auto naive = check_schedule(unfused(one_f_one_b_pipeline(p, m)));
      EXPECT_EQ(naive.verdict, m >= 2 ? CheckVerdict::deadlock : CheckVerdict::ok)
          << "p=" << p << " m=" << m << ": " << naive.summary();
    }
  }
}

TEST(PipelineScheduleCheck, SwappedMicroBatchesAreAMismatch) {
  auto pipeline = one_f_one_b_pipeline(2, 3);
  // Stage 1 asks for activations 2 and 1 where stage 0 sends 1 and 2.
  auto& stage1 = pipeline[1];
  ASSERT_EQ(stage1[3], Action::send_backward_recv_forward(0, 1));
  ASSERT_EQ(stage1[6], Action::send_backward_recv_forward(1, 2));
  stage1[3].peer_micro_batch = 2;
  stage1[6].peer_micro_batch = 1;
  const auto r = check_schedule(pipeline);
  ASSERT_EQ(r.verdict, CheckVerdict::mismatch) << r.summary();
  ASSERT_TRUE(r.mismatch.has_value());
  EXPECT_EQ(r.mismatch->stage, 1);
  EXPECT_EQ(r.mismatch->action_index, 3);
  EXPECT_EQ(r.mismatch->from_stage, 0);
  EXPECT_EQ(r.mismatch->from_action, Action::send_forward_recv_backward(1, 0));
  EXPECT_EQ(r.mismatch->direction, Direction::activation);
  EXPECT_EQ(r.mismatch->expected_micro_batch, 2);
  EXPECT_EQ(r.mismatch->sent_micro_batch, 1);

  // Gradients too: stage 0 of p = 3, m = 4 expecting them in the wrong order in the cool-down.
  auto p3 = one_f_one_b_pipeline(3, 4);
  std::vector<int> cooldown;
  for (std::size_t i = 0; i < p3[0].size(); ++i) {
    if (p3[0][i].kind == ActionKind::recv_backward) cooldown.push_back(static_cast<int>(i));
  }
  ASSERT_EQ(cooldown.size(), 2u);
  std::swap(p3[0][static_cast<std::size_t>(cooldown[0])].micro_batch,
            p3[0][static_cast<std::size_t>(cooldown[1])].micro_batch);
  const auto g = check_schedule(p3);
  ASSERT_EQ(g.verdict, CheckVerdict::mismatch) << g.summary();
  EXPECT_EQ(g.mismatch->direction, Direction::gradient);
  EXPECT_EQ(g.mismatch->stage, 0);
  EXPECT_EQ(g.mismatch->from_stage, 1);
}

TEST(PipelineScheduleCheck, MissingBackwardBreaksAnInvariant) {
  auto pipeline = one_f_one_b_pipeline(3, 4);
  auto& stage1 = pipeline[1];
  const auto it = std::find(stage1.begin(), stage1.end(), Action::backward(2));
  ASSERT_NE(it, stage1.end());
  stage1.erase(it);
  const auto r = check_schedule(pipeline);
  ASSERT_EQ(r.verdict, CheckVerdict::invariant) << r.summary();
  EXPECT_TRUE(has_violation(r, "sends the gradient of micro-batch 2 before its backward")) << r.summary();
  EXPECT_TRUE(has_violation(r, "stage 1: micro-batch 2 forwarded 1 times and backwarded 0 times")) << r.summary();
}

TEST(PipelineScheduleCheck, OtherInvariantViolations) {
  {  // forward before its activation arrives (stage 1 computes, then receives)
    auto pipeline = one_f_one_b_pipeline(2, 2);
    ASSERT_EQ(pipeline[1][0], Action::recv_forward(0));
    std::swap(pipeline[1][0], pipeline[1][1]);
    const auto r = check_schedule(pipeline);
    ASSERT_EQ(r.verdict, CheckVerdict::invariant) << r.summary();
    EXPECT_TRUE(has_violation(r, "forward of micro-batch 0 before its activation arrived")) << r.summary();
  }
  {  // backward before its gradient arrives (stage 0 of p = 2, m = 1)
    auto pipeline = one_f_one_b_pipeline(2, 1);
    ASSERT_EQ(to_string(pipeline[0]), "F0 send_fwd(0) recv_bwd(0) B0");
    std::swap(pipeline[0][2], pipeline[0][3]);
    const auto r = check_schedule(pipeline);
    ASSERT_EQ(r.verdict, CheckVerdict::invariant) << r.summary();
    EXPECT_TRUE(has_violation(r, "before its gradient arrived")) << r.summary();
  }
  {  // stage 0 receiving an activation names stage -1: not simulated
    auto pipeline = one_f_one_b_pipeline(2, 2);
    pipeline[0].insert(pipeline[0].begin(), Action::recv_forward(0));
    const auto r = check_schedule(pipeline);
    ASSERT_EQ(r.verdict, CheckVerdict::invariant) << r.summary();
    EXPECT_EQ(r.rounds, 0);
    EXPECT_TRUE(has_violation(r, "names stage -1")) << r.summary();
  }
  {  // a micro-batch index beyond the declared count
    CheckOptions options;
    options.micro_batches = 2;
    const auto r = check_schedule(one_f_one_b_pipeline(2, 3), options);
    ASSERT_EQ(r.verdict, CheckVerdict::invariant) << r.summary();
    EXPECT_TRUE(has_violation(r, "micro-batch 2 is outside 0..1")) << r.summary();
  }
  {  // a micro-batch the schedule forgets entirely, caught only when m is declared
    CheckOptions options;
    options.micro_batches = 4;
    const auto r = check_schedule(one_f_one_b_pipeline(2, 3), options);
    ASSERT_EQ(r.verdict, CheckVerdict::invariant) << r.summary();
    EXPECT_TRUE(has_violation(r, "micro-batch 3 forwarded 0 times")) << r.summary();
  }
  {  // nothing at all
    const auto r = check_schedule(Pipeline(3));
    EXPECT_EQ(r.verdict, CheckVerdict::invariant) << r.summary();
  }
}

TEST(PipelineScheduleCheck, GPipeRunsButHoldsEveryActivation) {
  // Blocking GPipe never deadlocks, but stage 0 holds all m activations, above the 1F1B bound.
  const auto pipeline = gpipe(4, 8);
  CheckOptions unlimited;
  unlimited.limit_in_flight = false;
  const auto free_run = check_schedule(pipeline, unlimited);
  ASSERT_TRUE(free_run.ok()) << free_run.summary();
  EXPECT_EQ(free_run.peak_in_flight[0], 8);
  EXPECT_EQ(free_run.rounds, ideal_rounds(4, 8));  // same time as 1F1B, more memory

  const auto bounded = check_schedule(pipeline);
  ASSERT_EQ(bounded.verdict, CheckVerdict::invariant) << bounded.summary();
  EXPECT_TRUE(has_violation(bounded, "5 activations held, more than max_in_flight = 4")) << bounded.summary();
}

}  // namespace
}  // namespace meridian::dist::pp
