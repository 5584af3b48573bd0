#pragma once

// The job driver (learner rank 0): runs one CHORD job from its spec to its end, assembled from
// parts with one job each:
//   RolloutSource (rollout_source.h)   each step's rollouts: tasks, generation, scores (sync or
//                                      async with the staleness bound)
//   ExpertRowSampler (expert_rows.h)   each step's expert rows
//   Evaluator (evaluator.h)            the held-out evaluation
//   StepMetricsMap (step_metrics.h)    what a step reports
//   Trainer (trainer.h)                the ranks: load, train, checkpoint, publish
// and the step loop here. The caller prepares the job first (job_setup.h: addresses, clients,
// datasets), so the driver talks only to client interfaces.
//
// One step: rollouts -> GRPO advantages -> expert rows -> one training step on all ranks ->
// publish the new weights -> evaluation every eval.interval steps -> checkpoint every
// save_interval steps. Stage boundaries (an SFT warm-up, then the variant) reset the optimizer
// and are evaluated.
//
// A job resumes from its newest valid checkpoint (weights, optimizer, step, data cursors), so a
// learner restarted mid-job continues at the next step with nothing lost or repeated: the
// cursors advance only once a step trained.

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "chord/v1/learner.pb.h"
#include "services/learner/job_control.h"
#include "services/learner/job_log.h"
#include "services/learner/job_setup.h"
#include "services/learner/job_spec.h"
#include "services/learner/job_store.h"
#include "services/learner/trainer.h"
#include "services/learner/weight_version_counter.h"

namespace chord::learner {

class LearnerMetrics;  // metrics.h

struct DriverContext {
  JobStore* store = nullptr;
  Trainer* trainer = nullptr;
  WeightVersionCounter* versions = nullptr;
  LearnerMetrics* metrics = nullptr;  // may be null
  // Jobs write under <state_dir>/jobs/<job id>/ (checkpoints/, final/).
  std::string state_dir;
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

// Runs `job` (already RUNNING in the store) with the prepared clients and eval tasks to the end:
// SUCCEEDED, CANCELLED (when `control` asks) or FAILED with the reason. Events (steps, evals,
// checkpoints, log lines) go to the store as they happen. Every pointer in `context` must outlive
// the call.
JobOutcome RunJob(const DriverContext& context, const chord::v1::JobStatus& job,
                  const JobSpec& spec, PreparedJob prepared, JobControl* control);

// The outcome of a job whose preparation (PrepareJob) failed with `status` before any rank work:
// CANCELLED when `control` was cancelled meanwhile, else FAILED; logged as RunJob logs its ends.
JobOutcome PreparationFailed(const absl::Status& status, const JobControl& control,
                             const JobLog& log);

}  // namespace chord::learner
