#include "services/learner/driver.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <filesystem>
#include <optional>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/files/file_io.h"
#include "common/status/status_macros.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/tokenizer.h"
#include "services/expert_buffer/client.h"
#include "services/learner/batch_builder.h"
#include "services/learner/checkpoint.h"
#include "services/learner/rollout_pool.h"
#include "services/reward/client.h"
#include "services/rollout_worker/client.h"
#include "spdlog/spdlog.h"

namespace chord::learner {

// ---------------------------------------------------------------------------------------------
// WeightVersionCounter, JobControl

absl::StatusOr<std::unique_ptr<WeightVersionCounter>> WeightVersionCounter::Open(
    const std::string& path) {
  int64_t last = 0;
  auto text = files::ReadFile(path);
  if (text.ok()) {
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &last) || last < 0) {
      return absl::DataLossError(absl::StrCat(path, ": not a weight version counter"));
    }
  } else if (text.status().code() != absl::StatusCode::kNotFound) {
    return text.status();
  }
  return std::unique_ptr<WeightVersionCounter>(new WeightVersionCounter(path, last));
}

absl::StatusOr<int64_t> WeightVersionCounter::Next() {
  RETURN_IF_ERROR(files::WriteFileAtomically(path_, absl::StrCat(last_ + 1, "\n")));
  return ++last_;
}

void JobControl::RequestCancel(const std::string& reason, bool checkpoint_first) {
  std::function<void()> abort;
  {
    absl::MutexLock lock(&mu_);
    if (checkpoint_first) checkpoint_first_ = true;
    if (!cancelled_.exchange(true)) reason_ = reason;
    abort = abort_;
  }
  if (abort) abort();
}

std::string JobControl::reason() const {
  absl::MutexLock lock(&mu_);
  return reason_;
}

void JobControl::SetAbortHook(std::function<void()> hook) {
  absl::MutexLock lock(&mu_);
  abort_ = std::move(hook);
  if (abort_ && cancelled_.load()) abort_();
}

namespace {

using chord::v1::JobStatus;

// A task as the rollout workers' prompt: its chat messages, or its prompt as one user turn.
chord::v1::Prompt PromptOf(const chord::v1::Task& task) {
  chord::v1::Prompt prompt;
  prompt.set_id(task.id());
  if (task.messages_size() > 0) {
    *prompt.mutable_messages() = task.messages();
  } else {
    auto* message = prompt.add_messages();
    message->set_role("user");
    message->set_content(task.prompt());
  }
  return prompt;
}

// A response to `task` for the reward service; the task's own verifier (`kind`) wins over the
// job's.
reward::RewardItem RewardItemOf(const chord::v1::Task& task, const std::string& id,
                                const std::string& response, const std::string& job_verifier) {
  return {id,
          task.kind().empty() ? job_verifier : task.kind(),
          task.prompt(),
          response,
          task.answer(),
          task.meta_json()};
}

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

// The on-policy material of one step, gathered before training.
struct RolloutBatch {
  int64_t step = 0;
  std::vector<chord::v1::Task> tasks;
  std::vector<std::vector<ScoredRollout>> groups;
  std::string tasks_cursor_after;
  RolloutStats stats;
  double generate_seconds = 0;
  double score_seconds = 0;
};

class JobRunner {
 public:
  JobRunner(const DriverContext& context, const JobStatus& job, const JobSpec& spec,
            JobControl* control)
      : ctx_(context), job_(job), spec_(spec), control_(control) {}

  JobOutcome Run();

 private:
  absl::Status Setup();
  absl::Status StartOrResume();
  absl::Status RunSteps();
  absl::StatusOr<RolloutBatch> GatherRollouts(int64_t step, const std::string& cursor);
  // Draws `count` expert rows from `*cursor` on, advancing it.
  absl::StatusOr<std::vector<algorithm::TrainingRow>> SampleExpertRows(int64_t count,
                                                                       std::string* cursor);
  absl::Status Evaluate(int64_t step);
  // Writes a checkpoint of `step` (unless it is the last one written) and counts the attempt in
  // chord_learner_checkpoints_total.
  absl::Status SaveCheckpoint(int64_t step);
  absl::Status WriteCheckpoint(int64_t step);
  absl::Status Publish();
  absl::Status CheckCancelled();
  void Log(const std::string& message);
  const algorithm::Stage& StageOf(int64_t step, int64_t* stage_start) const;
  // Rollout generation for async mode: a producer thread fills `prefetched_`.
  void StartProducer(int64_t first_step);
  void StopProducer();
  absl::StatusOr<RolloutBatch> NextBatch(int64_t step);

