#pragma once

// Where a training step's on-policy material comes from.
//
// RolloutGatherer makes one step's batch: B tasks from the expert buffer (from the tasks cursor),
// K completions of each from the rollout workers (RolloutPool: balanced shares, re-sent on
// failure) with weights at least a given version, and their verifier scores from the reward
// service.
//
// RolloutSource hands the step loop each step's batch, in one of the two JobModes:
//  - kSync: the batch of step s is gathered when the step asks for it, with the newest weights
//    (those trained by step s - 1), while the other ranks get heartbeats;
//  - kAsync: a producer thread gathers the steps ahead of training. The staleness bound: step s
//    is generated with weights at most `max_staleness` versions behind the newest it could train
//    on (it waits for WeightsPublished until then), and at most max_staleness + 1 batches wait
//    for training.
//
// Weight versions: a run (re)starts with weights `start_version` after `start_step` steps done,
// and each step publishes one new version, so step s trains on start_version + (s - 1 -
// start_step).

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "chord/v1/common.pb.h"
#include "services/expert_buffer/client.h"
#include "services/learner/batch_builder.h"
#include "services/learner/job_spec.h"
#include "services/learner/outage.h"
#include "services/learner/rollout_pool.h"
#include "services/learner/stage_plan.h"
#include "services/learner/trainer.h"
#include "services/reward/client.h"

namespace chord::learner {

// The on-policy material of one step, gathered before training.
struct RolloutBatch {
  int64_t step = 0;
  std::vector<chord::v1::Task> tasks;
  // groups[i]: the K scored completions of tasks[i], by sample index.
  std::vector<std::vector<ScoredRollout>> groups;
  // The tasks cursor after this batch (committed once the step trained).
  std::string tasks_cursor_after;
  RolloutStats stats;
  double generate_seconds = 0;
  double score_seconds = 0;
};

// Weight versions of a run (see the file comment).
struct VersionPlan {
  int64_t start_version = 0;
  int64_t start_step = 0;

  // The oldest version that may generate `step` when it may lag `lag` versions behind.
  int64_t MinVersionFor(int64_t step, int64_t lag) const;
};

// A task as the rollout workers' prompt: its chat messages, or its prompt as one user turn.
chord::v1::Prompt PromptOf(const chord::v1::Task& task);

// Appends the item that scores `response` to `task` (id `id`) to `request`; the task's own
// verifier (`kind`) wins over the job's.
void AddScoreItem(const chord::v1::Task& task, const std::string& id, const std::string& response,
                  const std::string& job_verifier, chord::v1::ScoreRequest* request);

// Thread-compatible: Gather may run on the producer thread while nothing else uses it.
class RolloutGatherer {
 public:
  // None owned; all must outlive the gatherer.
  RolloutGatherer(const JobSpec* spec, const StagePlan* stages,
                  expert_buffer::ExpertBufferClient* expert_buffer, reward::RewardClient* reward,
                  RolloutPool* pool)
      : spec_(spec), stages_(stages), expert_buffer_(expert_buffer), reward_(reward), pool_(pool) {}

  // The batch of `step`: tasks from `cursor` on (none in a stage without rollouts, e.g. SFT),
  // generated with weights >= `min_version` (sampling seed per job seed and step), scored. The
  // clients' errors are returned unchanged (CANCELLED after RolloutPool::Cancel).
  absl::StatusOr<RolloutBatch> Gather(int64_t step, const std::string& cursor,
                                      int64_t min_version) const;
  // Whether `step` generates rollouts (false in a stage of expert rows only).
  bool HasRollouts(int64_t step) const;

 private:
  const JobSpec* spec_;
  const StagePlan* stages_;
  expert_buffer::ExpertBufferClient* expert_buffer_;
  reward::RewardClient* reward_;
  RolloutPool* pool_;
};

class RolloutSource {
 public:
  struct Options {
    JobMode mode = JobMode::kSync;
    // kAsync: how many versions generation may lag (JobSpec::max_staleness).
    int64_t max_staleness = 1;
    // The run's first step and the job's last (kAsync: the producer's range).
    int64_t first_step = 1;
    int64_t last_step = 1;
    // The tasks cursor before first_step (kAsync: where the producer starts).
    std::string first_cursor;
    VersionPlan versions;
    // The newest published version when the source starts.
    int64_t published_version = 0;
    // Heartbeats to the other ranks while a step waits for its batch.
    absl::Duration heartbeat_interval = absl::Seconds(10);
    // Waits out outages of the expert buffer, the workers and the reward service while gathering
    // (outage.h; call "rollouts"); null: an outage fails the batch at once. Not owned.
    const OutageWaiter* outages = nullptr;
  };

  // `gatherer`, `pool` and `trainer` are not owned and must outlive the source. kAsync starts the
  // producer now (unless first_step > last_step).
  static std::unique_ptr<RolloutSource> Create(const Options& options,
                                               const RolloutGatherer* gatherer, RolloutPool* pool,
                                               Trainer* trainer);
  // Stop().
  virtual ~RolloutSource() = default;

  // The batch of `step` (steps come in order, from first_step). `cursor` is the tasks cursor
  // after the previous step (kSync gathers from it; kAsync follows its own). A failed gathering
  // is returned as the batch's error; a failed heartbeat as the call's.
  virtual absl::StatusOr<RolloutBatch> Next(int64_t step, const std::string& cursor) = 0;
  // Weights `version` were published (kAsync: steps waiting for them may be generated).
  virtual void WeightsPublished(int64_t version) = 0;
  // Stops generating: kAsync cancels the generation in flight and joins the producer (the pool is
  // usable again afterwards). Idempotent.
  virtual void Stop() = 0;
};

}  // namespace chord::learner
