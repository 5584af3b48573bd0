#include "services/learner/driver.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/status/status_macros.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/tokenizer.h"
#include "services/learner/batch_builder.h"
#include "services/learner/checkpoint.h"
#include "services/learner/evaluator.h"
#include "services/learner/expert_rows.h"
#include "services/learner/metrics.h"
#include "services/learner/outage.h"
#include "services/learner/rollout_pool.h"
#include "services/learner/rollout_source.h"
#include "services/learner/seed_streams.h"
#include "services/learner/stage_plan.h"
#include "services/learner/step_metrics.h"
#include "spdlog/spdlog.h"

namespace chord::learner {
namespace {

using chord::v1::JobStatus;

double Seconds(absl::Time since) { return absl::ToDoubleSeconds(absl::Now() - since); }

absl::Status MakeDirs(const std::string& dir) {
  std::string partial;
  for (size_t pos = 0; pos != std::string::npos;) {
    pos = dir.find('/', pos + 1);
    partial = dir.substr(0, pos);
    if (partial.empty()) continue;
    if (mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::InternalError(
          absl::StrCat("cannot create directory ", partial, ": ", strerror(errno)));
    }
  }
  return absl::OkStatus();
}

// The checkpoint directories under `parent`, oldest first.
std::vector<std::string> CheckpointsIn(const std::string& parent) {
  std::vector<std::pair<int64_t, std::string>> found;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(parent, error)) {
    std::string name = entry.path().filename().string();
    if (auto step = ParseCheckpointName(name)) found.push_back({*step, entry.path().string()});
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> dirs;
  for (auto& [step, dir] : found) dirs.push_back(dir);
  return dirs;
}

JobOutcome Failed(const absl::Status& status, int64_t step, const JobLog& log) {
  JobOutcome outcome;
  outcome.state = chord::v1::JOB_STATE_FAILED;
  outcome.reason = std::string(status.message());
  if (outcome.reason.empty()) outcome.reason = status.ToString();
  log.Line(absl::StrCat("failed at step ", step, ": ", status.ToString()));
  return outcome;
}

JobOutcome Cancelled(const JobControl& control, int64_t step, const JobLog& log) {
  JobOutcome outcome;
  outcome.state = chord::v1::JOB_STATE_CANCELLED;
  outcome.reason = control.reason().empty() ? "cancelled" : control.reason();
  log.Line(absl::StrCat("cancelled at step ", step, ": ", outcome.reason));
  return outcome;
}

// The step loop of one job run.
class JobRunner {
 public:
  JobRunner(const DriverContext& context, const JobStatus& job, const JobSpec& spec,
            PreparedJob prepared, JobControl* control)
      : ctx_(context),
        job_(job),
        spec_(spec),
        prepared_(std::move(prepared)),
        control_(control),
        log_(context.store, job.job_id(), context.on_event) {}

  JobOutcome Run();

 private:
  // Directories, stages, tokenizer and the parts (no rank work).
  absl::Status Setup();
  absl::Status StartOrResume();
  absl::Status RunSteps();
  absl::Status TrainOneStep(int64_t step);
  absl::Status Evaluate(int64_t step);
  // Writes a checkpoint of `step` (unless it is the last one written) and counts the attempt in
  // chord_learner_checkpoints_total.
  absl::Status SaveCheckpoint(int64_t step);
  absl::Status WriteCheckpoint(int64_t step);
  absl::Status Publish();
  absl::Status CheckCancelled();

  const DriverContext& ctx_;
  const JobStatus job_;
  const JobSpec& spec_;
  PreparedJob prepared_;
  JobControl* control_;
  JobLog log_;

  std::string job_dir_;
  std::string checkpoint_dir_;
  std::optional<StagePlan> stages_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  tokenizer::ChatFormat chat_format_ = tokenizer::ChatFormat::kChatML;
  std::unique_ptr<RolloutPool> pool_;
  std::unique_ptr<RolloutGatherer> gatherer_;
  std::unique_ptr<RolloutSource> rollouts_;
  std::unique_ptr<ExpertRowSampler> expert_rows_;
  std::unique_ptr<Evaluator> evaluator_;
  std::unique_ptr<OutageWaiter> outages_;

