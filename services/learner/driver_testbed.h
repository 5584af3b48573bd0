#pragma once

// Test support for the driver's unit tests: a job's world of in-process fakes. An arithmetic task
// set ("a+b=", answers a + b) with expert demonstrations and an eval set in a
// FakeExpertBufferClient, a FakeRewardClient that judges a response correct when it equals the
// answer, two FakeRolloutClients whose first sample of each prompt answers correctly and the others
// wrongly, a FakeTrainer whose published versions move the workers, a real job store and weight
// version counter in a temp dir, and a model folder holding the tiny tokenizer (all the driver
// reads of it).

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files/file_io.h"
#include "common/tokenizer/tiny_tokenizer.h"
#include "services/expert_buffer/fake_client.h"
#include "services/learner/driver.h"
#include "services/learner/fake_trainer.h"
#include "services/learner/job_setup.h"
#include "services/learner/job_spec.h"
#include "services/learner/job_store.h"
#include "services/learner/weight_version_counter.h"
#include "services/reward/fake_client.h"
#include "services/rollout_worker/fake_client.h"
#include "tests/support/child_process.h"

namespace chord::learner::testbed {

// "a+b=" -> "a + b" as text ("" for anything else).
inline std::string SumOf(const std::string& prompt) {
  std::vector<std::string> parts = absl::StrSplit(prompt, absl::ByAnyChar("+="));
  int a = 0, b = 0;
  if (parts.size() < 2 || !absl::SimpleAtoi(parts[0], &a) || !absl::SimpleAtoi(parts[1], &b)) {
    return "";
  }
  return absl::StrCat(a + b);
}

inline std::vector<chord::v1::Task> ArithmeticTasks(const std::string& prefix, int n) {
  std::vector<chord::v1::Task> tasks;
  for (int i = 0; i < n; ++i) {
    chord::v1::Task task;
    task.set_id(absl::StrCat(prefix, ":", i + 1));
    task.set_prompt(absl::StrCat(i, "+", 2 * i + 1, "="));
    task.set_answer(SumOf(task.prompt()));
    tasks.push_back(task);
  }
  return tasks;
}

inline std::vector<chord::v1::ExpertSample> Demonstrations(int n) {
  std::vector<chord::v1::ExpertSample> samples;
  for (int i = 0; i < n; ++i) {
    chord::v1::ExpertSample sample;
    sample.set_id(absl::StrCat("expert:", i + 1));
    auto* user = sample.add_messages();
    user->set_role("user");
    user->set_content(absl::StrCat(i, "+", i, "="));
    auto* assistant = sample.add_messages();
    assistant->set_role("assistant");
    assistant->set_content(absl::StrCat(2 * i));
    samples.push_back(sample);
  }
  return samples;
}

class DriverTestbed {
 public:
  DriverTestbed() {
    model_dir_ = dir_.File("model");
    std::error_code ignored;
    std::filesystem::create_directories(model_dir_, ignored);
    (void)files::WriteFileAtomically(model_dir_ + "/tokenizer.json",
                                     tokenizer::TinyTokenizerJson());
    (void)files::WriteFileAtomically(model_dir_ + "/tokenizer_config.json",
                                     tokenizer::TinyTokenizerConfigJson());
    expert_buffer_ = std::make_shared<expert_buffer::FakeExpertBufferClient>();
    expert_buffer_->AddTasks("tasks", ArithmeticTasks("tasks", 20));
    expert_buffer_->AddExpert("expert", Demonstrations(20));
    expert_buffer_->AddTasks("eval", ArithmeticTasks("eval", 5));
    reward_ = std::make_shared<reward::FakeRewardClient>();
    for (int i = 0; i < 2; ++i) {
      auto worker = std::make_shared<rollout_worker::FakeRolloutClient>(absl::Seconds(5));
      auto failing = std::make_shared<std::atomic<int>>(0);
      failing_rollouts_.push_back(failing);
      worker->SetResponder(
          [failing](const chord::v1::Prompt& prompt, int samples, const chord::v1::SamplingParams&)
              -> absl::StatusOr<std::vector<chord::v1::Completion>> {
            if (samples > 1 && failing->load() > 0) {
              failing->fetch_sub(1);
              return absl::UnavailableError("worker restarting");
            }
            const std::string& question = prompt.messages(0).content();
            std::string answer = SumOf(question);
            std::vector<chord::v1::Completion> completions(static_cast<size_t>(samples));
            for (int s = 0; s < samples; ++s) {
              chord::v1::Completion& c = completions[static_cast<size_t>(s)];
              for (char ch : question) {
                c.add_prompt_token_ids(tokenizer::kTinyFirstPrintableId + (ch - ' '));
              }
              c.set_text(s == 0 ? answer : answer + "0");
              for (char ch : c.text()) {
                c.add_token_ids(tokenizer::kTinyFirstPrintableId + (ch - ' '));
                c.add_logprobs(-0.5f);
              }
              c.add_token_ids(tokenizer::kTinyImEndId);
              c.add_logprobs(-0.5f);
              c.set_finish_reason("stop");
            }
            return completions;
          });
      workers_.push_back(worker);
    }
    trainer_.set_publish_hook([this](int64_t version) {
      for (auto& worker : workers_) worker->SetWeightVersion(version);
    });
    auto store = JobStore::Open(dir_.File("jobs.db"));
    if (store.ok()) store_ = std::move(*store);
    auto versions = WeightVersionCounter::Open(dir_.File("weight_version"));
    if (versions.ok()) versions_ = std::move(*versions);
  }

