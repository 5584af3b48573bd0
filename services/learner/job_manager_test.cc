// The job manager's admission limits (docs/security.md): a job spec's model must lie under
// the model roots, service address overrides need allow_service_overrides, the queue and the Watch
// streams are bounded. Submit and Watch run on a real job store; no job runs (no RunLoop).

#include "services/learner/job_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
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

}  // namespace
}  // namespace chord::learner
