#pragma once

// RolloutClient over a real RolloutWorker core in this process (client.h has the contract). It
// answers through the same request handlers as the gRPC service (grpc_service.h), so a request
// gets the same response and the same error in-process and over the wire.

#include <memory>

#include "absl/status/statusor.h"
#include "services/rollout_worker/client.h"
#include "services/rollout_worker/rollout_worker.h"

namespace chord::rollout_worker {

class InProcessRolloutClient final : public RolloutClient {
 public:
  // Owns a fresh worker built with `options` (no metrics).
  static absl::StatusOr<std::unique_ptr<InProcessRolloutClient>> Create(
      const RolloutWorkerOptions& options);

  // Uses `worker`, shared with the caller (e.g. a test that also installs weights).
  explicit InProcessRolloutClient(std::shared_ptr<RolloutWorker> worker)
      : worker_(std::move(worker)) {}

  RolloutWorker& worker() { return *worker_; }

  absl::StatusOr<chord::v1::GenerateResponse> Generate(const chord::v1::GenerateRequest& request,
                                                       const CallOptions& options) override;
  absl::StatusOr<chord::v1::ComputeLogprobsResponse> ComputeLogprobs(
      const chord::v1::ComputeLogprobsRequest& request, const CallOptions& options) override;
  absl::StatusOr<chord::v1::GetStatusResponse> GetStatus(const CallOptions& options) override;

 private:
  std::shared_ptr<RolloutWorker> worker_;
};

}  // namespace chord::rollout_worker
