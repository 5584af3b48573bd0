#pragma once

// RolloutClient over gRPC (client.h has the contract).

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "chord/v1/rollout.grpc.pb.h"
#include "common/rpc/channel.h"
#include "services/rollout_worker/client.h"

namespace chord::rollout_worker {

class GrpcRolloutClient final : public RolloutClient {
 public:
  // A client of the worker at `target` ("host:port"). INVALID_ARGUMENT when empty. Connects
  // lazily: an unreachable worker shows up as UNAVAILABLE on the calls (after the retries).
  static absl::StatusOr<std::unique_ptr<GrpcRolloutClient>> Create(
      const std::string& target, const rpc::ClientOptions& options = rpc::ClientOptions());

  // Waits until the worker reports SERVING (DEADLINE_EXCEEDED after `timeout`).
  absl::Status WaitForServing(absl::Duration timeout);

  absl::StatusOr<chord::v1::GenerateResponse> Generate(const chord::v1::GenerateRequest& request,
                                                       const CallOptions& options) override;
  absl::StatusOr<chord::v1::ComputeLogprobsResponse> ComputeLogprobs(
      const chord::v1::ComputeLogprobsRequest& request, const CallOptions& options) override;
  absl::StatusOr<chord::v1::GetStatusResponse> GetStatus(const CallOptions& options) override;

 private:
  GrpcRolloutClient(std::string target, rpc::ClientOptions options,
                    std::shared_ptr<grpc::Channel> channel);
  // The client's options with `call`'s timeout applied.
  rpc::ClientOptions OptionsFor(const CallOptions& call) const;

  std::string target_;
  rpc::ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<chord::v1::RolloutService::Stub> stub_;
};

}  // namespace chord::rollout_worker
