#pragma once

// chordctl's client of the learner's JobService (proto/chord/v1/learner.proto): unary calls with
// Chord's retry policy (common/rpc/channel.h: a deadline on every call, only UNAVAILABLE retried)
// and the Watch stream, which survives a learner restart by reconnecting after the last event it
// delivered. The bearer token of ClientOptions is sent on every call, the stream included.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "chord/v1/learner.grpc.pb.h"
#include "common/rpc/channel.h"

namespace chord::chordctl {

struct WatchOptions {
  // Replay stored events with sequence >= this (0: all).
  int64_t from_sequence = 0;
  // After the stream breaks with UNAVAILABLE (the learner restarts), reconnect for this long,
  // resuming after the last delivered event. Default 60 s.
  absl::Duration reconnect_window = absl::Seconds(60);
  // When > 0, the watch ends (OK) once no event arrived for this long: `logs` of a running job
  // stops after the stored history. Default 0 (off): the watch lasts until the job has ended.
  absl::Duration idle_stop = absl::ZeroDuration();
};

class JobClient {
 public:
  // A client for "host:port" (INVALID_ARGUMENT when empty). Connects lazily.
  static absl::StatusOr<std::unique_ptr<JobClient>> Create(const std::string& address,
                                                           const rpc::ClientOptions& options);

  // Errors carry the RPC's name ("Submit: ...") and the server's code (INVALID_ARGUMENT listing
  // every spec problem, NOT_FOUND for an unknown job, UNAUTHENTICATED for a missing token).
  absl::StatusOr<chord::v1::SubmitJobResponse> Submit(const chord::v1::SubmitJobRequest& request);
  absl::StatusOr<chord::v1::JobStatus> Get(const std::string& job_id);
  absl::StatusOr<std::vector<chord::v1::JobStatus>> List(int limit, chord::v1::JobState state);
  absl::StatusOr<chord::v1::JobStatus> Cancel(const std::string& job_id, const std::string& reason);

  // Calls `on_event` with the job's events in sequence order, each once, until the job has ended
  // and every event was delivered (OK), `on_event` returns false (OK), the idle stop passes (OK),
  // or an error (NOT_FOUND for an unknown job; the last error after the reconnect window).
  absl::Status Watch(const std::string& job_id, const WatchOptions& options,
                     const std::function<bool(const chord::v1::JobEvent&)>& on_event);

 private:
  JobClient(rpc::ClientOptions options, std::unique_ptr<chord::v1::JobService::Stub> stub)
      : options_(std::move(options)), stub_(std::move(stub)) {}

  // One Watch stream from `from_sequence`. Sets *last_sequence to the last delivered event's
  // sequence; *stopped when on_event returned false or the idle stop passed.
  absl::Status WatchOnce(const std::string& job_id, int64_t from_sequence, absl::Duration idle_stop,
                         const std::function<bool(const chord::v1::JobEvent&)>& on_event,
                         int64_t* last_sequence, bool* stopped);

  rpc::ClientOptions options_;
  std::unique_ptr<chord::v1::JobService::Stub> stub_;
};

}  // namespace chord::chordctl