  // The next `times` rollout calls (more than one sample per prompt, i.e. not the evaluation's)
  // of worker `i` fail with UNAVAILABLE.
  void FailRollouts(int i, int times) { failing_rollouts_[static_cast<size_t>(i)]->store(times); }

  // A job spec over the testbed's datasets, as YAML (what JobManager::Submit takes); `extra` YAML
  // lines are appended (later keys of the same section must not repeat a section: give whole
  // sections).
  std::string SpecYaml(int steps, const std::string& algorithm,
                       const std::string& extra = "") const {
    return absl::StrCat(
        "name: test\nmodel: ", model_dir_, "\nsteps: ", steps,
        "\ntrain_batch_size: 8\nverifier: arithmetic\n",
        "datasets:\n  tasks: {path: /data/tasks.jsonl}\n", "  expert: {path: /data/expert.jsonl}\n",
        "  eval: {path: /data/eval.jsonl}\n", "algorithm: ", algorithm, "\n", extra);
  }

  // SpecYaml parsed.
  absl::StatusOr<JobSpec> Spec(int steps, const std::string& algorithm,
                               const std::string& extra = "") const {
    return ParseJobSpec(SpecYaml(steps, algorithm, extra), "test.yaml");
  }

  ServiceDefaults Defaults() const {
    ServiceDefaults defaults;
    defaults.expert_buffer = "fake-expert-buffer";
    defaults.reward = "fake-reward";
    defaults.rollout_workers = {"fake-worker-0", "fake-worker-1"};
    return defaults;
  }

  // Hands out the testbed's fakes.
  ClientFactory Factory() {
    return [this](const ServiceAddresses& addresses,
                  const ServicesSpec&) -> absl::StatusOr<JobClients> {
      JobClients clients;
      clients.expert_buffer = expert_buffer_;
      clients.reward = reward_;
      for (size_t i = 0; i < addresses.rollout_workers.size() && i < workers_.size(); ++i) {
        clients.rollout_workers.push_back({addresses.rollout_workers[i], workers_[i]});
      }
      return clients;
    };
  }

  DriverContext Context() {
    DriverContext context;
    context.store = store_.get();
    context.trainer = &trainer_;
    context.versions = versions_.get();
    context.state_dir = dir_.path();
    context.heartbeat_interval = absl::Milliseconds(50);
    return context;
  }

  // Creates the job in the store, RUNNING, prepares it with the fakes and runs it.
  absl::StatusOr<JobOutcome> Run(const JobSpec& spec, JobControl* control,
                                 std::string* job_id = nullptr) {
    std::string id;
    if (job_id != nullptr && !job_id->empty()) {
      id = *job_id;
    } else {
      auto job = store_->Create(spec.name, "name: test\n", "", spec.steps);
      if (!job.ok()) return job.status();
      id = job->job_id();
      if (job_id != nullptr) *job_id = id;
    }
    absl::Status running = store_->SetState(id, chord::v1::JOB_STATE_RUNNING, "");
    if (!running.ok()) return running;
    auto job = store_->Get(id);
    if (!job.ok()) return job.status();
    JobLog log(store_.get(), id, nullptr);
    auto prepared = PrepareJob(spec, Defaults(), Factory(), log);
    if (!prepared.ok()) return prepared.status();
    return RunJob(Context(), *job, spec, *std::move(prepared), control);
  }

  // The job's events of `type`.
  std::vector<chord::v1::JobEvent> Events(const std::string& job_id,
                                          chord::v1::JobEventType type) const {
    std::vector<chord::v1::JobEvent> selected;
    auto events = store_->Events(job_id, 0);
    if (!events.ok()) return selected;
    for (const chord::v1::JobEvent& event : *events) {
      if (event.type() == type) selected.push_back(event);
    }
    return selected;
  }

  chord::testing::TempDir& dir() { return dir_; }
  const std::string& model_dir() const { return model_dir_; }
  expert_buffer::FakeExpertBufferClient& expert_buffer() { return *expert_buffer_; }
  reward::FakeRewardClient& reward() { return *reward_; }
  rollout_worker::FakeRolloutClient& worker(int i) { return *workers_[static_cast<size_t>(i)]; }
  std::vector<std::shared_ptr<rollout_worker::FakeRolloutClient>>& workers() { return workers_; }
  FakeTrainer& trainer() { return trainer_; }
  JobStore& store() { return *store_; }

 private:
  chord::testing::TempDir dir_;
  std::string model_dir_;
  std::shared_ptr<expert_buffer::FakeExpertBufferClient> expert_buffer_;
  std::shared_ptr<reward::FakeRewardClient> reward_;
  std::vector<std::shared_ptr<rollout_worker::FakeRolloutClient>> workers_;
  std::vector<std::shared_ptr<std::atomic<int>>> failing_rollouts_;
  FakeTrainer trainer_;
  std::unique_ptr<JobStore> store_;
  std::unique_ptr<WeightVersionCounter> versions_;
};

}  // namespace chord::learner::testbed
