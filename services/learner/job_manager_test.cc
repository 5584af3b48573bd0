// The job manager's admission limits (docs/security.md): a job spec's model must lie under
// the model roots, service address overrides need allow_service_overrides, the queue and the Watch
// streams are bounded; Submit and Watch run on a real job store, no job runs (no RunLoop). Then
// Resume with the run loop over the driver's fakes (driver_testbed.h): a job failed after a
// checkpoint continues after it and succeeds, a cancelled job without a checkpoint starts again.

#include "services/learner/job_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/learner/checkpoint.h"
#include "services/learner/driver_testbed.h"
#include "tests/support/child_process.h"

namespace chord::learner {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class JobManagerLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    models_ = dir_.File("models");
    fs::create_directories(models_ + "/tiny");
    fs::create_directories(dir_.File("elsewhere/model"));
    fs::create_directories(dir_.File("state/jobs"));
    auto store = JobStore::Open(dir_.File("state/jobs.db"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  std::unique_ptr<JobManager> Manager(const std::function<void(JobManagerOptions&)>& edit = {}) {
    JobManagerOptions options;
    options.state_dir = dir_.File("state");
    auto roots = files::ConfinedRoots::Create({models_}, "the model root");
    EXPECT_TRUE(roots.ok()) << roots.status();
    options.model_roots = *roots;
    if (edit) edit(options);
    DriverContext context;
    context.store = store_.get();
    // No job runs here (no RunLoop): the factory is never called.
    ClientFactory no_clients = [](const ServiceAddresses&,
                                  const ServicesSpec&) -> absl::StatusOr<JobClients> {
      return absl::FailedPreconditionError("no services in this test");
    };
    return std::make_unique<JobManager>(options, context, no_clients);
  }

  static std::string Spec(const std::string& model, const std::string& extra = "") {
    return absl::StrCat("name: limits\nmodel: ", model,
                        "\nsteps: 2\ntrain_batch_size: 32\nalgorithm: {repeat_times: 4}\n"
                        "datasets:\n  tasks: {path: /data/tasks.jsonl}\n"
                        "  expert: {path: /data/expert.jsonl}\n"
                        "verifier: arithmetic\n",
                        extra);
  }

  testing::TempDir dir_;
  std::string models_;
  std::unique_ptr<JobStore> store_;
};

TEST_F(JobManagerLimitsTest, AModelOutsideTheRootIsRefusedNamingThePath) {
  auto manager = Manager();
  fs::create_directory_symlink(dir_.File("elsewhere/model"), models_ + "/link-out");
  for (const std::string& model : {dir_.File("elsewhere/model"), models_ + "/../elsewhere/model",
                                   models_ + "/link-out", std::string("/etc")}) {
    auto job = manager->Submit(Spec(model), "", "job.yaml");
    EXPECT_EQ(job.status().code(), absl::StatusCode::kPermissionDenied) << model;
    EXPECT_THAT(job.status().message(),
                HasSubstr("model: " + model + ": outside the model root (" + models_ + ")"));
  }
  // A relative path is the folder the ranks would load: relative to the working directory.
  auto relative = manager->Submit(Spec("tiny"), "", "job.yaml");
  EXPECT_EQ(relative.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(relative.status().message(), HasSubstr("model: tiny: " + fs::current_path().string() +
                                                     "/tiny: outside the model "
                                                     "root"));
  // Still accepting: a model under the root, and the learner's own job outputs.
  EXPECT_TRUE(manager->Submit(Spec(models_ + "/tiny"), "", "job.yaml").ok());
  auto output = manager->Submit(Spec(dir_.File("state/jobs/j-1/final")), "", "job.yaml");
  EXPECT_TRUE(output.ok()) << output.status();
}

TEST_F(JobManagerLimitsTest, ServiceOverridesAreRefusedUnlessAllowed) {
  auto strict = Manager();
  for (std::string key :
       {"expert_buffer: 10.0.0.1:9", "reward: 10.0.0.1:9", "rollout_workers: [10.0.0.1:9]"}) {
    auto job = strict->Submit(Spec(models_ + "/tiny", "services:\n  " + key + "\n"), "", "job");
    EXPECT_EQ(job.status().code(), absl::StatusCode::kPermissionDenied) << key;
    EXPECT_THAT(job.status().message(), HasSubstr("services." + key.substr(0, key.find(':')) +
                                                  ": this learner does not "
                                                  "accept service addresses from job specs"));
  }
  // Timeouts are not addresses.
  EXPECT_TRUE(
      strict->Submit(Spec(models_ + "/tiny", "services:\n  call_timeout_s: 5\n"), "", "job").ok());

  auto open = Manager([](JobManagerOptions& options) { options.allow_service_overrides = true; });
  auto job = open->Submit(Spec(models_ + "/tiny", "services:\n  reward: 10.0.0.1:9\n"), "", "job");
  EXPECT_TRUE(job.ok()) << job.status();
}

TEST_F(JobManagerLimitsTest, QueuedJobsAreLimitedAndARepeatedRequestStillAnswers) {
  auto manager = Manager([](JobManagerOptions& options) { options.max_queued_jobs = 2; });
  auto first = manager->Submit(Spec(models_ + "/tiny"), "request-1", "job.yaml");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(manager->Submit(Spec(models_ + "/tiny"), "request-2", "job.yaml").ok());
  auto third = manager->Submit(Spec(models_ + "/tiny"), "request-3", "job.yaml");
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.status().message(),
              HasSubstr("job queue full: 2 jobs are queued, the limit is 2"));
  // Idempotent submit is unaffected by the limit.
  auto again = manager->Submit(Spec(models_ + "/tiny"), "request-1", "job.yaml");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->job_id(), first->job_id());
  // A slot frees up when a queued job leaves the queue.
  ASSERT_TRUE(manager->Cancel(first->job_id(), "").ok());
  EXPECT_TRUE(manager->Submit(Spec(models_ + "/tiny"), "request-3", "job.yaml").ok());
}

TEST_F(JobManagerLimitsTest, ResumeChecksTheSpecAgainAndLeavesARefusedJobAsItIs) {
  auto manager = Manager();
  auto job = manager->Submit(Spec(models_ + "/tiny"), "", "job.yaml");
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_TRUE(manager->Cancel(job->job_id(), "").ok());
  // A learner restarted with another model root.
  fs::create_directories(dir_.File("other-models"));
  auto moved = Manager([&](JobManagerOptions& options) {
    auto roots = files::ConfinedRoots::Create({dir_.File("other-models")}, "the model root");
    ASSERT_TRUE(roots.ok()) << roots.status();
    options.model_roots = *roots;
  });
  auto refused = moved->Resume(job->job_id(), "");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("job " + job->job_id() + ": model: " + models_ + "/tiny: outside"));
  EXPECT_EQ(store_->Get(job->job_id())->state(), chord::v1::JOB_STATE_CANCELLED);
  // Under the root it was submitted with, it is queued again.
  auto resumed = manager->Resume(job->job_id(), "");
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->state(), chord::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(manager->Resume("job-none", "").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(JobManagerLimitsTest, WatchStreamsAreLimited) {
  auto manager = Manager([](JobManagerOptions& options) { options.max_watch_streams = 2; });
  auto job = manager->Submit(Spec(models_ + "/tiny"), "", "job.yaml");
  ASSERT_TRUE(job.ok()) << job.status();
  std::atomic<int> emitted{0};
  std::vector<absl::Status> ended(2);
  std::vector<std::thread> watchers;
  for (int i = 0; i < 2; ++i) {
    watchers.emplace_back([&, i] {
      ended[i] = manager->Watch(
          job->job_id(), 0,
          [&](const chord::v1::JobEvent&) {
            ++emitted;
            return true;
          },
          [] { return false; });
    });
  }
  // Both are streaming (each sent the "queued" event) and wait for more.
  ASSERT_TRUE(testing::WaitFor([&] { return emitted.load() >= 2; }, absl::Seconds(30)));
  auto third = manager->Watch(
      job->job_id(), 0, [](const chord::v1::JobEvent&) { return true; }, [] { return false; });
  EXPECT_EQ(third.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.message(), HasSubstr("too many watchers: 2 Watch streams are open"));

  // The job ends: both streams finish, and their slots are free again.
  ASSERT_TRUE(manager->Cancel(job->job_id(), "done").ok());
  for (std::thread& t : watchers) t.join();
  EXPECT_TRUE(ended[0].ok()) << ended[0];
  EXPECT_TRUE(ended[1].ok()) << ended[1];
  int after = 0;
  EXPECT_TRUE(manager
                  ->Watch(
                      job->job_id(), 0,
                      [&](const chord::v1::JobEvent&) {
                        ++after;
                        return true;
                      },
                      [] { return false; })
                  .ok());
  EXPECT_GE(after, 2);  // queued, cancelled
}

// One task of 4 rollouts and 4 expert rows per step.
constexpr char kChordPhi[] = "{variant: chord-phi, repeat_times: 4, expert_data_ratio: 0.5}";

// The run loop over the driver's fakes.
class JobManagerResumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    JobManagerOptions options;
    options.state_dir = bed_.dir().path();
    options.defaults = bed_.Defaults();
    options.heartbeat_interval = absl::Milliseconds(50);
    manager_ = std::make_unique<JobManager>(options, bed_.Context(), bed_.Factory());
  }

