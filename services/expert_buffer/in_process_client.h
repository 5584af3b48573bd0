#pragma once

// ExpertBufferClient over a real ExpertBuffer core in this process (client.h has the contract). It
// answers through the same request handlers as the gRPC service (grpc_service.h), so a request
// gets the same response and the same error in-process and over the wire.

#include <memory>

#include "absl/status/statusor.h"
#include "services/expert_buffer/client.h"
#include "services/expert_buffer/expert_buffer.h"

namespace chord::expert_buffer {

class InProcessExpertBufferClient final : public ExpertBufferClient {
 public:
  // Owns a fresh core built with `options` (no metrics).
  static absl::StatusOr<std::unique_ptr<InProcessExpertBufferClient>> Create(
      const ExpertBufferOptions& options = ExpertBufferOptions());

  // Uses `core`, shared with the caller (e.g. a test that also inspects the core).
  explicit InProcessExpertBufferClient(std::shared_ptr<ExpertBuffer> core)
      : core_(std::move(core)) {}

  ExpertBuffer& core() { return *core_; }

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
  std::shared_ptr<ExpertBuffer> core_;
};

}  // namespace chord::expert_buffer
