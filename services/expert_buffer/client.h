#pragma once

// The client interface of chord-expert-buffer, for the learner's driver, chordctl and tests. It
// speaks the wire messages (proto/chord/v1/expert_buffer.proto): one method per RPC, the request
// message in, absl::StatusOr of the response message out (docs/design.md, "Clients").
//
// Implementations:
//  - GrpcExpertBufferClient (grpc_client.h): the service over gRPC; every call has a deadline and
//    only UNAVAILABLE is retried (chord::rpc::CallWithRetry). Every RPC is safe to retry: loading
//    the same content is idempotent and sampling with the same cursor returns the same batch.
//  - FakeExpertBufferClient (fake_client.h): datasets held in memory, scripted failures; the fake
//    for other services' unit tests (no core, no server).
//  - InProcessExpertBufferClient (in_process_client.h): a real ExpertBuffer core in this process
//    behind the same request handlers as the service.
//
//   ASSIGN_OR_RETURN(auto client, GrpcExpertBufferClient::Create("127.0.0.1:7001"));
//   chord::v1::SampleRequest request;
//   request.set_dataset("math");
//   request.set_n(64);
//   request.set_cursor(saved_cursor);  // empty on the first call
//   ASSIGN_OR_RETURN(chord::v1::SampleTasksResponse batch, client->SampleTasks(request));
//   saved_cursor = batch.next_cursor();  // checkpoint it to resume exactly after a restart

#include "absl/status/statusor.h"
#include "chord/v1/expert_buffer.pb.h"

namespace chord::expert_buffer {

// Thread-safe in every implementation. Error codes as the service's (docs/expert-buffer.md):
// INVALID_ARGUMENT naming the field, NOT_FOUND for an unknown dataset, FAILED_PRECONDITION for a
// cursor of another version; UNAVAILABLE or DEADLINE_EXCEEDED when the service is not reached.
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

}  // namespace chord::expert_buffer