  const DriverContext& ctx_;
  JobStatus job_;
  const JobSpec& spec_;
  JobControl* control_;

  std::string job_dir_;
  std::string checkpoint_dir_;
  std::vector<algorithm::Stage> stages_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  tokenizer::ChatFormat chat_format_ = tokenizer::ChatFormat::kChatML;
  int64_t max_sequence_length_ = 0;
  std::unique_ptr<expert_buffer::ExpertBufferClient> expert_buffer_;
  std::unique_ptr<reward::RewardClient> reward_;
  std::unique_ptr<RolloutPool> pool_;
  std::vector<chord::v1::Task> eval_tasks_;

  // Progress (what a checkpoint saves).
  int64_t step_ = 0;
  int64_t stage_index_ = -1;
  std::string tasks_cursor_;
  std::string expert_cursor_;
  int64_t weight_version_ = 0;
  // Weight version published when the job (re)started: step s's weights are base + s - start.
  int64_t job_start_version_ = 0;
  int64_t job_start_step_ = 0;
  int64_t last_eval_step_ = -1;
  int64_t last_checkpoint_step_ = -1;

  // Async mode.
  absl::Mutex producer_mu_;
  absl::CondVar producer_cv_;
  std::deque<absl::StatusOr<RolloutBatch>> prefetched_ ABSL_GUARDED_BY(producer_mu_);
  int64_t published_version_ ABSL_GUARDED_BY(producer_mu_) = 0;
  bool stop_producer_ ABSL_GUARDED_BY(producer_mu_) = false;
  std::thread producer_;
};

void JobRunner::Log(const std::string& message) {
  spdlog::info("job {}: {}", job_.job_id(), message);
  absl::Status status = ctx_.store->AppendLog(job_.job_id(), message);
  if (!status.ok())
    spdlog::warn("job {}: cannot store log line: {}", job_.job_id(), status.ToString());
  if (ctx_.on_event) ctx_.on_event();
}

absl::Status JobRunner::CheckCancelled() {
  if (control_->cancelled()) return absl::CancelledError(control_->reason());
  return absl::OkStatus();
}

const algorithm::Stage& JobRunner::StageOf(int64_t step, int64_t* stage_start) const {
  int64_t start = 0;
  for (size_t i = 0; i < stages_.size(); ++i) {
    if (step <= start + stages_[i].steps || i + 1 == stages_.size()) {
      *stage_start = start;
      return stages_[i];
    }
    start += stages_[i].steps;
  }
  *stage_start = 0;
  return stages_.back();
}

absl::Status JobRunner::Setup() {
  job_dir_ = absl::StrCat(ctx_.state_dir, "/jobs/", job_.job_id());
  checkpoint_dir_ = job_dir_ + "/checkpoints";
  RETURN_IF_ERROR(MakeDirs(checkpoint_dir_));
  ASSIGN_OR_RETURN(stages_, algorithm::PlanStages(spec_.algorithm, spec_.steps));

  ASSIGN_OR_RETURN(tokenizer_, tokenizer::Tokenizer::FromFile(spec_.model + "/tokenizer.json"));
  ASSIGN_OR_RETURN(chat_format_, tokenizer::DetectChatFormat(spec_.model));

  rpc::ClientOptions call_options = ctx_.defaults.client;
  call_options.attempt_deadline = absl::Seconds(spec_.services.call_timeout_s);
  call_options.total_deadline = absl::Seconds(spec_.services.call_timeout_s * 2);
  std::string eb = spec_.services.expert_buffer.empty() ? ctx_.defaults.expert_buffer
                                                        : spec_.services.expert_buffer;
  std::string rw = spec_.services.reward.empty() ? ctx_.defaults.reward : spec_.services.reward;
  std::vector<std::string> workers = spec_.services.rollout_workers.empty()
                                         ? ctx_.defaults.rollout_workers
                                         : spec_.services.rollout_workers;
  if (eb.empty())
    return absl::FailedPreconditionError(
        "no expert buffer address (services.expert_buffer or --expert_buffer)");
  if (rw.empty())
    return absl::FailedPreconditionError("no reward service address (services.reward or --reward)");
  if (workers.empty())
    return absl::FailedPreconditionError(
        "no rollout workers (services.rollout_workers or --rollout_workers)");
  ASSIGN_OR_RETURN(expert_buffer_, expert_buffer::GrpcExpertBufferClient::Create(eb, call_options));
  ASSIGN_OR_RETURN(reward_, reward::GrpcRewardClient::Create(rw, call_options));
  {
    // The job's verifier must exist on this reward service (it may register its own).
    ASSIGN_OR_RETURN(auto verifiers, reward_->ListVerifiers());
    std::vector<std::string> names;
    for (const auto& v : verifiers) names.push_back(v.name);
    if (std::find(names.begin(), names.end(), spec_.verifier) == names.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "verifier: \"", spec_.verifier, "\" is not a verifier of the reward service at ", rw,
          " (it has: ", absl::StrJoin(names, ", "), ")"));
    }
  }
  std::vector<RolloutPool::Worker> pool_workers;
  for (const std::string& address : workers) {
    ASSIGN_OR_RETURN(auto client,
                     rollout_worker::GrpcRolloutClient::Create(address, ctx_.defaults.client));
    pool_workers.push_back({address, std::move(client)});
  }
  RolloutPoolOptions pool_options;
  pool_options.call_timeout = absl::Seconds(spec_.services.generation_timeout_s);
  pool_ = std::make_unique<RolloutPool>(std::move(pool_workers), pool_options);
  control_->SetAbortHook([pool = pool_.get()] { pool->Cancel(); });

  // Datasets: (re)loading is idempotent, so a resumed job simply loads them again.
  auto load = [&](const DatasetRef& ref, chord::v1::DatasetKind kind) -> absl::Status {
    if (ref.path.empty()) return absl::OkStatus();
    chord::v1::LoadDatasetRequest request;
    request.set_name(ref.name);
    request.set_kind(kind);
    request.set_path(ref.path);
    ASSIGN_OR_RETURN(auto response, expert_buffer_->LoadDataset(request));
    Log(absl::StrCat("dataset ", ref.name, ": ", response.num_records(), " records from ",
                     ref.path));
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(Annotate(load(spec_.tasks, chord::v1::DATASET_KIND_TASKS), "datasets.tasks"));
  RETURN_IF_ERROR(Annotate(load(spec_.expert, chord::v1::DATASET_KIND_EXPERT), "datasets.expert"));
  RETURN_IF_ERROR(Annotate(load(spec_.eval, chord::v1::DATASET_KIND_TASKS), "datasets.eval"));
  if (!spec_.eval.path.empty()) {
    chord::v1::ReadTasksRequest request;
    request.set_dataset(spec_.eval.name);
    request.set_limit(spec_.evaluation.max_samples);
    ASSIGN_OR_RETURN(auto response, expert_buffer_->ReadTasks(request));
    eval_tasks_.assign(response.tasks().begin(), response.tasks().end());
  }
  return absl::OkStatus();
}

