#pragma once

// The job driver (learner rank 0): runs one CHORD job from its spec to its end.
//
// One step (synchronous mode, the paper's setting):
//   tasks from the expert buffer (cursor advances) -> generation fanned out over the rollout
//   workers with the newest weights (RolloutPool) -> verifier scores (reward service) -> GRPO
//   advantages -> expert rows (chat template, loss on the last assistant turn) -> one training step
//   on all ranks (RankCoordinator) -> publish the new weights -> evaluation every eval.interval
//   steps -> checkpoint every save_interval steps.
// Asynchronous mode overlaps the generation of the next steps with training, at most
// max_staleness weight versions behind; the PPO ratio then uses the behaviour log-probs.
//
// A job resumes from its newest valid checkpoint (weights, optimizer, step, data cursors), so a
// learner restarted mid-job continues at the next step with nothing lost or repeated.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "chord/v1/learner.pb.h"
#include "common/rpc/channel.h"
#include "common/weights/weight_publisher.h"
#include "services/learner/job_spec.h"
#include "services/learner/job_store.h"
#include "services/learner/metrics.h"
#include "services/learner/rank_coordinator.h"

namespace chord::learner {

// Where the services are when a job spec does not say.
struct ServiceDefaults {
  std::string expert_buffer;
  std::string reward;
  std::vector<std::string> rollout_workers;
  // TLS, token and message limit of the calls to the services (the job's deadlines are set on
  // top). Default: plaintext, no token.
  rpc::ClientOptions client;
};

// Hands out weight versions that only ever increase, also across learner restarts (persisted in
// the state directory).
class WeightVersionCounter {
 public:
  // Reads `path` (missing = start at 0).
  static absl::StatusOr<std::unique_ptr<WeightVersionCounter>> Open(const std::string& path);
  // The next version (persisted before it is returned).
  absl::StatusOr<int64_t> Next();
  int64_t last() const { return last_; }

 private:
  WeightVersionCounter(std::string path, int64_t last) : path_(std::move(path)), last_(last) {}
  std::string path_;
  int64_t last_;
};

struct DriverContext {
  JobStore* store = nullptr;
  RankCoordinator* ranks = nullptr;
  weights::WeightPublisher* publisher = nullptr;
  WeightVersionCounter* versions = nullptr;
  LearnerMetrics* metrics = nullptr;  // may be null
  // Jobs write under <state_dir>/jobs/<job id>/ (checkpoints/, final/).
  std::string state_dir;
  ServiceDefaults defaults;
  // Called after the driver appended events to the store (wakes Watch streams).
  std::function<void()> on_event;
  // Period of the heartbeats rank 0 sends the other ranks during phases without rank work
  // (generation, scoring, evaluation), so their wait for the next command never reaches the
  // group timeout.
  absl::Duration heartbeat_interval = absl::Seconds(10);
};

// How a job run ended.
struct JobOutcome {
  chord::v1::JobState state = chord::v1::JOB_STATE_FAILED;
  std::string reason;
  // Whether a failure broke the rank group is not judged here: the job manager asks the group
  // itself (a heartbeat) after a failed job.
};

// Cancellation of a running job, shared between the job service (which requests it) and the
// driver (which polls it between phases and installs a hook that aborts work in flight).
class JobControl {
 public:
  // Sets the flag and runs the abort hook (if any). Idempotent; any thread. With
  // `checkpoint_first` (learner shutdown) the driver saves a checkpoint of the steps done before
  // it stops, so that the job resumes without losing them.
  void RequestCancel(const std::string& reason, bool checkpoint_first = false);
  bool cancelled() const { return cancelled_.load(); }
  bool checkpoint_first() const { return checkpoint_first_.load(); }
  std::string reason() const;
  // The driver installs the hook that aborts in-flight generation; nullptr removes it.
  void SetAbortHook(std::function<void()> hook);

 private:
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> checkpoint_first_{false};
  mutable absl::Mutex mu_;
  std::string reason_ ABSL_GUARDED_BY(mu_);
  std::function<void()> abort_ ABSL_GUARDED_BY(mu_);
};

// Runs `job` (already RUNNING in the store) to the end: SUCCEEDED, CANCELLED (when `control`
// asks) or FAILED with the reason. Events (steps, evals, checkpoints, log lines) go to the store
// as they happen.
JobOutcome RunJob(const DriverContext& context, const chord::v1::JobStatus& job,
                  const JobSpec& spec, JobControl* control);

}  // namespace chord::learner
