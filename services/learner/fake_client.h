#pragma once

// FakeJobClient: a JobClient (client.h) over jobs held in memory, for the unit tests of the CLI.
// No learner, no server.
//
//  - Submit makes a QUEUED job "job-<n>" (the same non-empty request_id returns the same job) and
//    records a STATE event; Get / List (newest first, filtered by state, at most `limit`) / Cancel
//    answer as the JobService does, NOT_FOUND "Get: job <id> not found" for an unknown id.
//  - The test drives a job with AppendEvent (STEP events also set the job's step and metrics,
//    CHECKPOINT events add their message, the directory, to its checkpoints) and
//    SetState (which records a STATE event). Watch delivers the stored events from
//    from_sequence on, then the new ones, until the job is SUCCEEDED, FAILED or CANCELLED and
//    every event was delivered, `on_event` returns false, or idle_stop passes.
//  - Resume puts a FAILED or CANCELLED job back to QUEUED (reason cleared, resume_count + 1, a
//    STATE event "resumed by request[: <reason>]"), returns a QUEUED or RUNNING one as it is, and
//    is FAILED_PRECONDITION for a SUCCEEDED one, as the JobService.
//  - failures().FailNext("Get", status) makes the next call of that method fail.
// Thread-safe.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/rpc/scripted_failures.h"
#include "services/learner/client.h"

namespace chord::learner {

class FakeJobClient final : public JobClient {
 public:
  // Appends `event` to the job's events (its sequence, job id and time are set here).
  // NOT_FOUND for an unknown job.
  absl::Status AppendEvent(const std::string& job_id, chord::v1::JobEvent event);
  // Sets the job's state and reason and records the STATE event. NOT_FOUND for an unknown job.
  absl::Status SetState(const std::string& job_id, chord::v1::JobState state,
                        const std::string& reason = "");
  rpc::ScriptedFailures& failures() { return failures_; }

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
  struct Job {
    chord::v1::JobStatus status;
    std::vector<chord::v1::JobEvent> events;
  };
  // Appends under mu_.
  void Record(Job& job, chord::v1::JobEvent event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  rpc::ScriptedFailures failures_;
  absl::Mutex mu_;
  std::map<std::string, Job> jobs_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> order_ ABSL_GUARDED_BY(mu_);  // job ids, oldest first
  std::map<std::string, std::string> by_request_ ABSL_GUARDED_BY(mu_);
};

}  // namespace chord::learner
