#pragma once

// FakeTrainer: a Trainer (trainer.h) for the driver's unit tests. No model, no ranks.
//
//  - TrainStep records the step, its stage's step numbering and its rows, and returns metrics
//    that describe the rows (rows and tokens by kind, reward mean, loss = rows); failures()
//    scripts errors ("TrainStep", "LoadModel", ...).
//  - SaveCheckpoint writes a real checkpoint folder (checkpoint.h's format, with placeholder
//    weight and optimizer files), so the driver's resume, pruning and store records run as with
//    the real ranks; LoadCheckpoint reads its trainer_state.json back.
//  - PublishWeights records the version and calls the publish hook (a test moves its fake rollout
//    workers to the version there).
// Not thread-safe beyond what the driver needs (HeartbeatWhile runs `work` on the caller's
// thread).

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/rpc/scripted_failures.h"
#include "services/learner/trainer.h"

namespace chord::learner {

class FakeTrainer final : public Trainer {
 public:
  struct Step {
    int64_t step = 0;         // within the stage, 1-based
    int64_t total_steps = 0;  // of the stage
    std::vector<algorithm::TrainingRow> rows;
    algorithm::Config config;
  };

  void set_max_sequence_length(int64_t positions) { max_sequence_length_ = positions; }
  void set_publish_hook(std::function<void(int64_t version)> hook) { publish_hook_ = hook; }
  rpc::ScriptedFailures& failures() { return failures_; }

  const std::vector<Step>& steps() const { return steps_; }
  const std::vector<int64_t>& published() const { return published_; }
  const std::vector<std::string>& loaded_models() const { return loaded_models_; }
  int optimizer_resets() const { return optimizer_resets_; }
  int heartbeats() const { return heartbeats_.load(); }

  int world_size() const override { return 1; }
  absl::Status Heartbeat() override;
  absl::Status HeartbeatWhile(absl::Duration interval, const std::function<absl::Status()>& work,
                              const std::function<void()>& abort) override;
  absl::Status LoadModel(const std::string& model_dir) override;
  absl::Status LoadReference(const std::string& model_dir) override;
  int64_t max_sequence_length() const override { return max_sequence_length_; }
  absl::Status ResetOptimizer(const algorithm::Config& config) override;
  absl::StatusOr<algorithm::StepMetrics> TrainStep(int64_t step, int64_t total_steps,
                                                   const std::vector<algorithm::TrainingRow>& rows,
                                                   const algorithm::Config& config) override;
  absl::Status SaveCheckpoint(const std::string& dir, const TrainerState& state) override;
  absl::StatusOr<TrainerState> LoadCheckpoint(const std::string& dir,
                                              const algorithm::Config& config) override;
  absl::Status SaveModel(const std::string& dir) override;
  absl::Status PublishWeights(int64_t version) override;
  absl::Status Shutdown() override { return failures_.Take("Shutdown"); }

 private:
  rpc::ScriptedFailures failures_;
  int64_t max_sequence_length_ = 256;
  std::function<void(int64_t)> publish_hook_;
  std::vector<Step> steps_;
  std::vector<int64_t> published_;
  std::vector<std::string> loaded_models_;
  int optimizer_resets_ = 0;
  std::atomic<int> heartbeats_{0};  // Heartbeat may run beside the test thread
};

}  // namespace chord::learner
