// End to end: the real binaries as separate processes — chord-expert-buffer, chord-reward, two
// chord-rollout-workers and two chord-learner ranks (Gloo over loopback) — run CHORD jobs on the
// tiny model and a one-digit arithmetic dataset:
//  - a short job succeeds, the training reward improves, checkpoints exist and the checkpoint's
//    model loads in a fresh rollout worker, and the job store says SUCCEEDED;
//  - an asynchronous job overlaps generation with training within max_staleness;
//  - cancelling a running job ends it CANCELLED with the rollout workers idle;
//  - learner rank 0 killed mid-job (rank 1 then exits on its own) and both restarted: the job
//    resumes from its last checkpoint and reaches the same final step.

#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "chord/v1/learner.grpc.pb.h"
#include "chord/v1/rollout.grpc.pb.h"
#include "common/files/file_io.h"
#include "common/model/tiny_preset.h"
#include "common/rpc/channel.h"
#include "tests/support/child_process.h"
#include "tests/support/test_credentials.h"
#include "tools/datasets/synthetic_datasets.h"

namespace chord {
namespace {

using chord::v1::JobState;
using chord::v1::JobStatus;
using testing::ChildProcess;
using testing::ServiceProcess;

class EndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = dir_.File("model");
    ASSERT_TRUE(model::WriteTinyModel(model_).ok());
    datasets::ArithmeticOptions data;
    data.min_digits = data.max_digits = 1;
    data.num_tasks = 60;
    data.num_expert = 60;
    data.num_eval = 8;
    auto files = datasets::WriteArithmeticDatasets(dir_.File("data"), data);
    ASSERT_TRUE(files.ok()) << files.status();
    files_ = *files;
    state_dir_ = dir_.File("state");
    std::filesystem::create_directories(state_dir_);
    std::filesystem::create_directories(dir_.File("run"));
    // Every service requires the tokens: the learner calls the others with the internal one,
    // the test calls the JobService with the user one.
    auto tokens = testing::WriteServiceTokens(dir_.path());
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    tokens_ = *tokens;

    auto eb = testing::StartService(
        "chord-expert-buffer", WithTokens({"--data_root=" + dir_.File("data")}), dir_.File("run"));
    ASSERT_TRUE(eb.ok()) << eb.status();
    expert_buffer_ = std::move(*eb);
    auto rw = testing::StartService("chord-reward", WithTokens({"--workers=1"}), dir_.File("run"));
    ASSERT_TRUE(rw.ok()) << rw.status();
    reward_ = std::move(*rw);
    auto port = testing::PickFreePort();
    ASSERT_TRUE(port.ok());
    learner_port_ = *port;
    for (int i = 0; i < 2; ++i) {
      std::string run = dir_.File(absl::StrCat("worker", i));
      std::filesystem::create_directories(run);
      auto worker = testing::StartService(
          "chord-rollout-worker",
          WithTokens({"--model=" + model_,
                      absl::StrCat("--weight_source=127.0.0.1:", learner_port_),
                      "--torch_threads=1"}),
          run);
      ASSERT_TRUE(worker.ok()) << worker.status();
      workers_.push_back(std::move(*worker));
    }
    StartLearner();
  }

  void TearDown() override {
    for (auto& rank : ranks_) {
      if (rank) rank->Stop();
    }
  }

  // Starts both learner ranks (rank 0 on learner_port_) and waits for rank 0's health.
  void StartLearner() {
    auto master = testing::PickFreePort();
    ASSERT_TRUE(master.ok());
    ranks_.clear();
    std::string workers = absl::StrCat(workers_[0].address(), ",", workers_[1].address());
    for (int rank = 0; rank < 2; ++rank) {
      std::string run = dir_.File(absl::StrCat("learner", rank));
      std::filesystem::create_directories(run);
      std::vector<std::string> argv = {testing::BinaryPath("chord-learner"),
                                       "--host=127.0.0.1",
                                       absl::StrCat("--port=", rank == 0 ? learner_port_ : 0),
                                       "--port_file=" + run + "/port",
                                       "--state_dir=" + state_dir_,
                                       "--model_root=" + dir_.path(),
                                       "--expert_buffer=" + expert_buffer_.address(),
                                       "--reward=" + reward_.address(),
                                       "--rollout_workers=" + workers,
                                       "--torch_threads=1",
                                       "--dist_timeout_s=30",
                                       "--heartbeat_s=2"};
      argv = WithTokens(argv);
      auto process = ChildProcess::Start(argv, run + "/learner.log",
                                         {{"MASTER_ADDR", "127.0.0.1"},
                                          {"MASTER_PORT", std::to_string(*master)},
                                          {"RANK", std::to_string(rank)},
                                          {"WORLD_SIZE", "2"}});
      ASSERT_TRUE(process.ok()) << process.status();
      ranks_.push_back(std::move(*process));
    }
    std::string address = absl::StrCat("127.0.0.1:", learner_port_);
    channel_ = rpc::MakeChannel(address, rpc::ClientOptions());
    ASSERT_TRUE(rpc::WaitForServing(channel_, address, absl::Seconds(90)).ok()) << LearnerLog(0);
    stub_ = chord::v1::JobService::NewStub(channel_);
  }

