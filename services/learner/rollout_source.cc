#include "services/learner/rollout_source.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status/status_macros.h"
#include "services/learner/seed_streams.h"

namespace chord::learner {
namespace {

double SecondsSince(absl::Time since) { return absl::ToDoubleSeconds(absl::Now() - since); }

class SyncRolloutSource final : public RolloutSource {
 public:
  SyncRolloutSource(const Options& options, const RolloutGatherer* gatherer, RolloutPool* pool,
                    Trainer* trainer)
      : options_(options), gatherer_(gatherer), pool_(pool), trainer_(trainer) {}

  absl::StatusOr<RolloutBatch> Next(int64_t step, const std::string& cursor) override {
    absl::StatusOr<RolloutBatch> batch = absl::UnknownError("not run");
    RETURN_IF_ERROR(trainer_->HeartbeatWhile(
        options_.heartbeat_interval,
        [&] {
          absl::Status gathered = WaitOutOutages(options_.outages, "rollouts", [&] {
            batch = gatherer_->Gather(step, cursor, options_.versions.MinVersionFor(step, 0));
            return batch.status();
          });
          if (!gathered.ok()) batch = gathered;  // annotated with the wait
          return absl::OkStatus();
        },
        [this] { pool_->Cancel(); }));
    return batch;
  }
  void WeightsPublished(int64_t /*version*/) override {}
  void Stop() override {}

 private:
  const Options options_;
  const RolloutGatherer* gatherer_;
  RolloutPool* pool_;
  Trainer* trainer_;
};

class AsyncRolloutSource final : public RolloutSource {
 public:
  AsyncRolloutSource(const Options& options, const RolloutGatherer* gatherer, RolloutPool* pool,
                     Trainer* trainer)
      : options_(options), gatherer_(gatherer), pool_(pool), trainer_(trainer) {
    published_version_ = options.published_version;
    if (options.first_step <= options.last_step) producer_ = std::thread([this] { Produce(); });
  }
  ~AsyncRolloutSource() override { Stop(); }

  absl::StatusOr<RolloutBatch> Next(int64_t /*step*/, const std::string& /*cursor*/) override {
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        if (prefetched_.empty()) cv_.WaitWithTimeout(&mu_, options_.heartbeat_interval);
        if (!prefetched_.empty()) {
          absl::StatusOr<RolloutBatch> batch = std::move(prefetched_.front());
          prefetched_.pop_front();
          cv_.SignalAll();
          return batch;
        }
      }
      // Still generating: keep the other ranks' wait for the next command alive.
      RETURN_IF_ERROR(trainer_->Heartbeat());
    }
  }

  void WeightsPublished(int64_t version) override {
    absl::MutexLock lock(&mu_);
    published_version_ = version;
    cv_.SignalAll();
  }

  void Stop() override {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
      cv_.SignalAll();
    }
    if (producer_.joinable()) {
      pool_->Cancel();
      producer_.join();
      pool_->Reset();
    }
  }

 private:
  void Produce() {
    std::string cursor = options_.first_cursor;
    for (int64_t step = options_.first_step; step <= options_.last_step; ++step) {
      const int64_t min_version = options_.versions.MinVersionFor(step, options_.max_staleness);
      {
        absl::MutexLock lock(&mu_);
        // At most max_staleness + 1 batches ahead of training, and weights at most
        // max_staleness versions behind.
        while (!stop_ && static_cast<int64_t>(prefetched_.size()) > options_.max_staleness) {
          cv_.Wait(&mu_);
        }
        if (gatherer_->HasRollouts(step)) {
          while (!stop_ && published_version_ < min_version) cv_.Wait(&mu_);
        }
        if (stop_) return;
      }
      absl::StatusOr<RolloutBatch> batch = absl::UnknownError("not gathered");
      absl::Status gathered = WaitOutOutages(
          options_.outages, "rollouts",
          [&] {
            batch = gatherer_->Gather(step, cursor, min_version);
            return batch.status();
          },
          [this] {
            absl::MutexLock lock(&mu_);
            return stop_;
          });
      if (!gathered.ok()) batch = gathered;
      if (batch.ok()) cursor = batch->tasks_cursor_after;
      const bool failed = !batch.ok();
      absl::MutexLock lock(&mu_);
      prefetched_.push_back(std::move(batch));
      cv_.SignalAll();
      if (failed) return;
    }
  }

  const Options options_;
  const RolloutGatherer* gatherer_;
  RolloutPool* pool_;
  Trainer* trainer_;
  absl::Mutex mu_;
  absl::CondVar cv_;
  std::deque<absl::StatusOr<RolloutBatch>> prefetched_ ABSL_GUARDED_BY(mu_);
  int64_t published_version_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread producer_;
};

}  // namespace