absl::Status JobRunner::Publish() {
  ASSIGN_OR_RETURN(int64_t version, ctx_.versions->Next());
  weights::WeightSet set;
  set.version = version;
  set.tensors = ctx_.ranks->rank().NamedParameters();
  RETURN_IF_ERROR(ctx_.publisher->Publish(std::move(set)));
  weight_version_ = version;
  if (ctx_.metrics) ctx_.metrics->SetWeightVersion(version);
  {
    absl::MutexLock lock(&producer_mu_);
    published_version_ = version;
    producer_cv_.SignalAll();
  }
  return absl::OkStatus();
}

absl::Status JobRunner::StartOrResume() {
  RETURN_IF_ERROR(ctx_.ranks->LoadModel(spec_.model));
  // The k2 KL term's reference is the job's starting model, also after a resume.
  for (const algorithm::Stage& stage : stages_) {
    if (algorithm::NeedsReferencePolicy(stage.config)) {
      RETURN_IF_ERROR(ctx_.ranks->LoadReference(spec_.model));
      Log(absl::StrCat("reference policy for the KL term: ", spec_.model));
      break;
    }
  }
  max_sequence_length_ = ctx_.ranks->rank().model().config().max_position_embeddings;
  auto latest = FindLatestCheckpoint(checkpoint_dir_);
  if (latest.ok()) {
    int64_t stage_start = 0;
    // The stage is known only after reading the state; every stage's optimizer has the same
    // shape, so load with the first stage's config and switch below if needed.
    ASSIGN_OR_RETURN(TrainerState state, ctx_.ranks->LoadCheckpoint(*latest, stages_[0].config));
    step_ = state.step;
    tasks_cursor_ = state.values["tasks_cursor"];
    expert_cursor_ = state.values["expert_cursor"];
    const algorithm::Stage& stage = StageOf(std::max<int64_t>(step_, 1), &stage_start);
    stage_index_ = &stage - stages_.data();
    if (stage_index_ != 0) {
      // Reload so that the optimizer is built for the stage of the checkpoint.
      ASSIGN_OR_RETURN(state, ctx_.ranks->LoadCheckpoint(*latest, stage.config));
    }
    last_checkpoint_step_ = step_;
    Log(absl::StrCat("resumed from ", *latest, " at step ", step_, " of ", spec_.steps));
  } else if (latest.status().code() == absl::StatusCode::kNotFound) {
    stage_index_ = 0;
    RETURN_IF_ERROR(ctx_.ranks->ResetOptimizer(stages_[0].config));
    Log(absl::StrCat("started: ", spec_.steps, " steps, ", ctx_.ranks->world_size(),
                     " learner rank(s), ", pool_->size(), " rollout worker(s), variant ",
                     spec_.algorithm.variant));
    // Every stage's start is an event (`chordctl plot` marks them), the first one's too.
    Log(absl::StrCat("stage ", stages_[0].name, " starts at step 1 (", stages_[0].steps,
                     " steps)"));
  } else {
    return latest.status();
  }
  RETURN_IF_ERROR(Publish());
  job_start_version_ = weight_version_;
  job_start_step_ = step_;
  return absl::OkStatus();
}