  // `args` followed by the token file flags.
  std::vector<std::string> WithTokens(std::vector<std::string> args) const {
    for (const std::string& flag : tokens_.Flags()) args.push_back(flag);
    return args;
  }

  // Adds "authorization: Bearer <token>" to `ctx`.
  static void Authorize(grpc::ClientContext* ctx, const std::string& token) {
    ctx->AddMetadata("authorization", "Bearer " + token);
  }

  std::string LearnerLog(int rank) {
    auto text = files::ReadFile(dir_.File(absl::StrCat("learner", rank, "/learner.log")));
    return text.ok() ? *text : "";
  }

  std::string Spec(const std::string& name, int steps, int save_interval, int warmup) {
    return absl::StrCat(
        "name: ", name, "\nmodel: ", model_, "\nsteps: ", steps,
        "\ntrain_batch_size: 32\nverifier: arithmetic\nsave_interval: ", save_interval,
        "\nkeep_checkpoints: 2\nseed: 3\n", "datasets:\n  tasks: {path: ", files_.tasks,
        "}\n  expert: {path: ", files_.expert, "}\n  eval: {path: ", files_.tasks, "}\n",
        "algorithm:\n  variant: chord-phi\n  repeat_times: 4\n  lr: 1e-4\n",
        "  sft_warmup_steps: ", warmup, "\n  sft_warmup_lr: 3e-3\n",
        "sampling: {max_new_tokens: 24}\neval: {max_new_tokens: 24, max_samples: 32}\n");
  }

  absl::StatusOr<std::string> Submit(const std::string& spec) {
    chord::v1::SubmitJobRequest request;
    request.set_spec_yaml(spec);
    request.set_spec_source("e2e.yaml");
    chord::v1::SubmitJobResponse response;
    grpc::ClientContext ctx;
    Authorize(&ctx, tokens_.user);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    grpc::Status status = stub_->Submit(&ctx, request, &response);
    if (!status.ok()) return absl::InternalError(status.error_message());
    return response.job_id();
  }

  absl::StatusOr<JobStatus> Get(const std::string& id) {
    chord::v1::GetJobRequest request;
    request.set_job_id(id);
    JobStatus job;
    grpc::ClientContext ctx;
    Authorize(&ctx, tokens_.user);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status status = stub_->Get(&ctx, request, &job);
    if (!status.ok()) return absl::UnavailableError(status.error_message());
    return job;
  }

