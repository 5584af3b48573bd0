#include "services/learner/rank_coordinator.h"

#include <future>

#include "absl/strings/str_cat.h"
#include "common/status/status_macros.h"
#include "services/learner/batch_builder.h"
#include "spdlog/spdlog.h"

namespace chord::learner {

using chord::v1::RankCommand;

std::map<std::string, std::string> ConfigToMap(const algorithm::Config& config) {
  std::map<std::string, std::string> map;
  for (auto& [key, value] : algorithm::DescribeConfig(config)) map[key] = value;
  return map;
}

absl::StatusOr<algorithm::Config> ConfigFromMap(
    const google::protobuf::Map<std::string, std::string>& map) {
  algorithm::Config config;
  // The variant first (it sets presets), then every key on top, in a fixed order.
  auto variant = map.find("variant");
  if (variant != map.end()) RETURN_IF_ERROR(algorithm::ApplyVariant(variant->second, &config));
  std::map<std::string, std::string> sorted(map.begin(), map.end());
  for (const auto& [key, value] : sorted) {
    if (key == "variant") continue;
    RETURN_IF_ERROR(algorithm::SetConfigKey(key, value, &config));
  }
  return config;
}

absl::Status RankCoordinator::Send(RankCommand command) {
  command.set_sequence(++sequence_);
  if (group_->world_size() == 1) return absl::OkStatus();
  std::string bytes = command.SerializeAsString();
  return group_->BroadcastBytes(&bytes, /*root=*/0);
}

absl::Status RankCoordinator::Heartbeat() {
  RankCommand command;
  command.set_type(RankCommand::NOOP);
  return Send(std::move(command));
}

absl::Status RankCoordinator::HeartbeatWhile(absl::Duration interval,
                                             const std::function<absl::Status()>& work,
                                             const std::function<void()>& abort) {
  if (group_->world_size() == 1) return work();
  std::future<absl::Status> done = std::async(std::launch::async, work);
  const auto wait = absl::ToChronoMilliseconds(std::max(interval, absl::Milliseconds(10)));
  while (done.wait_for(wait) != std::future_status::ready) {
    absl::Status beat = Heartbeat();
    if (!beat.ok()) {
      if (abort) abort();
      done.wait();
      return beat;
    }
  }
  return done.get();
}

absl::Status RankCoordinator::LoadReference(const std::string& model_dir) {
  RankCommand command;
  command.set_type(RankCommand::LOAD_REFERENCE);
  command.set_model_dir(model_dir);
  RETURN_IF_ERROR(Send(std::move(command)));
  return rank_->LoadReference(model_dir);
}

absl::Status RankCoordinator::LoadModel(const std::string& model_dir) {
  RankCommand command;
  command.set_type(RankCommand::LOAD_MODEL);
  command.set_model_dir(model_dir);
  RETURN_IF_ERROR(Send(std::move(command)));
  return rank_->LoadModel(model_dir);
}

absl::Status RankCoordinator::ResetOptimizer(const algorithm::Config& config) {
  RankCommand command;
  command.set_type(RankCommand::RESET_OPTIMIZER);
  for (auto& [key, value] : ConfigToMap(config)) (*command.mutable_algorithm())[key] = value;
  RETURN_IF_ERROR(Send(std::move(command)));
  return rank_->ResetOptimizer(config);
}

absl::StatusOr<algorithm::StepMetrics> RankCoordinator::TrainStep(
    int64_t step, int64_t total_steps, const std::vector<algorithm::TrainingRow>& rows,
    const algorithm::Config& config) {
  if (group_->world_size() > 1) {
    RankCommand command;
    command.set_type(RankCommand::TRAIN_STEP);
    command.set_step(step);
    command.set_total_steps(total_steps);
    for (auto& [key, value] : ConfigToMap(config)) (*command.mutable_algorithm())[key] = value;
    for (const algorithm::TrainingRow& row : rows) *command.add_rows() = RowToTrajectory(row);
    RETURN_IF_ERROR(Send(std::move(command)));
  } else {
    ++sequence_;
  }
  return rank_->TrainStep(step, rows, config, total_steps);
}

absl::Status RankCoordinator::SaveCheckpoint(const std::string& dir, const TrainerState& state) {
  RankCommand command;
  command.set_type(RankCommand::SAVE_CHECKPOINT);
  command.set_path(dir);
  command.set_step(state.step);
  RETURN_IF_ERROR(Send(std::move(command)));
  return rank_->SaveCheckpoint(dir, state);
}

absl::StatusOr<TrainerState> RankCoordinator::LoadCheckpoint(const std::string& dir,
                                                             const algorithm::Config& config) {
  RankCommand command;
  command.set_type(RankCommand::LOAD_CHECKPOINT);
  command.set_path(dir);
  for (auto& [key, value] : ConfigToMap(config)) (*command.mutable_algorithm())[key] = value;
  RETURN_IF_ERROR(Send(std::move(command)));
  return rank_->LoadCheckpoint(dir, config);
}

absl::Status RankCoordinator::SaveModel(const std::string& dir) { return rank_->SaveModel(dir); }

absl::Status RankCoordinator::Shutdown() {
  RankCommand command;
  command.set_type(RankCommand::SHUTDOWN);
  return Send(std::move(command));
}

absl::Status RunFollower(dist::ProcessGroup* group, LearnerRank* rank) {
  int64_t expected = 1;
  while (true) {
    std::string bytes;
    RETURN_IF_ERROR(group->BroadcastBytes(&bytes, /*root=*/0));
    RankCommand command;
    if (!command.ParseFromString(bytes)) {
      return absl::DataLossError(absl::StrCat("rank ", group->rank(), ": unreadable command"));
    }
    if (command.sequence() != expected) {
      return absl::InternalError(absl::StrCat("rank ", group->rank(), ": command ",
                                              command.sequence(), " arrived, expected ", expected,
                                              " (ranks diverged)"));
    }
    ++expected;
    absl::Status status;
    switch (command.type()) {
      case RankCommand::NOOP:
        break;
      case RankCommand::LOAD_MODEL:
        status = rank->LoadModel(command.model_dir());
        break;
      case RankCommand::LOAD_REFERENCE:
        status = rank->LoadReference(command.model_dir());
        break;
      case RankCommand::RESET_OPTIMIZER: {
        auto config = ConfigFromMap(command.algorithm());
        status = config.ok() ? rank->ResetOptimizer(*config) : config.status();
        break;
      }
      case RankCommand::TRAIN_STEP: {
        auto config = ConfigFromMap(command.algorithm());
        if (!config.ok()) {
          status = config.status();
          break;
        }
        std::vector<algorithm::TrainingRow> rows;
        rows.reserve(command.rows_size());
        for (const auto& t : command.rows()) rows.push_back(TrajectoryToRow(t));
        status = rank->TrainStep(command.step(), rows, *config, command.total_steps()).status();
        break;
      }
      case RankCommand::SAVE_CHECKPOINT: {
        TrainerState state;
        state.step = command.step();
        status = rank->SaveCheckpoint(command.path(), state);
        break;
      }
      case RankCommand::LOAD_CHECKPOINT: {
        auto config = ConfigFromMap(command.algorithm());
        status =
            config.ok() ? rank->LoadCheckpoint(command.path(), *config).status() : config.status();
        break;
      }
      case RankCommand::SHUTDOWN:
        spdlog::info("rank {}: shutdown requested by rank 0", group->rank());
        return absl::OkStatus();
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("rank ", group->rank(), ": unknown command type ", command.type()));
    }
    if (!status.ok()) {
      // The same operation fails on rank 0 (it sees the collective error or its own); stop so the
      // group restarts cleanly.
      return Annotate(status, absl::StrCat("rank ", group->rank(), ": ",
                                           RankCommand::Type_Name(command.type())));
    }
  }
}

}  // namespace chord::learner
