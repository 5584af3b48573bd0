#pragma once

// The client interface of the learner's JobService (proto/chord/v1/learner.proto), for chordctl
// and tests. It speaks the wire messages: one method per RPC, the request message in,
// absl::StatusOr of the response message out (docs/design.md, "Clients"); the server stream of
// Watch is delivered to a callback.
//
// Implementations:
//  - GrpcJobClient (grpc_client.h): rank 0 of a running chord-learner over gRPC; its Watch survives
//    a learner restart by reconnecting after the last event it delivered.
//  - FakeJobClient (fake_client.h): jobs held in memory whose events the test appends; the fake for
//    the CLI's unit tests.
//
//   ASSIGN_OR_RETURN(auto client, GrpcJobClient::Create("127.0.0.1:7100", options));
//   chord::v1::SubmitJobRequest submit;
//   submit.set_spec_yaml(spec);
//   ASSIGN_OR_RETURN(chord::v1::SubmitJobResponse job, client->Submit(submit));
//   chord::v1::WatchJobRequest watch;
//   watch.set_job_id(job.job_id());
//   RETURN_IF_ERROR(client->Watch(watch, {}, [](const chord::v1::JobEvent& e) { ...; return true;
//   }));

#include <functional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "chord/v1/learner.pb.h"

namespace chord::learner {

struct WatchOptions {
  // After the stream breaks with UNAVAILABLE (the learner restarts), reconnect for this long,
  // resuming after the last delivered event. Default 60 s.
  absl::Duration reconnect_window = absl::Seconds(60);
  // When > 0, the watch ends (OK) once no event arrived for this long: `logs` of a running job
  // stops after the stored history. Default 0 (off): the watch lasts until the job has ended.
  absl::Duration idle_stop = absl::ZeroDuration();
};

// Thread-safe in every implementation. Errors carry the RPC's name ("Submit: ...") and the
// server's code: INVALID_ARGUMENT listing every spec problem, NOT_FOUND for an unknown job,
// PERMISSION_DENIED / RESOURCE_EXHAUSTED from the admission limits, UNAUTHENTICATED for a missing
// token, UNAVAILABLE when the learner is not reached.
class JobClient {
 public:
  virtual ~JobClient() = default;

  virtual absl::StatusOr<chord::v1::SubmitJobResponse> Submit(
      const chord::v1::SubmitJobRequest& request) = 0;
  virtual absl::StatusOr<chord::v1::JobStatus> Get(const chord::v1::GetJobRequest& request) = 0;
  virtual absl::StatusOr<chord::v1::ListJobsResponse> List(
      const chord::v1::ListJobsRequest& request) = 0;
  virtual absl::StatusOr<chord::v1::JobStatus> Cancel(
      const chord::v1::CancelJobRequest& request) = 0;
  // A FAILED or CANCELLED job back in the queue (it continues from its newest checkpoint); a
  // QUEUED or RUNNING job as it is; FAILED_PRECONDITION for a SUCCEEDED job.
  virtual absl::StatusOr<chord::v1::JobStatus> Resume(
      const chord::v1::ResumeJobRequest& request) = 0;

  // Calls `on_event` with the job's events from request.from_sequence on, in sequence order, each
  // once, until the job has ended and every event was delivered (OK), `on_event` returns false
  // (OK), the idle stop passes (OK), or an error (NOT_FOUND for an unknown job; the last error
  // after the reconnect window).
  virtual absl::Status Watch(const chord::v1::WatchJobRequest& request, const WatchOptions& options,
                             const std::function<bool(const chord::v1::JobEvent&)>& on_event) = 0;
};

}  // namespace chord::learner