  void TearDown() override { StopLoop(); }

  void StartLoop() {
    loop_ = std::thread([this] { loop_status_ = manager_->RunLoop(); });
  }

  void StopLoop() {
    if (!loop_.joinable()) return;
    manager_->Shutdown();
    loop_.join();
    EXPECT_TRUE(loop_status_.ok()) << loop_status_;
  }

  // Waits until the job is in `state`; false after 60 s.
  bool WaitForState(const std::string& job_id, chord::v1::JobState state) {
    return testing::WaitFor([&] {
      auto job = manager_->Get(job_id);
      return job.ok() && job->state() == state;
    });
  }

  // The steps of the job's STEP events after its event `after` (a sequence number).
  std::vector<int64_t> StepsAfter(const std::string& job_id, int64_t after) {
    std::vector<int64_t> steps;
    for (const auto& event : bed_.Events(job_id, chord::v1::JOB_EVENT_STEP)) {
      if (event.sequence() > after) steps.push_back(event.step());
    }
    return steps;
  }

  testbed::DriverTestbed bed_;
  std::unique_ptr<JobManager> manager_;
  std::thread loop_;
  absl::Status loop_status_;
};

TEST_F(JobManagerResumeTest, AJobFailedAfterACheckpointContinuesAfterItAndSucceeds) {
  // Step 3 fails (after step 2's checkpoint): the trainer's next step once step 2's weights are
  // out (version 3; version 1 is the start's).
  bed_.trainer().set_publish_hook([this](int64_t version) {
    for (auto& worker : bed_.workers()) worker->SetWeightVersion(version);
    if (version == 3) {
      bed_.trainer().failures().FailNext("TrainStep", absl::InternalError("loss is not finite"));
    }
  });
  StartLoop();
  auto job = manager_->Submit(bed_.SpecYaml(4, kChordPhi, "save_interval: 2\n"), "", "test.yaml");
  ASSERT_TRUE(job.ok()) << job.status();
  const std::string id = job->job_id();
  ASSERT_TRUE(WaitForState(id, chord::v1::JOB_STATE_FAILED));
  auto failed = manager_->Get(id);
  EXPECT_THAT(failed->reason(), HasSubstr("loss is not finite"));
  EXPECT_EQ(failed->step(), 2);
  ASSERT_EQ(failed->checkpoints_size(), 1);
  EXPECT_TRUE(absl::EndsWith(failed->checkpoints(0), "/" + CheckpointName(2)));
  ASSERT_EQ(bed_.trainer().steps().size(), 2u);

  auto resumed = manager_->Resume(id, "trainer fixed");
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->state(), chord::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(resumed->resume_count(), 1);
  EXPECT_EQ(resumed->reason(), "");
  ASSERT_TRUE(WaitForState(id, chord::v1::JOB_STATE_SUCCEEDED));
  int64_t resume_event = 0;
  for (const auto& event : bed_.Events(id, chord::v1::JOB_EVENT_STATE)) {
    if (event.message() == "resumed by request: trainer fixed") resume_event = event.sequence();
  }
  ASSERT_GT(resume_event, 0);

  // Steps 3 and 4 trained once each after the resume; steps 1 and 2 not again.
  std::vector<int64_t> trained;
  for (const FakeTrainer::Step& step : bed_.trainer().steps()) trained.push_back(step.step);
  EXPECT_EQ(trained, (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(StepsAfter(id, resume_event), (std::vector<int64_t>{3, 4}));
  // The data continues from the checkpoint's cursors: the failed step 3 drew the tasks after
  // step 2's ("2"), and the resumed step 3 drew the same ones.
  std::vector<std::string> task_cursors;
  for (const auto& call : bed_.expert_buffer().calls("SampleTasks")) {
    task_cursors.push_back(call.sample.cursor());
  }
  EXPECT_EQ(task_cursors, (std::vector<std::string>{"", "1", "2", "2", "3"}));
  bool resumed_line = false;
  for (const auto& event : bed_.Events(id, chord::v1::JOB_EVENT_LOG)) {
    resumed_line |= event.sequence() > resume_event &&
                    absl::StrContains(event.message(), "resumed from") &&
                    absl::StrContains(event.message(), "at step 2 of 4");
  }
  EXPECT_TRUE(resumed_line);
  auto done = manager_->Get(id);
  EXPECT_EQ(done->step(), 4);
  EXPECT_EQ(done->resume_count(), 1);
  EXPECT_FALSE(done->output_model().empty());
  EXPECT_GT(done->finished_unix_ms(), 0);

  // A succeeded job is not resumed again.
  auto again = manager_->Resume(id, "");
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(again.status().message(), HasSubstr("is JOB_STATE_SUCCEEDED"));
}

TEST_F(JobManagerResumeTest, ACancelledJobWithoutACheckpointStartsAgainFromStepOne) {
  // Cancelled while queued (no loop runs yet): nothing trained, no checkpoint.
  auto job = manager_->Submit(bed_.SpecYaml(2, kChordPhi), "", "test.yaml");
  ASSERT_TRUE(job.ok()) << job.status();
  const std::string id = job->job_id();
  ASSERT_EQ(manager_->Cancel(id, "later")->state(), chord::v1::JOB_STATE_CANCELLED);
  auto resumed = manager_->Resume(id, "");
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->state(), chord::v1::JOB_STATE_QUEUED);
  // Idempotent while queued.
  auto twice = manager_->Resume(id, "");
  ASSERT_TRUE(twice.ok()) << twice.status();
  EXPECT_EQ(twice->resume_count(), 1);
  EXPECT_EQ(bed_.store().Events(id, 0)->back().message(), "resumed by request");

  StartLoop();
  ASSERT_TRUE(WaitForState(id, chord::v1::JOB_STATE_SUCCEEDED));
  EXPECT_EQ(StepsAfter(id, 0), (std::vector<int64_t>{1, 2}));
  bool started_line = false;
  for (const auto& event : bed_.Events(id, chord::v1::JOB_EVENT_LOG)) {
    started_line |= absl::StartsWith(event.message(), "started: 2 steps");
  }
  EXPECT_TRUE(started_line);
}

}  // namespace
}  // namespace chord::learner