absl::StatusOr<RolloutBatch> JobRunner::GatherRollouts(int64_t step, const std::string& cursor) {
  RolloutBatch batch;
  batch.step = step;
  int64_t stage_start = 0;
  const algorithm::Stage& stage = StageOf(step, &stage_start);
  JobSpec staged = spec_;
  staged.algorithm = stage.config;
  int64_t num_tasks = staged.TasksPerStep();
  int k = static_cast<int>(stage.config.batch.repeat_times);
  batch.tasks_cursor_after = cursor;
  if (num_tasks <= 0) return batch;

  chord::v1::SampleRequest sample;
  sample.set_dataset(spec_.tasks.name);
  sample.set_n(static_cast<int32_t>(num_tasks));
  sample.set_cursor(cursor);
  sample.set_seed(spec_.seed);
  ASSIGN_OR_RETURN(auto tasks, expert_buffer_->SampleTasks(sample));
  batch.tasks.assign(tasks.tasks().begin(), tasks.tasks().end());
  batch.tasks_cursor_after = tasks.next_cursor();

  std::vector<chord::v1::Prompt> prompts;
  for (const chord::v1::Task& task : batch.tasks) prompts.push_back(PromptOf(task));
  chord::v1::SamplingParams sampling;
  sampling.set_temperature(static_cast<float>(spec_.sampling.temperature));
  sampling.set_has_temperature(true);
  sampling.set_top_p(static_cast<float>(spec_.sampling.top_p));
  sampling.set_top_k(spec_.sampling.top_k);
  sampling.set_max_new_tokens(spec_.sampling.max_new_tokens);
  for (const std::string& s : spec_.sampling.stop_strings) sampling.add_stop_strings(s);
  // A seed per (job seed, step): a resumed job regenerates the same samples from the same weights.
  sampling.set_seed(spec_.seed * 1000003ULL + static_cast<uint64_t>(step));

  // Weights: sync mode trains on the newest version; async mode accepts up to max_staleness
  // versions behind (step s's weights are job_start_version_ + (s - 1 - job_start_step_)).
  int64_t lag = spec_.mode == "async" ? spec_.max_staleness : 0;
  int64_t min_version = job_start_version_ + std::max<int64_t>(0, step - 1 - lag - job_start_step_);
  if (spec_.mode == "async") {
    absl::MutexLock lock(&producer_mu_);
    while (published_version_ < min_version && !stop_producer_) producer_cv_.Wait(&producer_mu_);
    if (stop_producer_) return absl::CancelledError("producer stopped");
  }
  absl::Time start = absl::Now();
  ASSIGN_OR_RETURN(auto completions,
                   pool_->Generate(prompts, sampling, k, min_version, &batch.stats));
  batch.generate_seconds = Seconds(start);

  start = absl::Now();
  std::vector<reward::RewardItem> items;
  for (size_t i = 0; i < batch.tasks.size(); ++i) {
    const chord::v1::Task& task = batch.tasks[i];
    for (const chord::v1::Completion& c : completions[i]) {
      items.push_back(RewardItemOf(task, absl::StrCat(task.id(), "#", c.sample_index()), c.text(),
                                   spec_.verifier));
    }
  }
  ASSIGN_OR_RETURN(auto scores, reward_->Score(items, spec_.think_format_penalty));
  batch.score_seconds = Seconds(start);
  size_t next = 0;
  batch.groups.resize(batch.tasks.size());
  for (size_t i = 0; i < batch.tasks.size(); ++i) {
    for (const chord::v1::Completion& c : completions[i]) {
      const reward::ScoreResult& score = scores[next++];
      batch.groups[i].push_back({c, score.score, score.correct});
    }
  }
  return batch;
}

