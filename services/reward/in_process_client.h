#pragma once

// RewardClient over a real RewardScorer in this process (client.h has the contract). It answers
// through the same request handlers as the gRPC service (grpc_service.h), so a batch gets the
// same scores and the same errors in-process and over the wire. Thread-safe.

#include <memory>

#include "absl/status/statusor.h"
#include "services/reward/client.h"
#include "services/reward/reward_scorer.h"

namespace chord::reward {

class InProcessRewardClient final : public RewardClient {
 public:
  // Owns a scorer with the default verifiers and `options` (no metrics).
  static absl::StatusOr<std::unique_ptr<InProcessRewardClient>> Create(
      const RewardScorerOptions& options = {});

  // Uses `scorer`, which is not owned and must outlive the client.
  explicit InProcessRewardClient(const RewardScorer* scorer) : scorer_(scorer) {}

  absl::StatusOr<chord::v1::ScoreResponse> Score(const chord::v1::ScoreRequest& request) override;
  absl::StatusOr<chord::v1::ListVerifiersResponse> ListVerifiers() override;

 private:
  std::unique_ptr<RewardScorer> owned_;
  const RewardScorer* scorer_ = nullptr;
};

}  // namespace chord::reward
