// Pipeline-parallel schedules as plain data: the 1F1B (PipeDream-Flush, Megatron non-interleaved)
// action list of one stage, and a checker that runs every stage's list against the others under
// rendezvous point-to-point semantics. Stages 0..p-1 (activations flow 0 -> p-1, gradients back);
// micro-batches 0..m-1. No MPI here: a runtime maps each communication action to ONE call.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace meridian::dist::pp {

// What a stage does next. Compute: forward, backward. Communication, each ONE call that posts all
// its parts and returns when every part is done (a fused call behaves like MPI_Sendrecv):
//   recv_forward   activation of stage s-1       send_forward   activation to stage s+1
//   recv_backward  gradient from stage s+1       send_backward  gradient to stage s-1
//   send_forward_recv_backward   activation to s+1 and gradient from s+1 together
//   send_backward_recv_forward   gradient to s-1 and activation from s-1 together
enum class ActionKind : std::uint8_t {
  forward,
  backward,
  recv_forward,
  send_forward,
  recv_backward,
  send_backward,
  send_forward_recv_backward,
  send_backward_recv_forward,
};

// One step of a stage. micro_batch is the computed micro-batch, the one moved by a single-part call,
// or the SEND part of a fused call; peer_micro_batch is the RECEIVE part of a fused call (-1 otherwise).
struct Action {
  ActionKind kind = ActionKind::forward;
  int micro_batch = 0;
  int peer_micro_batch = -1;

  static Action forward(int mb) { return {ActionKind::forward, mb, -1}; }
  static Action backward(int mb) { return {ActionKind::backward, mb, -1}; }
  static Action recv_forward(int mb) { return {ActionKind::recv_forward, mb, -1}; }
  static Action send_forward(int mb) { return {ActionKind::send_forward, mb, -1}; }
  static Action recv_backward(int mb) { return {ActionKind::recv_backward, mb, -1}; }
  static Action send_backward(int mb) { return {ActionKind::send_backward, mb, -1}; }
  static Action send_forward_recv_backward(int send_mb, int recv_mb) {
    return {ActionKind::send_forward_recv_backward, send_mb, recv_mb};
  }
  static Action send_backward_recv_forward(int send_mb, int recv_mb) {
    return {ActionKind::send_backward_recv_forward, send_mb, recv_mb};
  }

  bool operator==(const Action& other) const = default;
};

bool is_compute(ActionKind kind);
bool is_fused(ActionKind kind);

// What a message carries: an activation travels to stage s+1, a gradient to stage s-1.
enum class Direction : std::uint8_t { activation, gradient };

// The MPI tag of a message (2 mb for an activation, 2 mb + 1 for a gradient). Between one pair of
// stages each direction has one sender, so (source, tag) names a message uniquely within a step.
int message_tag(Direction direction, int micro_batch);

// One part of a communication call as stage `stage` sees it.
struct CommPart {
  bool send = false;
  Direction direction = Direction::activation;
  int peer = -1;  // the stage at the other end: s+1 or s-1 (may be -1 or p for a malformed schedule)
  int micro_batch = -1;
  int tag = 0;  // message_tag(direction, micro_batch)
};

// The parts of `action` executed by `stage`, in posting order (the send part first for a fused call);
// empty for a compute action. The peer is not range-checked, so a checker can report it.
std::vector<CommPart> comm_parts(const Action& action, int stage);

// "F3", "B3", "recv_fwd(3)", "send_fwd(3)", "recv_bwd(3)", "send_bwd(3)",
// "send_fwd(3)+recv_bwd(1)", "send_bwd(1)+recv_fwd(4)".
std::string to_string(const Action& action);
// The actions joined by single spaces ("" for an empty list).
std::string to_string(const std::vector<Action>& actions);
std::string to_string(Direction direction);  // "activation" / "gradient"

// ---------------------------------------------------------------------------------------------
// 1F1B

// Forwards stage s runs before its first backward: min(p - s - 1, m).
int warmup_forwards(int stages, int micro_batches, int stage);

// The 1F1B action list of stage `stage` of a p-stage pipeline over m micro-batches:
//   warm-up   w = min(p - s - 1, m) times: recv_forward, F, send_forward
//   then      recv_forward of micro-batch w (when m > w)
//   steady    for i in 0..m-w-1: F(w+i), send_fwd(w+i)+recv_bwd(i), B(i),
//             send_bwd(i)+recv_fwd(w+i+1) (the last iteration: send_bwd(i) alone)
//   cool-down for i in m-w..m-1: recv_backward, B(i), send_backward
// Parts that cross the pipeline ends are dropped (stage 0 receives no activation and sends no
// gradient; stage p-1 sends no activation and receives no gradient), which removes a fused call
// whole, never half of one. The fused calls make the schedule free of deadlock under rendezvous
// semantics: two blocking calls "send activation, then receive gradient" on stage s against
// "send gradient, then receive activation" on stage s+1 wait on each other once m >= 2.
// InputError for p < 1, m < 1 or s outside 0..p-1; m < p is fine (the warm-up shrinks to m).
std::vector<Action> one_f_one_b(int stages, int micro_batches, int stage);
// one_f_one_b for every stage, indexed by stage.
std::vector<std::vector<Action>> one_f_one_b_pipeline(int stages, int micro_batches);