absl::StatusOr<std::vector<algorithm::TrainingRow>> JobRunner::SampleExpertRows(
    int64_t count, std::string* cursor) {
  std::vector<algorithm::TrainingRow> rows;
  // Over-long demonstrations are skipped: draw again until `count` rows (bounded).
  for (int attempt = 0; attempt < 8 && static_cast<int64_t>(rows.size()) < count; ++attempt) {
    chord::v1::SampleRequest sample;
    sample.set_dataset(spec_.expert.name);
    sample.set_n(static_cast<int32_t>(count - static_cast<int64_t>(rows.size())));
    sample.set_cursor(*cursor);
    sample.set_seed(spec_.seed + 7919);
    ASSIGN_OR_RETURN(auto response, expert_buffer_->SampleExpert(sample));
    *cursor = response.next_cursor();
    std::vector<chord::v1::ExpertSample> samples(response.samples().begin(),
                                                 response.samples().end());
    ASSIGN_OR_RETURN(ExpertRows built,
                     BuildExpertRows(*tokenizer_, chat_format_, samples, max_sequence_length_));
    if (!built.skipped.empty()) {
      Log(absl::StrCat("skipped ", built.skipped.size(), " expert samples longer than the model's ",
                       max_sequence_length_, " positions (e.g. ", built.skipped.front(), ")"));
    }
    for (auto& row : built.rows) rows.push_back(std::move(row));
  }
  if (static_cast<int64_t>(rows.size()) < count) {
    return absl::FailedPreconditionError(absl::StrCat("datasets.expert: could not draw ", count,
                                                      " expert rows that fit the model's ",
                                                      max_sequence_length_, " positions"));
  }
  return rows;
}