  // Polls until `done(job)` or the timeout.
  absl::StatusOr<JobStatus> WaitFor(const std::string& id,
                                    const std::function<bool(const JobStatus&)>& done,
                                    absl::Duration timeout) {
    absl::Time deadline = absl::Now() + timeout;
    absl::StatusOr<JobStatus> job = absl::DeadlineExceededError("never polled");
    while (absl::Now() < deadline) {
      job = Get(id);
      if (job.ok() && done(*job)) return job;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return absl::DeadlineExceededError(
        absl::StrCat("job ", id, " not there after ", absl::FormatDuration(timeout), ": ",
                     job.ok() ? job->DebugString() : job.status().ToString(), "\n", LearnerLog(0)));
  }

  static bool Finished(const JobStatus& job) {
    return job.state() == chord::v1::JOB_STATE_SUCCEEDED ||
           job.state() == chord::v1::JOB_STATE_FAILED ||
           job.state() == chord::v1::JOB_STATE_CANCELLED;
  }

  std::vector<chord::v1::JobEvent> Events(const std::string& id) {
    chord::v1::WatchJobRequest request;
    request.set_job_id(id);
    grpc::ClientContext ctx;
    Authorize(&ctx, tokens_.user);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    auto reader = stub_->Watch(&ctx, request);
    std::vector<chord::v1::JobEvent> events;
    chord::v1::JobEvent event;
    while (reader->Read(&event)) events.push_back(event);
    reader->Finish();
    return events;
  }

  testing::TempDir dir_;
  testing::ServiceTokens tokens_;
  std::string model_;
  std::string state_dir_;
  datasets::DatasetFiles files_;
  ServiceProcess expert_buffer_;
  ServiceProcess reward_;
  std::vector<ServiceProcess> workers_;
  int learner_port_ = 0;
  std::vector<std::unique_ptr<ChildProcess>> ranks_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<chord::v1::JobService::Stub> stub_;
};

TEST_F(EndToEndTest, JobTrainsCheckpointsAndSucceeds) {
  auto id = Submit(Spec("e2e-train", 100, 25, 60));
  ASSERT_TRUE(id.ok()) << id.status();
  auto job = WaitFor(*id, Finished, absl::Minutes(8));
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_EQ(job->state(), chord::v1::JOB_STATE_SUCCEEDED) << job->reason() << LearnerLog(0);
  EXPECT_EQ(job->step(), 100);

  // The reward improves: the evaluation's mean reward at the end beats the one before training
  // (step 0), and rollouts of the CHORD stage earn reward. (The evaluation set here is the first
  // 32 training tasks: one-digit sums held out of training would be facts the model never saw;
  // held-out accuracy on multi-digit sums is what the quickstart measures.)
  std::map<int64_t, double> eval_reward;
  double rollout_reward = 0;
  for (const auto& event : Events(*id)) {
    if (event.type() == chord::v1::JOB_EVENT_EVAL) {
      eval_reward[event.step()] = event.metrics().at("eval_reward_mean");
    }
    if (event.type() == chord::v1::JOB_EVENT_STEP && event.step() > 60) {
      rollout_reward += event.metrics().at("reward_mean");
    }
  }
  ASSERT_TRUE(eval_reward.count(0) && eval_reward.count(100)) << eval_reward.size();
  EXPECT_GT(eval_reward[100], eval_reward[0]) << "evaluation reward did not improve";
  EXPECT_GT(rollout_reward, 0.0);
  RecordProperty("eval_reward_start", absl::StrCat(eval_reward[0]));
  RecordProperty("eval_reward_end", absl::StrCat(eval_reward[100]));

  // Checkpoints (keep 2) exist and their model loads in a fresh rollout worker.
  ASSERT_EQ(job->checkpoints_size(), 2) << job->DebugString();
  std::string latest = job->checkpoints(1);
  EXPECT_TRUE(absl::EndsWith(latest, "step-00000100")) << latest;
  std::string run = dir_.File("checkpoint-worker");
  std::filesystem::create_directories(run);
  auto worker =
      testing::StartService("chord-rollout-worker",
                            WithTokens({"--model=" + latest + "/model", "--torch_threads=1"}), run);
  ASSERT_TRUE(worker.ok()) << worker.status();
  auto rollout =
      chord::v1::RolloutService::NewStub(rpc::MakeChannel(worker->address(), rpc::ClientOptions()));
  chord::v1::GenerateRequest request;
  auto* prompt = request.add_prompts();
  auto* message = prompt->add_messages();
  message->set_role("user");
  message->set_content("3+4=?");
  request.mutable_sampling()->set_has_temperature(true);
  request.mutable_sampling()->set_max_new_tokens(24);
  chord::v1::GenerateResponse response;
  grpc::ClientContext ctx;
  Authorize(&ctx, tokens_.internal);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  ASSERT_TRUE(rollout->Generate(&ctx, request, &response).ok());
  EXPECT_EQ(response.completions_size(), 1);
  EXPECT_FALSE(job->output_model().empty());
  EXPECT_TRUE(std::filesystem::exists(job->output_model() + "/model.safetensors"));
}

// Asynchronous mode: generation of step s + 1 overlaps the training of step s, with rollouts at
// most max_staleness weight versions behind the weights they train.
TEST_F(EndToEndTest, AsyncJobOverlapsGenerationWithinMaxStaleness) {
  auto id = Submit(Spec("e2e-async", 12, 0, 0) + "mode: async\nmax_staleness: 1\n");
  ASSERT_TRUE(id.ok()) << id.status();
  auto job = WaitFor(*id, Finished, absl::Minutes(5));
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_EQ(job->state(), chord::v1::JOB_STATE_SUCCEEDED) << job->reason() << LearnerLog(0);
  EXPECT_EQ(job->step(), 12);
  int steps = 0, lagged = 0;
  for (const auto& event : Events(*id)) {
    if (event.type() != chord::v1::JOB_EVENT_STEP) continue;
    ++steps;
    ASSERT_TRUE(event.metrics().count("policy_lag")) << "step " << event.step();
    const double lag = event.metrics().at("policy_lag");
    EXPECT_GE(lag, 0) << "step " << event.step();
    EXPECT_LE(lag, 1) << "step " << event.step();
    if (lag >= 1) ++lagged;
  }
  EXPECT_EQ(steps, 12);
  // Overlap happened: some steps trained on rollouts of the previous weights.
  EXPECT_GT(lagged, 0);
  RecordProperty("lagged_steps", lagged);
}

TEST_F(EndToEndTest, CancelEndsTheJobWithWorkersIdle) {
  auto id = Submit(Spec("e2e-cancel", 400, 0, 1));
  ASSERT_TRUE(id.ok()) << id.status();
  auto running = WaitFor(
      *id, [](const JobStatus& job) { return job.step() >= 3 || Finished(job); }, absl::Minutes(3));
  ASSERT_TRUE(running.ok()) << running.status();
  chord::v1::CancelJobRequest request;
  request.set_job_id(*id);
  request.set_reason("test cancels");
  JobStatus after_cancel;
  grpc::ClientContext ctx;
  Authorize(&ctx, tokens_.user);
  ASSERT_TRUE(stub_->Cancel(&ctx, request, &after_cancel).ok());
  auto job = WaitFor(*id, Finished, absl::Minutes(2));
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), chord::v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(job->reason(), "test cancels");
  EXPECT_LT(job->step(), 400);
  // Nothing is queued or generating on the workers afterwards.
  for (const ServiceProcess& worker : workers_) {
    auto stub = chord::v1::RolloutService::NewStub(
        rpc::MakeChannel(worker.address(), rpc::ClientOptions()));
    chord::v1::GetStatusResponse status;
    absl::Time deadline = absl::Now() + absl::Seconds(30);
    do {
      grpc::ClientContext status_ctx;
      Authorize(&status_ctx, tokens_.internal);
      ASSERT_TRUE(stub->GetStatus(&status_ctx, chord::v1::GetStatusRequest(), &status).ok());
      if (status.queue_depth() == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } while (absl::Now() < deadline);
    EXPECT_EQ(status.queue_depth(), 0) << worker.address();
  }
}

TEST_F(EndToEndTest, KilledLearnerResumesFromItsLastCheckpoint) {
  auto id = Submit(Spec("e2e-resume", 24, 5, 1));
  ASSERT_TRUE(id.ok()) << id.status();
  auto checkpointed = WaitFor(
      *id, [](const JobStatus& job) { return job.checkpoints_size() > 0 || Finished(job); },
      absl::Minutes(4));
  ASSERT_TRUE(checkpointed.ok()) << checkpointed.status();
  ASSERT_FALSE(Finished(*checkpointed)) << "the job ended before the learner could be killed";
  int64_t step_at_kill = checkpointed->step();

  // Rank 0 dies without warning; rank 1 notices (its collective fails) and exits by itself.
  ranks_[0]->Signal(SIGKILL);
  ASSERT_TRUE(ranks_[0]->Wait(absl::Seconds(10)).ok());
  auto follower = ranks_[1]->Wait(absl::Seconds(90));
  ASSERT_TRUE(follower.ok()) << "rank 1 kept running after rank 0 died\n" << LearnerLog(1);
  EXPECT_NE(*follower, 0);

  StartLearner();
  auto job = WaitFor(*id, Finished, absl::Minutes(5));
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), chord::v1::JOB_STATE_SUCCEEDED) << job->reason();
  EXPECT_EQ(job->step(), 24);
  bool resumed = false;
  for (const auto& event : Events(*id)) {
    if (event.type() == chord::v1::JOB_EVENT_LOG &&
        absl::StrContains(event.message(), "resumed from")) {
      resumed = true;
      EXPECT_LE(event.step(), step_at_kill + 1) << event.message();
    }
  }
  EXPECT_TRUE(resumed) << "no 'resumed from' log event";
}

}  // namespace
}  // namespace chord
