#pragma once

// The learner's job service core (rank 0): accepts jobs, keeps them in the job store, runs them one
// at a time on the rank group, streams their events, and resumes the running job after a restart.
// Knows nothing of gRPC (grpc_service.h adapts it): the clients of a job's services come from the
// ClientFactory it is given (job_setup.h), and it prepares each job (PrepareJob) before the
// driver runs it (RunJob). Options in options.h.

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "chord/v1/learner.pb.h"
#include "services/learner/driver.h"
#include "services/learner/job_control.h"
#include "services/learner/job_setup.h"
#include "services/learner/job_spec.h"
#include "services/learner/job_store.h"
#include "services/learner/options.h"

namespace chord::learner {

class JobManager {
 public:
  // `context` pointers must outlive the manager; context.on_event and context.state_dir are set
  // by the manager. `clients` builds the clients of each job's services.
  JobManager(JobManagerOptions options, DriverContext context, ClientFactory clients);

  // Validates the spec (INVALID_ARGUMENT listing every problem), stores the job QUEUED, wakes the
  // runner. Idempotent for the same non-empty request_id. PERMISSION_DENIED naming the key when
  // `model` lies outside the model roots ("model: <path>: outside the model root ...") or the
  // spec overrides a service address without allow_service_overrides ("services.reward: ...");
  // RESOURCE_EXHAUSTED when max_queued_jobs jobs are queued already.
  absl::StatusOr<chord::v1::JobStatus> Submit(const std::string& spec_yaml,
                                              const std::string& request_id,
                                              const std::string& source);
  absl::StatusOr<chord::v1::JobStatus> Get(const std::string& job_id);
  absl::StatusOr<std::vector<chord::v1::JobStatus>> List(int limit, chord::v1::JobState state);
  // A queued job becomes CANCELLED at once; a running one is stopped at the next phase boundary
  // (in-flight generation is aborted) and becomes CANCELLED. A finished job is returned unchanged.
  absl::StatusOr<chord::v1::JobStatus> Cancel(const std::string& job_id, const std::string& reason);
  // A FAILED or CANCELLED job becomes QUEUED again (JobStore::Resume) and the runner is woken: it
  // runs like any queued job, and the driver continues it from its newest valid checkpoint (from
  // step 1 without one). The admission checks of Submit apply again first (this learner's model
  // roots and service-override policy may differ from the submitting one's): PERMISSION_DENIED as
  // in Submit, FAILED_PRECONDITION when the stored spec no longer parses. A QUEUED or RUNNING job
  // is returned as it is; a SUCCEEDED one is FAILED_PRECONDITION; NOT_FOUND for an unknown id.
  // Not limited by max_queued_jobs (it re-queues a job that was admitted before).
  absl::StatusOr<chord::v1::JobStatus> Resume(const std::string& job_id, const std::string& reason);
  // Calls `emit` with the job's events from `from_sequence` on, waiting for new ones, until the job
  // has ended and every event was sent (OK), `emit` returns false or `stopped` returns true
  // (CANCELLED), or the manager shuts down (UNAVAILABLE). RESOURCE_EXHAUSTED at once while
  // max_watch_streams other Watch calls are running.
  absl::Status Watch(const std::string& job_id, int64_t from_sequence,
                     const std::function<bool(const chord::v1::JobEvent&)>& emit,
                     const std::function<bool()>& stopped);

  // Runs queued jobs until Shutdown(). Re-queues jobs left RUNNING by an earlier process first.
  // Returns OK after Shutdown(), or the error that broke the rank group (the process should exit
  // non-zero so that all ranks restart; the interrupted job stays resumable).
  absl::Status RunLoop();

  // Stops RunLoop: a running job is stopped at its next phase boundary and left QUEUED (it
  // resumes from its last checkpoint when a learner starts again).
  void Shutdown();

 private:
  // The PERMISSION_DENIED checks of Submit (model path, service overrides).
  absl::Status CheckAllowed(const JobSpec& spec) const;
  absl::StatusOr<std::string> NextQueuedJob();
  absl::Status RequeueInterrupted();
  // QUEUED again to resume from its last checkpoint, or FAILED once it has been interrupted
  // --max_resumes times (crashes and broken rank groups count; graceful stops do not).
  absl::Status RequeueInterruptedJob(const std::string& job_id, const std::string& reason);
  void NotifyEvents();
  void UpdateJobCounts();

  // Prepares and runs one RUNNING job with `control`.
  JobOutcome RunOne(const chord::v1::JobStatus& job, const JobSpec& spec, JobControl* control);

  JobManagerOptions options_;
  DriverContext context_;
  ClientFactory clients_;
  std::atomic<bool> shutting_down_{false};

  absl::Mutex mu_;
  absl::CondVar wake_runner_;
  absl::CondVar events_changed_;
  int64_t event_epoch_ ABSL_GUARDED_BY(mu_) = 0;
  int watch_streams_ ABSL_GUARDED_BY(mu_) = 0;
  std::string running_job_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<JobControl> running_control_ ABSL_GUARDED_BY(mu_);
};

}  // namespace chord::learner