int64_t VersionPlan::MinVersionFor(int64_t step, int64_t lag) const {
  return start_version + std::max<int64_t>(0, step - 1 - lag - start_step);
}

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

void AddScoreItem(const chord::v1::Task& task, const std::string& id, const std::string& response,
                  const std::string& job_verifier, chord::v1::ScoreRequest* request) {
  chord::v1::ScoreItem* item = request->add_items();
  item->set_id(id);
  item->set_verifier(task.kind().empty() ? job_verifier : task.kind());
  item->set_prompt(task.prompt());
  item->set_response(response);
  item->set_reference(task.answer());
  item->set_meta_json(task.meta_json());
}

bool RolloutGatherer::HasRollouts(int64_t step) const {
  return stages_->StagedSpec(*spec_, step).TasksPerStep() > 0;
}

absl::StatusOr<RolloutBatch> RolloutGatherer::Gather(int64_t step, const std::string& cursor,
                                                     int64_t min_version) const {
  RolloutBatch batch;
  batch.step = step;
  const JobSpec staged = stages_->StagedSpec(*spec_, step);
  const int64_t num_tasks = staged.TasksPerStep();
  const int k = static_cast<int>(staged.algorithm.batch.repeat_times);
  batch.tasks_cursor_after = cursor;
  if (num_tasks <= 0) return batch;

  chord::v1::SampleRequest sample;
  sample.set_dataset(spec_->tasks.name);
  sample.set_n(static_cast<int32_t>(num_tasks));
  sample.set_cursor(cursor);
  sample.set_seed(TaskSamplingSeed(spec_->seed));
  ASSIGN_OR_RETURN(chord::v1::SampleTasksResponse tasks, expert_buffer_->SampleTasks(sample));
  batch.tasks.assign(tasks.tasks().begin(), tasks.tasks().end());
  batch.tasks_cursor_after = tasks.next_cursor();

  std::vector<chord::v1::Prompt> prompts;
  for (const chord::v1::Task& task : batch.tasks) prompts.push_back(PromptOf(task));
  chord::v1::SamplingParams sampling;
  sampling.set_temperature(static_cast<float>(spec_->sampling.temperature));
  sampling.set_has_temperature(true);
  sampling.set_top_p(static_cast<float>(spec_->sampling.top_p));
  sampling.set_top_k(spec_->sampling.top_k);
  sampling.set_max_new_tokens(spec_->sampling.max_new_tokens);
  for (const std::string& s : spec_->sampling.stop_strings) sampling.add_stop_strings(s);
  sampling.set_seed(RolloutSamplingSeed(spec_->seed, step));

  absl::Time start = absl::Now();
  ASSIGN_OR_RETURN(auto completions,
                   pool_->Generate(prompts, sampling, k, min_version, &batch.stats));
  batch.generate_seconds = SecondsSince(start);

  start = absl::Now();
  chord::v1::ScoreRequest items;
  items.set_think_format_penalty(spec_->think_format_penalty);
  for (size_t i = 0; i < batch.tasks.size(); ++i) {
    const chord::v1::Task& task = batch.tasks[i];
    for (const chord::v1::Completion& c : completions[i]) {
      AddScoreItem(task, absl::StrCat(task.id(), "#", c.sample_index()), c.text(), spec_->verifier,
                   &items);
    }
  }
  ASSIGN_OR_RETURN(chord::v1::ScoreResponse scores, reward_->Score(items));
  batch.score_seconds = SecondsSince(start);
  if (scores.results_size() != items.items_size()) {
    return absl::InternalError(absl::StrCat("the reward service returned ", scores.results_size(),
                                            " scores for ", items.items_size(), " responses"));
  }
  int next = 0;
  batch.groups.resize(batch.tasks.size());
  for (size_t i = 0; i < batch.tasks.size(); ++i) {
    for (const chord::v1::Completion& c : completions[i]) {
      const chord::v1::ScoreResult& score = scores.results(next++);
      batch.groups[i].push_back({c, score.score(), score.correct()});
    }
  }
  return batch;
}

std::unique_ptr<RolloutSource> RolloutSource::Create(const Options& options,
                                                     const RolloutGatherer* gatherer,
                                                     RolloutPool* pool, Trainer* trainer) {
  if (options.mode == JobMode::kAsync) {
    return std::make_unique<AsyncRolloutSource>(options, gatherer, pool, trainer);
  }
  return std::make_unique<SyncRolloutSource>(options, gatherer, pool, trainer);
}

}  // namespace chord::learner