absl::Status JobRunner::Evaluate(int64_t step) {
  if (eval_tasks_.empty() || last_eval_step_ == step) return absl::OkStatus();
  absl::Time start = absl::Now();
  std::vector<chord::v1::Prompt> prompts;
  for (const chord::v1::Task& task : eval_tasks_) prompts.push_back(PromptOf(task));
  chord::v1::SamplingParams sampling;
  sampling.set_temperature(static_cast<float>(spec_.evaluation.temperature));
  sampling.set_has_temperature(true);
  sampling.set_max_new_tokens(spec_.evaluation.max_new_tokens);
  sampling.set_seed(spec_.seed + 104729);
  for (const std::string& s : spec_.sampling.stop_strings) sampling.add_stop_strings(s);
  std::vector<reward::ScoreResult> scores;
  double tokens = 0;
  RETURN_IF_ERROR(ctx_.ranks->HeartbeatWhile(
      ctx_.heartbeat_interval,
      [&]() -> absl::Status {
        ASSIGN_OR_RETURN(auto completions, pool_->Generate(prompts, sampling, 1, weight_version_));
        std::vector<reward::RewardItem> items;
        for (size_t i = 0; i < eval_tasks_.size(); ++i) {
          const chord::v1::Task& task = eval_tasks_[i];
          const chord::v1::Completion& c = completions[i].front();
          tokens += c.token_ids_size();
          items.push_back(RewardItemOf(task, task.id(), c.text(), spec_.verifier));
        }
        ASSIGN_OR_RETURN(scores, reward_->Score(items, spec_.think_format_penalty));
        return absl::OkStatus();
      },
      [this] { pool_->Cancel(); }));
  double correct = 0, reward_sum = 0;
  for (const auto& s : scores) {
    correct += s.correct ? 1 : 0;
    reward_sum += s.score;
  }
  double n = static_cast<double>(scores.size());
  std::map<std::string, double> metrics = {
      {"eval_accuracy", correct / n},       {"eval_reward_mean", reward_sum / n},
      {"eval_response_length", tokens / n}, {"eval_samples", n},
      {"eval_seconds", Seconds(start)},
  };
  RETURN_IF_ERROR(ctx_.store->RecordEval(job_.job_id(), step, metrics));
  if (ctx_.metrics) ctx_.metrics->RecordEval(job_.job_id(), metrics);
  if (ctx_.on_event) ctx_.on_event();
  last_eval_step_ = step;
  // The EVAL event carries these figures to Watch and the store; the service log gets a line.
  spdlog::info(
      "job {}: eval at step {}: accuracy {:.3f} ({}/{}), mean reward {:.3f}, {:.1f} tokens",
      job_.job_id(), step, correct / n, static_cast<int>(correct), static_cast<int>(n),
      reward_sum / n, tokens / n);
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
  RETURN_IF_ERROR(ctx_.ranks->SaveCheckpoint(dir, state));
  RETURN_IF_ERROR(PruneCheckpoints(checkpoint_dir_, static_cast<int>(spec_.keep_checkpoints)));
  std::vector<std::string> kept = CheckpointsIn(checkpoint_dir_);
  RETURN_IF_ERROR(ctx_.store->RecordCheckpoint(job_.job_id(), step, dir, kept));
  if (ctx_.on_event) ctx_.on_event();
  last_checkpoint_step_ = step;
  if (ctx_.metrics) ctx_.metrics->RecordPhase("checkpoint", Seconds(start));
  spdlog::info("job {}: checkpoint {} in {:.2f}s", job_.job_id(), dir, Seconds(start));
  return absl::OkStatus();
}

void JobRunner::StartProducer(int64_t first_step) {
  producer_ = std::thread([this, first_step] {
    std::string cursor = tasks_cursor_;
    for (int64_t s = first_step; s <= spec_.steps; ++s) {
      {
        absl::MutexLock lock(&producer_mu_);
        // At most max_staleness + 1 batches ahead of training.
        while (!stop_producer_ && static_cast<int64_t>(prefetched_.size()) > spec_.max_staleness) {
          producer_cv_.Wait(&producer_mu_);
        }
        if (stop_producer_) return;
      }
      absl::StatusOr<RolloutBatch> batch = GatherRollouts(s, cursor);
      if (batch.ok()) cursor = batch->tasks_cursor_after;
      bool failed = !batch.ok();
      absl::MutexLock lock(&producer_mu_);
      prefetched_.push_back(std::move(batch));
      producer_cv_.SignalAll();
      if (failed) return;
    }
  });
}

void JobRunner::StopProducer() {
  {
    absl::MutexLock lock(&producer_mu_);
    stop_producer_ = true;
    producer_cv_.SignalAll();
  }
  if (producer_.joinable()) {
    pool_->Cancel();
    producer_.join();
    pool_->Reset();
  }
}

