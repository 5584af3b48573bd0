#pragma once

// The gRPC face of chord-reward: a thin adapter over RewardScorer (validate, convert, call the
// core, map the status with chord::rpc::ToGrpcStatus). Batch validation lives in the core, so
// errors read the same in-process and over the wire ("items[3].verifier: unknown ...").
//
// The request handlers are plain functions over protos (no gRPC types), shared by the gRPC
// adapter and InProcessRewardClient (in_process_client.h).

#include <functional>
#include <string>

#include "chord/v1/reward.grpc.pb.h"
#include "common/rpc/security.h"
#include "services/reward/reward_scorer.h"

namespace chord::reward {

// Scores `request` with `scorer` into `response` (the core's errors unchanged). `cancelled`
// (optional) is polled between items: true stops the rest of the work (CANCELLED).
absl::Status HandleScore(const RewardScorer& scorer, const chord::v1::ScoreRequest& request,
                         const std::function<bool()>& cancelled,
                         chord::v1::ScoreResponse* response);
// The registered verifiers, sorted by name.
void HandleListVerifiers(const RewardScorer& scorer, chord::v1::ListVerifiersResponse* response);

class RewardGrpcService final : public chord::v1::RewardService::Service {
 public:
  // `scorer` is not owned and must outlive the service.
  explicit RewardGrpcService(const RewardScorer* scorer) : scorer_(scorer) {}

  grpc::Status Score(grpc::ServerContext* context, const chord::v1::ScoreRequest* request,
                     chord::v1::ScoreResponse* response) override;
  grpc::Status ListVerifiers(grpc::ServerContext* context,
                             const chord::v1::ListVerifiersRequest* request,
                             chord::v1::ListVerifiersResponse* response) override;

 private:
  const RewardScorer* scorer_;
};

// Roles of the RewardService's methods for the token check (common/rpc/security.h): every method is
// internal (the learner scores; operators call it with the internal token).
inline rpc::MethodRoles RewardMethodRoles() {
  return {{std::string("/") + chord::v1::RewardService::service_full_name() + "/",
           rpc::Role::kInternal}};
}

}  // namespace chord::reward