  // Progress (what a checkpoint saves).
  int64_t step_ = 0;
  int64_t stage_index_ = -1;
  std::string tasks_cursor_;
  std::string expert_cursor_;
  int64_t weight_version_ = 0;
  VersionPlan versions_;
  int64_t last_eval_step_ = -1;
  int64_t last_checkpoint_step_ = -1;
};

absl::Status JobRunner::CheckCancelled() {
  if (control_->cancelled()) return absl::CancelledError(control_->reason());
  return absl::OkStatus();
}

absl::Status JobRunner::Setup() {
  job_dir_ = absl::StrCat(ctx_.state_dir, "/jobs/", job_.job_id());
  checkpoint_dir_ = job_dir_ + "/checkpoints";
  RETURN_IF_ERROR(MakeDirs(checkpoint_dir_));
  ASSIGN_OR_RETURN(StagePlan stages, StagePlan::ForJob(spec_));
  stages_.emplace(std::move(stages));
  ASSIGN_OR_RETURN(tokenizer_, tokenizer::Tokenizer::FromFile(spec_.model + "/tokenizer.json"));
  ASSIGN_OR_RETURN(chat_format_, tokenizer::DetectChatFormat(spec_.model));

  outages_ = std::make_unique<OutageWaiter>(
      JobOutageOptions(spec_.services.outage_timeout_s, &log_, control_, ctx_.metrics));
  RolloutPoolOptions pool_options;
  pool_options.call_timeout = absl::Seconds(spec_.services.generation_timeout_s);
  pool_ = std::make_unique<RolloutPool>(prepared_.clients.rollout_workers, pool_options);
  control_->SetAbortHook([pool = pool_.get()] { pool->Cancel(); });
  gatherer_ =
      std::make_unique<RolloutGatherer>(&spec_, &*stages_, prepared_.clients.expert_buffer.get(),
                                        prepared_.clients.reward.get(), pool_.get());
  evaluator_ = std::make_unique<Evaluator>(&spec_, std::move(prepared_.eval_tasks),
                                           prepared_.clients.reward.get(), pool_.get(),
                                           ctx_.trainer, ctx_.heartbeat_interval, outages_.get());
  return absl::OkStatus();
}

absl::Status JobRunner::Publish() {
  ASSIGN_OR_RETURN(int64_t version, ctx_.versions->Next());
  RETURN_IF_ERROR(ctx_.trainer->PublishWeights(version));
  weight_version_ = version;
  if (ctx_.metrics) ctx_.metrics->SetWeightVersion(version);
  if (rollouts_) rollouts_->WeightsPublished(version);
  return absl::OkStatus();
}

absl::Status JobRunner::StartOrResume() {
  Trainer& trainer = *ctx_.trainer;
  const std::vector<algorithm::Stage>& stages = stages_->stages();
  RETURN_IF_ERROR(trainer.LoadModel(spec_.model));
  // The k2 KL term's reference is the job's starting model, also after a resume.
  for (const algorithm::Stage& stage : stages) {
    if (algorithm::NeedsReferencePolicy(stage.config)) {
      RETURN_IF_ERROR(trainer.LoadReference(spec_.model));
      log_.Line(absl::StrCat("reference policy for the KL term: ", spec_.model));
      break;
    }
  }
  const int64_t max_sequence_length = trainer.max_sequence_length();
  expert_rows_ = std::make_unique<ExpertRowSampler>(
      prepared_.clients.expert_buffer.get(), spec_.expert.name, ExpertSamplingSeed(spec_.seed),
      tokenizer_.get(), chat_format_, max_sequence_length,
      [this](const std::string& line) { log_.Line(line); });
  auto latest = FindLatestCheckpoint(checkpoint_dir_);
  if (latest.ok()) {
    // The stage is known only after reading the state; every stage's optimizer has the same
    // shape, so load with the first stage's config and switch below if needed.
    ASSIGN_OR_RETURN(TrainerState state, trainer.LoadCheckpoint(*latest, stages[0].config));
    step_ = state.step;
    tasks_cursor_ = state.values["tasks_cursor"];
    expert_cursor_ = state.values["expert_cursor"];
    const StagePlan::Position position = stages_->At(std::max<int64_t>(step_, 1));
    stage_index_ = position.index;
    if (stage_index_ != 0) {
      // Reload so that the optimizer is built for the stage of the checkpoint.
      ASSIGN_OR_RETURN(state, trainer.LoadCheckpoint(*latest, position.stage->config));
    }
    last_checkpoint_step_ = step_;
    log_.Line(absl::StrCat("resumed from ", *latest, " at step ", step_, " of ", spec_.steps));
  } else if (latest.status().code() == absl::StatusCode::kNotFound) {
    stage_index_ = 0;
    RETURN_IF_ERROR(trainer.ResetOptimizer(stages[0].config));
    log_.Line(absl::StrCat("started: ", spec_.steps, " steps, ", trainer.world_size(),
                           " learner rank(s), ", pool_->size(), " rollout worker(s), variant ",
                           spec_.algorithm.variant));
    // Every stage's start is an event (`chordctl plot` marks them), the first one's too.
    log_.Line(
        absl::StrCat("stage ", stages[0].name, " starts at step 1 (", stages[0].steps, " steps)"));
  } else {
    return latest.status();
  }
  RETURN_IF_ERROR(Publish());
  versions_.start_version = weight_version_;
  versions_.start_step = step_;
  return absl::OkStatus();
}

absl::Status JobRunner::Evaluate(int64_t step) {
  if (!evaluator_->enabled() || last_eval_step_ == step) return absl::OkStatus();
  ASSIGN_OR_RETURN(EvalResult result, evaluator_->Run(weight_version_));
  RETURN_IF_ERROR(ctx_.store->RecordEval(job_.job_id(), step, result.metrics));
  if (ctx_.metrics) ctx_.metrics->RecordEval(job_.job_id(), result.metrics);
  if (ctx_.on_event) ctx_.on_event();
  last_eval_step_ = step;
  // The EVAL event carries these figures to Watch and the store; the service log gets a line.
  spdlog::info(
      "job {}: eval at step {}: accuracy {:.3f} ({}/{}), mean reward {:.3f}, {:.1f} tokens",
      job_.job_id(), step, result.metrics["eval_accuracy"], result.correct, result.samples,
      result.metrics["eval_reward_mean"], result.metrics["eval_response_length"]);
  return absl::OkStatus();
}

absl::Status JobRunner::SaveCheckpoint(int64_t step) {
  if (last_checkpoint_step_ == step) return absl::OkStatus();
  absl::Status written = WriteCheckpoint(step);
  if (ctx_.metrics) ctx_.metrics->RecordCheckpoint(written.ok());
  return written;
}

absl::Status JobRunner::WriteCheckpoint(int64_t step) {
  absl::Time start = absl::Now();
  std::string dir = absl::StrCat(checkpoint_dir_, "/", CheckpointName(step));
  TrainerState state;
  state.step = step;
  state.values["tasks_cursor"] = tasks_cursor_;
  state.values["expert_cursor"] = expert_cursor_;
  state.values["job_id"] = job_.job_id();
  state.values["stage"] = std::to_string(stage_index_);
  state.values["weight_version"] = std::to_string(weight_version_);
  RETURN_IF_ERROR(ctx_.trainer->SaveCheckpoint(dir, state));
  RETURN_IF_ERROR(PruneCheckpoints(checkpoint_dir_, static_cast<int>(spec_.keep_checkpoints)));
  std::vector<std::string> kept = CheckpointsIn(checkpoint_dir_);
  RETURN_IF_ERROR(ctx_.store->RecordCheckpoint(job_.job_id(), step, dir, kept));
  if (ctx_.on_event) ctx_.on_event();
  last_checkpoint_step_ = step;
  if (ctx_.metrics) ctx_.metrics->RecordPhase("checkpoint", Seconds(start));
  spdlog::info("job {}: checkpoint {} in {:.2f}s", job_.job_id(), dir, Seconds(start));
  return absl::OkStatus();
}

absl::Status JobRunner::TrainOneStep(int64_t step) {
  absl::Time step_start = absl::Now();
  const StagePlan::Position position = stages_->At(step);
  const algorithm::Stage& stage = *position.stage;
  if (position.index != stage_index_) {
    // Evaluate where each stage ends, so the job record shows what each stage contributed.
    if (step > 1) RETURN_IF_ERROR(Evaluate(step - 1));
    RETURN_IF_ERROR(ctx_.trainer->ResetOptimizer(stage.config));
    stage_index_ = position.index;
    log_.Line(
        absl::StrCat("stage ", stage.name, " starts at step ", step, " (", stage.steps, " steps)"));
  }

  ASSIGN_OR_RETURN(RolloutBatch batch, rollouts_->Next(step, tasks_cursor_));
  RETURN_IF_ERROR(CheckCancelled());
  algorithm::GrpoOptions grpo;
  grpo.drop_zero_advantage_groups = stage.config.batch.drop_zero_advantage_groups;
  ASSIGN_OR_RETURN(OnPolicyRows on_policy, BuildOnPolicyRows(batch.groups, grpo));
  std::vector<algorithm::TrainingRow> rows = std::move(on_policy.rows);
  const int64_t expert_count = stages_->StagedSpec(spec_, step).ExpertRowsPerStep();
  // Cursors advance only once the step is trained, so a step interrupted before that is redone
  // with the same data after a resume.
  std::string expert_cursor = expert_cursor_;
  if (expert_count > 0) {
    std::vector<algorithm::TrainingRow> expert_rows;
    RETURN_IF_ERROR(ctx_.trainer->HeartbeatWhile(
        ctx_.heartbeat_interval,
        [&] {
          return outages_->Run("expert_samples", [&]() -> absl::Status {
            std::string cursor = expert_cursor_;  // every attempt from the step's cursor
            ASSIGN_OR_RETURN(expert_rows, expert_rows_->Sample(expert_count, &cursor));
            expert_cursor = cursor;
            return absl::OkStatus();
          });
        },
        nullptr));
    for (auto& row : expert_rows) rows.push_back(std::move(row));
  }
  RETURN_IF_ERROR(CheckCancelled());

  StepTimings timings;
  absl::Time train_start = absl::Now();
  ASSIGN_OR_RETURN(algorithm::StepMetrics trained,
                   ctx_.trainer->TrainStep(step - position.start, stage.steps, rows, stage.config));
  timings.train_seconds = Seconds(train_start);
  tasks_cursor_ = batch.tasks_cursor_after;
  expert_cursor_ = expert_cursor;
  step_ = step;

  absl::Time publish_start = absl::Now();
  RETURN_IF_ERROR(Publish());
  timings.publish_seconds = Seconds(publish_start);
  timings.step_seconds = Seconds(step_start);

  std::map<std::string, double> metrics =
      StepMetricsMap(trained, on_policy, batch, weight_version_, timings);
  RETURN_IF_ERROR(ctx_.store->RecordStep(job_.job_id(), step, metrics));
  if (ctx_.metrics) {
    ctx_.metrics->RecordStep(job_.job_id(), metrics);
    ctx_.metrics->RecordResends(batch.stats.resends);
  }
  if (ctx_.on_event) ctx_.on_event();
  spdlog::info(
      "job {}: step {}/{} ({}) reward {} pg {:.4f} sft {:.4f} mu {:.3f} {:.2f}s", job_.job_id(),
      step, spec_.steps, stage.name,
      batch.groups.empty() ? std::string("-") : absl::StrFormat("%.3f", trained.reward_mean),
      trained.pg_loss, trained.sft_loss, trained.mu, timings.step_seconds);
  return absl::OkStatus();
}

absl::Status JobRunner::RunSteps() {
  if (step_ == 0) RETURN_IF_ERROR(Evaluate(0));
  RolloutSource::Options options;
  options.mode = spec_.mode;
  options.max_staleness = spec_.max_staleness;
  options.first_step = step_ + 1;
  options.last_step = spec_.steps;
  options.first_cursor = tasks_cursor_;
  options.versions = versions_;
  options.published_version = weight_version_;
  options.heartbeat_interval = ctx_.heartbeat_interval;
  options.outages = outages_.get();
  rollouts_ = RolloutSource::Create(options, gatherer_.get(), pool_.get(), ctx_.trainer);
  while (step_ < spec_.steps) {
    RETURN_IF_ERROR(CheckCancelled());
    const int64_t step = step_ + 1;
    RETURN_IF_ERROR(TrainOneStep(step));
    if (spec_.evaluation.interval > 0 && step % spec_.evaluation.interval == 0) {
      RETURN_IF_ERROR(Evaluate(step));
    }
    if (spec_.save_interval > 0 && step % spec_.save_interval == 0) {
      RETURN_IF_ERROR(SaveCheckpoint(step));
    }
  }
  rollouts_->Stop();
  RETURN_IF_ERROR(Evaluate(step_));
  RETURN_IF_ERROR(SaveCheckpoint(step_));
  std::string final_dir = job_dir_ + "/final";
  RETURN_IF_ERROR(ctx_.trainer->SaveModel(final_dir));
  RETURN_IF_ERROR(ctx_.store->SetOutputModel(job_.job_id(), final_dir));
  log_.Line(absl::StrCat("finished: final model in ", final_dir));
  return absl::OkStatus();
}

JobOutcome JobRunner::Run() {
  absl::Status status = Setup();
  bool ranks_touched = false;
  if (status.ok()) {
    ranks_touched = true;
    status = StartOrResume();
  }
  if (status.ok()) status = RunSteps();
  if (rollouts_) rollouts_->Stop();
  control_->SetAbortHook(nullptr);
  if (status.ok()) {
    JobOutcome outcome;
    outcome.state = chord::v1::JOB_STATE_SUCCEEDED;
    return outcome;
  }
  if (control_->cancelled()) {
    if (control_->checkpoint_first() && ranks_touched && step_ > last_checkpoint_step_) {
      absl::Status saved = SaveCheckpoint(step_);
      if (!saved.ok()) {
        log_.Line(absl::StrCat("checkpoint before stopping failed: ", saved.ToString()));
      }
    }
    return Cancelled(*control_, step_, log_);
  }
  return Failed(status, step_, log_);
}

}  // namespace

JobOutcome RunJob(const DriverContext& context, const chord::v1::JobStatus& job,
                  const JobSpec& spec, PreparedJob prepared, JobControl* control) {
  JobRunner runner(context, job, spec, std::move(prepared), control);
  return runner.Run();
}

JobOutcome PreparationFailed(const absl::Status& status, const JobControl& control,
                             const JobLog& log) {
  if (control.cancelled()) return Cancelled(control, 0, log);
  return Failed(status, 0, log);
}

}  // namespace chord::learner
