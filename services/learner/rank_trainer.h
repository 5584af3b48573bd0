#pragma once

// The chord-learner binary's Trainer (trainer.h): the rank group through RankCoordinator (every
// operation is broadcast to the other ranks and run on all of them) and the WeightPublisher that
// the WeightService serves the rollout workers from.

#include "common/weights/weight_publisher.h"
#include "services/learner/rank_coordinator.h"
#include "services/learner/trainer.h"

namespace chord::learner {

class RankTrainer final : public Trainer {
 public:
  // Neither owned; both must outlive the trainer.
  RankTrainer(RankCoordinator* ranks, weights::WeightPublisher* publisher)
      : ranks_(ranks), publisher_(publisher) {}

  int world_size() const override { return ranks_->world_size(); }
  absl::Status Heartbeat() override { return ranks_->Heartbeat(); }
  absl::Status HeartbeatWhile(absl::Duration interval, const std::function<absl::Status()>& work,
                              const std::function<void()>& abort) override {
    return ranks_->HeartbeatWhile(interval, work, abort);
  }
  absl::Status LoadModel(const std::string& model_dir) override {
    return ranks_->LoadModel(model_dir);
  }
  absl::Status LoadReference(const std::string& model_dir) override {
    return ranks_->LoadReference(model_dir);
  }
  int64_t max_sequence_length() const override;
  absl::Status ResetOptimizer(const algorithm::Config& config) override {
    return ranks_->ResetOptimizer(config);
  }
  absl::StatusOr<algorithm::StepMetrics> TrainStep(int64_t step, int64_t total_steps,
                                                   const std::vector<algorithm::TrainingRow>& rows,
                                                   const algorithm::Config& config) override {
    return ranks_->TrainStep(step, total_steps, rows, config);
  }
  absl::Status SaveCheckpoint(const std::string& dir, const TrainerState& state) override {
    return ranks_->SaveCheckpoint(dir, state);
  }
  absl::StatusOr<TrainerState> LoadCheckpoint(const std::string& dir,
                                              const algorithm::Config& config) override {
    return ranks_->LoadCheckpoint(dir, config);
  }
  absl::Status SaveModel(const std::string& dir) override { return ranks_->SaveModel(dir); }
  absl::Status PublishWeights(int64_t version) override;
  absl::Status Shutdown() override { return ranks_->Shutdown(); }

 private:
  RankCoordinator* ranks_;
  weights::WeightPublisher* publisher_;
};

}  // namespace chord::learner
