#pragma once

// FakeRolloutClient: a RolloutClient (client.h) for the unit tests of other services (the
// learner's driver and its rollout pool). No model, no server.
//
//  - Completions come from a responder the test gives (default: K completions per prompt, sample
//    i with text "sample <i>", three tokens with log-prob -1 each, finish_reason "length").
//  - The fake serves one weight version (SetWeightVersion). As a real worker, Generate waits
//    until that version reaches the request's min_weight_version, at most `max_version_wait`
//    (then FAILED_PRECONDITION), the call's timeout (DEADLINE_EXCEEDED) or its canceller
//    (CANCELLED); completions carry the version they were made with.
//  - Hold() makes every Generate wait (as a slow worker) until Release(), its timeout or its
//    canceller.
//  - failures().FailNext("Generate", status) makes the next Generate call fail; every request is
//    recorded (requests()).
// Thread-safe.

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/rpc/scripted_failures.h"
#include "services/rollout_worker/client.h"

namespace chord::rollout_worker {

class FakeRolloutClient final : public RolloutClient {
 public:
  // The completions of one prompt (sample_index, prompt_id and weight_version are set by the
  // fake). A non-OK status fails the whole call with it.
  using Responder = std::function<absl::StatusOr<std::vector<chord::v1::Completion>>(
      const chord::v1::Prompt& prompt, int samples, const chord::v1::SamplingParams& sampling)>;

  explicit FakeRolloutClient(absl::Duration max_version_wait = absl::Seconds(10));

  void SetResponder(Responder responder);
  void SetWeightVersion(int64_t version);
  int64_t weight_version() const;
  void Hold();
  void Release();
  rpc::ScriptedFailures& failures() { return failures_; }
  // Every Generate request so far, in order (failed ones included).
  std::vector<chord::v1::GenerateRequest> requests() const;

  absl::StatusOr<chord::v1::GenerateResponse> Generate(const chord::v1::GenerateRequest& request,
                                                       const CallOptions& options) override;
  // -1 per scored position, with the current version.
  absl::StatusOr<chord::v1::ComputeLogprobsResponse> ComputeLogprobs(
      const chord::v1::ComputeLogprobsRequest& request, const CallOptions& options) override;
  absl::StatusOr<chord::v1::GetStatusResponse> GetStatus(const CallOptions& options) override;

 private:
  const absl::Duration max_version_wait_;
  rpc::ScriptedFailures failures_;
  mutable absl::Mutex mu_;
  absl::CondVar changed_;
  Responder responder_ ABSL_GUARDED_BY(mu_);
  int64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<chord::v1::GenerateRequest> requests_ ABSL_GUARDED_BY(mu_);
};

}  // namespace chord::rollout_worker
