#pragma once

// Keeps the learner ranks in lockstep. Rank 0 (the driver's side) sends every operation as a
// RankCommand with c10d BroadcastBytes, then executes it itself; ranks > 0 run RunFollower, which
// receives the same commands in the same order and executes them on their LearnerRank, so the
// collectives inside every operation match across ranks.
//
// While no job runs, rank 0 sends NOOP heartbeats (Heartbeat()) so that the followers' pending
// broadcast never reaches the group timeout; during a job's long phases without rank work
// (generation, scoring, evaluation) HeartbeatWhile does the same. A failed collective (a rank died
// or hung) leaves the group unusable: the caller fails the job and restarts the learner (all
// ranks), which then resumes from the last checkpoint.
//
// Not thread-safe: one thread (the job runner) drives the coordinator.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "chord/v1/learner.pb.h"
#include "common/algorithm/loss_config.h"
#include "common/algorithm/micro_batch.h"
#include "common/algorithm/train_step.h"
#include "common/dist/process_group.h"
#include "services/learner/learner_rank.h"

namespace chord::learner {

class RankCoordinator {
 public:
  // Both not owned; `rank` must belong to `group` and group->rank() must be 0.
  RankCoordinator(dist::ProcessGroup* group, LearnerRank* rank) : group_(group), rank_(rank) {}

  absl::Status Heartbeat();
  // Runs `work` on a helper thread while this thread sends a heartbeat every `interval`, so that
  // phases longer than the group timeout do not fail the followers' wait for the next command.
  // If a heartbeat fails, `abort` is called (it must make `work` return soon) and, once `work`
  // has returned, the heartbeat's error is returned; otherwise `work`'s status. With one rank,
  // `work` runs on this thread.
  absl::Status HeartbeatWhile(absl::Duration interval, const std::function<absl::Status()>& work,
                              const std::function<void()>& abort);
  absl::Status LoadModel(const std::string& model_dir);
  // Every rank loads the frozen reference policy of the k2 KL term (LearnerRank::LoadReference).
  absl::Status LoadReference(const std::string& model_dir);
  absl::Status ResetOptimizer(const algorithm::Config& config);
  // `step` is 1-based within the stage of `total_steps` steps.
  absl::StatusOr<algorithm::StepMetrics> TrainStep(int64_t step, int64_t total_steps,
                                                   const std::vector<algorithm::TrainingRow>& rows,
                                                   const algorithm::Config& config);
  absl::Status SaveCheckpoint(const std::string& dir, const TrainerState& state);
  absl::StatusOr<TrainerState> LoadCheckpoint(const std::string& dir,
                                              const algorithm::Config& config);
  // Rank 0 writes the final model (no other rank takes part).
  absl::Status SaveModel(const std::string& dir);
  // Tells the followers to leave their loop (on learner shutdown).
  absl::Status Shutdown();

  LearnerRank& rank() { return *rank_; }
  int world_size() const { return group_->world_size(); }

 private:
  absl::Status Send(chord::v1::RankCommand command);

  dist::ProcessGroup* group_;
  LearnerRank* rank_;
  int64_t sequence_ = 0;
};

// The command loop of a rank > 0: receives and executes commands until SHUTDOWN (returns OK) or a
// failure (returns it: the process should exit non-zero so the whole group restarts).
absl::Status RunFollower(dist::ProcessGroup* group, LearnerRank* rank);

// Algorithm settings to and from the text map of RankCommand.algorithm.
std::map<std::string, std::string> ConfigToMap(const algorithm::Config& config);
absl::StatusOr<algorithm::Config> ConfigFromMap(
    const google::protobuf::Map<std::string, std::string>& map);

}  // namespace chord::learner
