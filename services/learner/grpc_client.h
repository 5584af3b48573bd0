#pragma once

// JobClient over gRPC (client.h has the contract): unary calls with Chord's retry policy
// (common/rpc/channel.h: a deadline on every call, only UNAVAILABLE retried) and the Watch stream,
// which survives a learner restart by reconnecting after the last event it delivered. The bearer
// token of ClientOptions is sent on every call, the stream included.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "chord/v1/learner.grpc.pb.h"
#include "common/rpc/channel.h"
#include "services/learner/client.h"

namespace chord::learner {

class GrpcJobClient final : public JobClient {
 public:
  // A client for "host:port" (INVALID_ARGUMENT when empty). Connects lazily.
  static absl::StatusOr<std::unique_ptr<GrpcJobClient>> Create(const std::string& address,
                                                               const rpc::ClientOptions& options);

  absl::StatusOr<chord::v1::SubmitJobResponse> Submit(
      const chord::v1::SubmitJobRequest& request) override;
  absl::StatusOr<chord::v1::JobStatus> Get(const chord::v1::GetJobRequest& request) override;
  absl::StatusOr<chord::v1::ListJobsResponse> List(
      const chord::v1::ListJobsRequest& request) override;
  absl::StatusOr<chord::v1::JobStatus> Cancel(const chord::v1::CancelJobRequest& request) override;
  absl::StatusOr<chord::v1::JobStatus> Resume(const chord::v1::ResumeJobRequest& request) override;
  absl::Status Watch(const chord::v1::WatchJobRequest& request, const WatchOptions& options,
                     const std::function<bool(const chord::v1::JobEvent&)>& on_event) override;

 private:
  GrpcJobClient(rpc::ClientOptions options, std::unique_ptr<chord::v1::JobService::Stub> stub)
      : options_(std::move(options)), stub_(std::move(stub)) {}

  // One Watch stream from `from_sequence`. Sets *last_sequence to the last delivered event's
  // sequence; *stopped when on_event returned false or the idle stop passed.
  absl::Status WatchOnce(const std::string& job_id, int64_t from_sequence, absl::Duration idle_stop,
                         const std::function<bool(const chord::v1::JobEvent&)>& on_event,
                         int64_t* last_sequence, bool* stopped);

  rpc::ClientOptions options_;
  std::unique_ptr<chord::v1::JobService::Stub> stub_;
};

}  // namespace chord::learner
