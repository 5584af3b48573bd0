#pragma once

// Clients of the expert buffer, for the learner's driver, chordctl and tests:
//  - ExpertBufferClient: the interface (one method per RPC, absl::StatusOr results).
//  - GrpcExpertBufferClient: the real thing over gRPC; every call has a deadline and only
//    UNAVAILABLE is retried (chord::rpc::CallWithRetry). Every RPC is safe to retry: loading the
//    same content is idempotent and sampling with the same cursor returns the same batch.
//  - InProcessExpertBufferClient: a real ExpertBuffer core in this process, answering exactly as
//    the service would (same request handlers): the fake for other services' tests.
//
//   ASSIGN_OR_RETURN(auto client, GrpcExpertBufferClient::Create("127.0.0.1:7001"));
//   chord::v1::SampleRequest request;
//   request.set_dataset("math");
//   request.set_n(64);
//   request.set_cursor(saved_cursor);  // empty on the first call
//   ASSIGN_OR_RETURN(chord::v1::SampleTasksResponse batch, client->SampleTasks(request));
//   saved_cursor = batch.next_cursor();  // checkpoint it to resume exactly after a restart

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "chord/v1/expert_buffer.grpc.pb.h"
#include "common/rpc/channel.h"
#include "services/expert_buffer/expert_buffer.h"

namespace chord::expert_buffer {

// Thread-safe in every implementation.
class ExpertBufferClient {
 public:
  virtual ~ExpertBufferClient() = default;

  virtual absl::StatusOr<chord::v1::LoadDatasetResponse> LoadDataset(
      const chord::v1::LoadDatasetRequest& request) = 0;
  virtual absl::StatusOr<chord::v1::SampleExpertResponse> SampleExpert(
      const chord::v1::SampleRequest& request) = 0;
  virtual absl::StatusOr<chord::v1::SampleTasksResponse> SampleTasks(
      const chord::v1::SampleRequest& request) = 0;
  virtual absl::StatusOr<chord::v1::ReadTasksResponse> ReadTasks(
      const chord::v1::ReadTasksRequest& request) = 0;
  virtual absl::StatusOr<chord::v1::StatsResponse> Stats(
      const chord::v1::StatsRequest& request) = 0;
};

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