absl::StatusOr<RolloutBatch> JobRunner::NextBatch(int64_t step) {
  if (spec_.mode != "async") {
    absl::StatusOr<RolloutBatch> batch = absl::UnknownError("not run");
    RETURN_IF_ERROR(ctx_.ranks->HeartbeatWhile(
        ctx_.heartbeat_interval,
        [&] {
          batch = GatherRollouts(step, tasks_cursor_);
          return absl::OkStatus();
        },
        [this] { pool_->Cancel(); }));
    return batch;
  }
  while (true) {
    {
      absl::MutexLock lock(&producer_mu_);
      if (prefetched_.empty()) producer_cv_.WaitWithTimeout(&producer_mu_, ctx_.heartbeat_interval);
      if (!prefetched_.empty()) {
        absl::StatusOr<RolloutBatch> batch = std::move(prefetched_.front());
        prefetched_.pop_front();
        producer_cv_.SignalAll();
        return batch;
      }
    }
    // Still generating: keep the other ranks' wait for the next command alive.
    RETURN_IF_ERROR(ctx_.ranks->Heartbeat());
  }
}

absl::Status JobRunner::RunSteps() {
  if (step_ == 0) RETURN_IF_ERROR(Evaluate(0));
  if (spec_.mode == "async" && step_ < spec_.steps) StartProducer(step_ + 1);
  while (step_ < spec_.steps) {
    RETURN_IF_ERROR(CheckCancelled());
    int64_t step = step_ + 1;
    absl::Time step_start = absl::Now();
    int64_t stage_start = 0;
    const algorithm::Stage& stage = StageOf(step, &stage_start);
    int64_t stage_index = &stage - stages_.data();
    if (stage_index != stage_index_) {
      // Evaluate where each stage ends, so the job record shows what each stage contributed.
      if (step > 1) RETURN_IF_ERROR(Evaluate(step - 1));
      RETURN_IF_ERROR(ctx_.ranks->ResetOptimizer(stage.config));
      stage_index_ = stage_index;
      Log(absl::StrCat("stage ", stage.name, " starts at step ", step, " (", stage.steps,
                       " steps)"));
    }
    JobSpec staged = spec_;
    staged.algorithm = stage.config;

    ASSIGN_OR_RETURN(RolloutBatch batch, NextBatch(step));
    RETURN_IF_ERROR(CheckCancelled());
    algorithm::GrpoOptions grpo;
    grpo.drop_zero_advantage_groups = stage.config.batch.drop_zero_advantage_groups;
    ASSIGN_OR_RETURN(OnPolicyRows on_policy, BuildOnPolicyRows(batch.groups, grpo));
    std::vector<algorithm::TrainingRow> rows = std::move(on_policy.rows);
    int64_t expert_count = staged.ExpertRowsPerStep();
    // Cursors advance only once the step is trained, so a step interrupted before that is
    // redone with the same data after a resume.
    std::string expert_cursor = expert_cursor_;
    if (expert_count > 0) {
      ASSIGN_OR_RETURN(auto expert_rows, SampleExpertRows(expert_count, &expert_cursor));
      for (auto& row : expert_rows) rows.push_back(std::move(row));
    }
    RETURN_IF_ERROR(CheckCancelled());

    absl::Time train_start = absl::Now();
    ASSIGN_OR_RETURN(algorithm::StepMetrics step_metrics,
                     ctx_.ranks->TrainStep(step - stage_start, stage.steps, rows, stage.config));
    double train_seconds = Seconds(train_start);
    tasks_cursor_ = batch.tasks_cursor_after;
    expert_cursor_ = expert_cursor;
    step_ = step;

    absl::Time publish_start = absl::Now();
    RETURN_IF_ERROR(Publish());
    double publish_seconds = Seconds(publish_start);

    std::map<std::string, double> metrics;
    for (const auto& [name, value] : step_metrics.ToPairs()) metrics[name] = value;
    double step_seconds = Seconds(step_start);
    if (batch.groups.empty()) {
      // No rollouts this step (an SFT stage): no reward to report rather than a reward of 0.
      metrics.erase("reward_mean");
    } else {
      metrics["train_accuracy"] = on_policy.accuracy;
      metrics["response_length"] = on_policy.mean_response_tokens;
      metrics["zero_advantage_group_share"] = on_policy.grpo.zero_advantage_group_share;
      metrics["dropped_rows"] = static_cast<double>(on_policy.dropped_rows);
      metrics["generated_tokens"] = static_cast<double>(batch.stats.generated_tokens);
      metrics["rollout_resends"] = static_cast<double>(batch.stats.resends);
      // Versions between the weights trained here and the oldest that generated this batch.
      metrics["policy_lag"] =
          static_cast<double>(weight_version_ - 1 - batch.stats.min_weight_version);
      metrics["generate_seconds"] = batch.generate_seconds;
      metrics["score_seconds"] = batch.score_seconds;
    }
    metrics["weight_version"] = static_cast<double>(weight_version_);
    metrics["train_seconds"] = train_seconds;
    metrics["publish_seconds"] = publish_seconds;
    metrics["step_seconds"] = step_seconds;
    double trained = step_metrics.on_policy_tokens + step_metrics.expert_tokens;
    metrics["tokens_per_second"] = (trained + static_cast<double>(batch.stats.generated_tokens)) /
                                   std::max(step_seconds, 1e-9);
    RETURN_IF_ERROR(ctx_.store->RecordStep(job_.job_id(), step, metrics));
    if (ctx_.metrics) {
      ctx_.metrics->RecordStep(job_.job_id(), metrics);
      ctx_.metrics->RecordResends(batch.stats.resends);
    }
    if (ctx_.on_event) ctx_.on_event();
    spdlog::info(
        "job {}: step {}/{} ({}) reward {} pg {:.4f} sft {:.4f} mu {:.3f} {:.2f}s", job_.job_id(),
        step, spec_.steps, stage.name,
        batch.groups.empty() ? std::string("-") : absl::StrFormat("%.3f", step_metrics.reward_mean),
        step_metrics.pg_loss, step_metrics.sft_loss, step_metrics.mu, step_seconds);

    if (spec_.evaluation.interval > 0 && step % spec_.evaluation.interval == 0) {
      RETURN_IF_ERROR(Evaluate(step));
    }
    if (spec_.save_interval > 0 && step % spec_.save_interval == 0) {
      RETURN_IF_ERROR(SaveCheckpoint(step));
    }
  }
  StopProducer();
  RETURN_IF_ERROR(Evaluate(step_));
  RETURN_IF_ERROR(SaveCheckpoint(step_));
  std::string final_dir = job_dir_ + "/final";
  RETURN_IF_ERROR(ctx_.ranks->SaveModel(final_dir));
  RETURN_IF_ERROR(ctx_.store->SetOutputModel(job_.job_id(), final_dir));
  Log(absl::StrCat("finished: final model in ", final_dir));
  return absl::OkStatus();
}

