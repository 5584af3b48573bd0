#pragma once

// FakeRewardClient: a RewardClient (client.h) that scores with a function the test gives, for the
// unit tests of other services (the learner's driver). No verifier, no server.
//
// By default an item is correct (score 1, reason "match") when its response equals its reference
// after trimming whitespace, else wrong (score 0, reason "mismatch"); an item whose verifier is
// not in verifiers() fails the batch with INVALID_ARGUMENT "items[<i>].verifier: unknown ...", as
// the service does. Every request is recorded (requests()); failures().FailNext("Score", status)
// makes the next Score call fail. Thread-safe.

#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/rpc/scripted_failures.h"
#include "services/reward/client.h"

namespace chord::reward {

class FakeRewardClient final : public RewardClient {
 public:
  using Scorer = std::function<chord::v1::ScoreResult(const chord::v1::ScoreItem& item)>;

  // Verifiers the fake knows: "arithmetic" and "math_boxed" unless set.
  explicit FakeRewardClient(std::vector<std::string> verifiers = {"arithmetic", "math_boxed"});

  // Replaces the scoring function (the result's id is set by the fake).
  void SetScorer(Scorer scorer);
  rpc::ScriptedFailures& failures() { return failures_; }
  // Every Score request so far, in order.
  std::vector<chord::v1::ScoreRequest> requests() const;

  absl::StatusOr<chord::v1::ScoreResponse> Score(const chord::v1::ScoreRequest& request) override;
  absl::StatusOr<chord::v1::ListVerifiersResponse> ListVerifiers() override;

 private:
  std::vector<std::string> verifiers_;  // sorted; fixed after construction
  rpc::ScriptedFailures failures_;
  mutable absl::Mutex mu_;
  Scorer scorer_ ABSL_GUARDED_BY(mu_);
  std::vector<chord::v1::ScoreRequest> requests_ ABSL_GUARDED_BY(mu_);
};

}  // namespace chord::reward