// Idle time of the ideal 1F1B pipeline relative to its compute: (p - 1) / m. InputError as above.
double bubble_fraction(int stages, int micro_batches);

// The most activations stage s holds at once under 1F1B (forwarded, not yet backwarded): min(p - s, m).
int max_in_flight(int stages, int micro_batches, int stage);

// Rounds the ideal pipeline takes when a forward takes tf rounds and a backward tb:
// (m + p - 1)(tf + tb); 2(m + p - 1) with unit compute. InputError for values < 1.
int ideal_rounds(int stages, int micro_batches, int forward_rounds = 1, int backward_rounds = 1);

// ---------------------------------------------------------------------------------------------
// The checker

struct CheckOptions {
  int micro_batches = 0;        // 0: 1 + the largest micro-batch any action names
  int forward_rounds = 1;       // rounds one forward occupies its stage
  int backward_rounds = 1;      // rounds one backward occupies its stage
  bool limit_in_flight = true;  // flag a stage holding more than max_in_flight activations
};

enum class CheckVerdict : std::uint8_t { ok, deadlock, mismatch, invariant };
std::string to_string(CheckVerdict verdict);  // "ok", "deadlock", "mismatch", "invariant"

// A stage that cannot proceed: its current action and the parts of it still pending.
struct StuckStage {
  int stage = 0;
  int action_index = 0;
  Action action;
  std::vector<CommPart> pending;
};

// A message whose micro-batch is not the one its receiver expects (silently wrong data in a run).
struct Mismatch {
  int stage = 0;  // the receiver
  int action_index = 0;
  Action action;
  int from_stage = 0;  // the sender
  int from_action_index = 0;
  Action from_action;
  Direction direction = Direction::activation;
  int expected_micro_batch = 0;
  int sent_micro_batch = 0;
};

struct ScheduleCheck {
  CheckVerdict verdict = CheckVerdict::ok;  // mismatch > deadlock > invariant > ok
  int stages = 0;
  int micro_batches = 0;
  int rounds = 0;                    // rounds run (until the end, the deadlock or the mismatch)
  std::vector<int> busy_rounds;      // per stage: rounds spent computing
  std::vector<int> finish_round;     // per stage: round its last compute ended (0 if none)
  std::vector<int> peak_in_flight;   // per stage: most activations held at once
  std::vector<StuckStage> stuck;     // deadlock: every stage not at its end
  std::optional<Mismatch> mismatch;  // the first mismatch (the simulation stops there)
  std::vector<std::string> violations;

  bool ok() const { return verdict == CheckVerdict::ok; }
  // One line for logs and test failures: the verdict and its first details.
  std::string summary() const;
};

// Runs per_stage[s] on stage s, every stage in lock-step rounds, under RENDEZVOUS semantics:
//   - each round first settles communication (taking no time): a stage whose current action is a
//     communication call has all its parts posted; a send part completes together with the receive
//     part of the same direction in the peer's CURRENT action; an action ends when all its parts
//     have (parts may finish in different rounds) and the stage moves on, possibly into the next
//     call, until nothing changes; then every stage at a compute action computes for one round
//     (a forward or backward ends after forward_rounds / backward_rounds rounds);
//   - messages between two stages in one direction pair up in program order; a sent micro-batch
//     that differs from the one the receiver names is a mismatch and ends the check;
//   - no compute anywhere and some stage not at its end is a deadlock.
// Invariants, reported as violations: every micro-batch index in 0..m-1 and every peer a stage;
// on every stage each micro-batch forwarded exactly once and backwarded exactly once, the backward
// after the forward; a stage > 0 forwards mb only after receiving its activation, a stage < p-1
// backwards mb only after receiving its gradient; activations are sent after their forward and
// gradients after their backward, and nothing is received twice; and (options.limit_in_flight)
// at most max_in_flight(p, m, s) activations held at once. A schedule with an index or peer out of
// range is not simulated. InputError for no stages or options out of range.
ScheduleCheck check_schedule(const std::vector<std::vector<Action>>& per_stage, const CheckOptions& options = {});

}  // namespace meridian::dist::pp
