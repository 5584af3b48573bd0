#include "services/learner/fake_trainer.h"

#include <filesystem>

#include "common/files/file_io.h"
#include "common/status/status_macros.h"

namespace chord::learner {

absl::Status FakeTrainer::Heartbeat() {
  ++heartbeats_;
  return failures_.Take("Heartbeat");
}

absl::Status FakeTrainer::HeartbeatWhile(absl::Duration /*interval*/,
                                         const std::function<absl::Status()>& work,
                                         const std::function<void()>& /*abort*/) {
  // As RankCoordinator with one rank: `work` on this thread.
  return work();
}

absl::Status FakeTrainer::LoadModel(const std::string& model_dir) {
  RETURN_IF_ERROR(failures_.Take("LoadModel"));
  loaded_models_.push_back(model_dir);
  return absl::OkStatus();
}

absl::Status FakeTrainer::LoadReference(const std::string& /*model_dir*/) {
  return failures_.Take("LoadReference");
}

absl::Status FakeTrainer::ResetOptimizer(const algorithm::Config& /*config*/) {
  RETURN_IF_ERROR(failures_.Take("ResetOptimizer"));
  ++optimizer_resets_;
  return absl::OkStatus();
}

absl::StatusOr<algorithm::StepMetrics> FakeTrainer::TrainStep(
    int64_t step, int64_t total_steps, const std::vector<algorithm::TrainingRow>& rows,
    const algorithm::Config& config) {
  RETURN_IF_ERROR(failures_.Take("TrainStep"));
  steps_.push_back({step, total_steps, rows, config});
  algorithm::StepMetrics metrics;
  double reward_sum = 0;
  for (const algorithm::TrainingRow& row : rows) {
    const double tokens = static_cast<double>(row.response_ids.size());
    if (row.is_expert) {
      metrics.expert_rows += 1;
      metrics.expert_tokens += tokens;
    } else {
      metrics.on_policy_rows += 1;
      metrics.on_policy_tokens += tokens;
      reward_sum += row.reward;
    }
  }
  metrics.reward_mean = metrics.on_policy_rows > 0 ? reward_sum / metrics.on_policy_rows : 0;
  metrics.loss = static_cast<double>(rows.size());
  metrics.mu = config.mu.mu_peak;
  return metrics;
}

absl::Status FakeTrainer::SaveCheckpoint(const std::string& dir, const TrainerState& state) {
  RETURN_IF_ERROR(failures_.Take("SaveCheckpoint"));
  ASSIGN_OR_RETURN(std::unique_ptr<CheckpointWriter> writer, CheckpointWriter::Begin(dir));
  ASSIGN_OR_RETURN(std::string trainer_state, EncodeTrainerState(state, ""));
  RETURN_IF_ERROR(writer->WriteFile(kTrainerStateFile, trainer_state));
  RETURN_IF_ERROR(writer->WriteFile(kOptimizerFile, "fake optimizer state"));
  RETURN_IF_ERROR(writer->WriteFile(std::string(kModelFolder) + "/config.json", "{}"));
  return writer->Commit(state.step);
}

absl::StatusOr<TrainerState> FakeTrainer::LoadCheckpoint(const std::string& dir,
                                                         const algorithm::Config& /*config*/) {
  RETURN_IF_ERROR(failures_.Take("LoadCheckpoint"));
  const std::string path = dir + "/" + kTrainerStateFile;
  ASSIGN_OR_RETURN(std::string text, files::ReadFile(path));
  ASSIGN_OR_RETURN(DecodedTrainerState decoded, DecodeTrainerState(text, path));
  return decoded.state;
}

absl::Status FakeTrainer::SaveModel(const std::string& dir) {
  RETURN_IF_ERROR(failures_.Take("SaveModel"));
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  return files::WriteFileAtomically(dir + "/config.json", "{}");
}

absl::Status FakeTrainer::PublishWeights(int64_t version) {
  RETURN_IF_ERROR(failures_.Take("PublishWeights"));
  published_.push_back(version);
  if (publish_hook_) publish_hook_(version);
  return absl::OkStatus();
}

}  // namespace chord::learner
