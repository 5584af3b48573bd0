#pragma once

// ExpertBufferClient over gRPC (client.h has the contract).

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "chord/v1/expert_buffer.grpc.pb.h"
#include "common/rpc/channel.h"
#include "services/expert_buffer/client.h"

namespace chord::expert_buffer {

class GrpcExpertBufferClient final : public ExpertBufferClient {
 public:
  // A client of the service at `target` ("host:port"). Connects lazily: an unreachable server
  // shows up as UNAVAILABLE on the calls (after the retries of `options`).
  static absl::StatusOr<std::unique_ptr<GrpcExpertBufferClient>> Create(
      const std::string& target, const rpc::ClientOptions& options = rpc::ClientOptions());

  // Waits until the server reports SERVING (DEADLINE_EXCEEDED after `timeout`).
  absl::Status WaitForServing(absl::Duration timeout);

  absl::StatusOr<chord::v1::LoadDatasetResponse> LoadDataset(
      const chord::v1::LoadDatasetRequest& request) override;
  absl::StatusOr<chord::v1::SampleExpertResponse> SampleExpert(
      const chord::v1::SampleRequest& request) override;
  absl::StatusOr<chord::v1::SampleTasksResponse> SampleTasks(
      const chord::v1::SampleRequest& request) override;
  absl::StatusOr<chord::v1::ReadTasksResponse> ReadTasks(
      const chord::v1::ReadTasksRequest& request) override;
  absl::StatusOr<chord::v1::StatsResponse> Stats(const chord::v1::StatsRequest& request) override;

 private:
  GrpcExpertBufferClient(std::string target, rpc::ClientOptions options,
                         std::shared_ptr<grpc::Channel> channel);

  std::string target_;
  rpc::ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<chord::v1::ExpertBufferService::Stub> stub_;
};

}  // namespace chord::expert_buffer
