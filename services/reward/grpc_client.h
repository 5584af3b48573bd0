#pragma once

// RewardClient over gRPC (client.h has the contract), with Chord's retry policy
// (common/rpc/channel.h: every call has a deadline; only UNAVAILABLE is retried, Score being
// idempotent). Thread-safe.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "chord/v1/reward.grpc.pb.h"
#include "common/rpc/channel.h"
#include "services/reward/client.h"

namespace chord::reward {

class GrpcRewardClient final : public RewardClient {
 public:
  // A client for "host:port". INVALID_ARGUMENT when `address` is empty. Connects lazily.
  static absl::StatusOr<std::unique_ptr<GrpcRewardClient>> Create(
      const std::string& address, const rpc::ClientOptions& options = {});

  absl::StatusOr<chord::v1::ScoreResponse> Score(const chord::v1::ScoreRequest& request) override;
  absl::StatusOr<chord::v1::ListVerifiersResponse> ListVerifiers() override;

 private:
  GrpcRewardClient(rpc::ClientOptions options, std::unique_ptr<v1::RewardService::Stub> stub)
      : options_(std::move(options)), stub_(std::move(stub)) {}

  rpc::ClientOptions options_;
  std::unique_ptr<v1::RewardService::Stub> stub_;
};

}  // namespace chord::reward