JobOutcome JobRunner::Run() {
  JobOutcome outcome;
  // Setup loads the datasets (minutes for big ones): the other ranks get heartbeats meanwhile.
  absl::Status status = ctx_.ranks->HeartbeatWhile(
      ctx_.heartbeat_interval, [this] { return Setup(); }, nullptr);
  bool ranks_touched = false;
  if (status.ok()) {
    ranks_touched = true;
    status = StartOrResume();
  }
  if (status.ok()) status = RunSteps();
  StopProducer();
  control_->SetAbortHook(nullptr);
  if (status.ok()) {
    outcome.state = chord::v1::JOB_STATE_SUCCEEDED;
    return outcome;
  }
  if (control_->cancelled()) {
    if (control_->checkpoint_first() && ranks_touched && step_ > last_checkpoint_step_) {
      absl::Status saved = SaveCheckpoint(step_);
      if (!saved.ok()) Log(absl::StrCat("checkpoint before stopping failed: ", saved.ToString()));
    }
    outcome.state = chord::v1::JOB_STATE_CANCELLED;
    outcome.reason = control_->reason().empty() ? "cancelled" : control_->reason();
    Log(absl::StrCat("cancelled at step ", step_, ": ", outcome.reason));
    return outcome;
  }
  outcome.state = chord::v1::JOB_STATE_FAILED;
  outcome.reason = std::string(status.message());
  if (outcome.reason.empty()) outcome.reason = status.ToString();
  Log(absl::StrCat("failed at step ", step_, ": ", status.ToString()));
  return outcome;
}

}  // namespace

JobOutcome RunJob(const DriverContext& context, const chord::v1::JobStatus& job,
                  const JobSpec& spec, JobControl* control) {
  JobRunner runner(context, job, spec, control);
  return runner.Run();
}

}  // namespace chord::learner
