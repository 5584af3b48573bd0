#include "services/reward/in_process_client.h"

#include <utility>

#include "common/status/status_macros.h"
#include "services/reward/grpc_service.h"

namespace chord::reward {

absl::StatusOr<std::unique_ptr<InProcessRewardClient>> InProcessRewardClient::Create(
    const RewardScorerOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<RewardScorer> scorer,
                   RewardScorer::Create(options, VerifierRegistry::CreateDefault(), nullptr));
  auto client = std::make_unique<InProcessRewardClient>(scorer.get());
  client->owned_ = std::move(scorer);
  return client;
}

absl::StatusOr<v1::ScoreResponse> InProcessRewardClient::Score(const v1::ScoreRequest& request) {
  v1::ScoreResponse response;
  RETURN_IF_ERROR(HandleScore(*scorer_, request, nullptr, &response));
  return response;
}

absl::StatusOr<v1::ListVerifiersResponse> InProcessRewardClient::ListVerifiers() {
  v1::ListVerifiersResponse response;
  HandleListVerifiers(*scorer_, &response);
  return response;
}

}  // namespace chord::reward
