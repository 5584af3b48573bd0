#pragma once

// What the job driver needs of the learner ranks: the operations every rank executes together
// (RankCoordinator's, rank_coordinator.h) and publishing the trained weights to the rollout
// workers. The chord-learner binary's Trainer is RankTrainer (rank_trainer.h); the driver's unit
// tests use a fake, so that a step runs in milliseconds without a model or a process group.
//
// Error codes are RankCoordinator's and LearnerRank's (learner_rank.h): INVALID_ARGUMENT for bad
// rows or configs, NOT_FOUND / DATA_LOSS for missing or corrupt model and checkpoint files,
// UNAVAILABLE / DEADLINE_EXCEEDED when a rank is gone (the group is then unusable).
//
// Not thread-safe: one thread (the job runner) drives it, except that HeartbeatWhile runs its
// `work` on a helper thread.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/algorithm/loss_config.h"
#include "common/algorithm/micro_batch.h"
#include "common/algorithm/step_metrics.h"
#include "services/learner/checkpoint.h"

namespace chord::learner {

class Trainer {
 public:
  virtual ~Trainer() = default;

  // Ranks in the group (1 without data parallelism).
  virtual int world_size() const = 0;
  // Keeps the other ranks' wait for the next command alive (a no-op with one rank).
  virtual absl::Status Heartbeat() = 0;
  // Runs `work` while heartbeats go out every `interval`; if one fails, `abort` (may be null) is
  // called to make `work` return soon and the heartbeat's error is returned, else `work`'s status.
  virtual absl::Status HeartbeatWhile(absl::Duration interval,
                                      const std::function<absl::Status()>& work,
                                      const std::function<void()>& abort) = 0;

  // Every rank loads the model folder (weights; the optimizer is reset separately).
  virtual absl::Status LoadModel(const std::string& model_dir) = 0;
  // Every rank loads the frozen reference policy of the k2 KL term.
  virtual absl::Status LoadReference(const std::string& model_dir) = 0;
  // Positions of the loaded model (its max_position_embeddings); 0 before LoadModel.
  virtual int64_t max_sequence_length() const = 0;
  virtual absl::Status ResetOptimizer(const algorithm::Config& config) = 0;
  // One training step on `rows` (the whole step's batch; the ranks split it). `step` is 1-based
  // within the stage of `total_steps` steps.
  virtual absl::StatusOr<algorithm::StepMetrics> TrainStep(
      int64_t step, int64_t total_steps, const std::vector<algorithm::TrainingRow>& rows,
      const algorithm::Config& config) = 0;
  // A checkpoint of weights, optimizer and `state` in `dir` (checkpoint.h's format).
  virtual absl::Status SaveCheckpoint(const std::string& dir, const TrainerState& state) = 0;
  virtual absl::StatusOr<TrainerState> LoadCheckpoint(const std::string& dir,
                                                      const algorithm::Config& config) = 0;
  // Rank 0 writes the current weights as a Hugging Face model folder.
  virtual absl::Status SaveModel(const std::string& dir) = 0;
  // Makes the current weights the weight version `version` that rollout workers fetch.
  virtual absl::Status PublishWeights(int64_t version) = 0;
  // Tells the other ranks to leave their loop (learner shutdown).
  virtual absl::Status Shutdown() = 0;
};

}  // namespace chord::learner
