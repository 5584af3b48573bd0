// chordctl end to end against the real services: `chordctl up --detach` starts chord-expert-buffer,
// chord-reward, two chord-rollout-workers and chord-learner on a temp state directory (the tiny
// model from `init-model`, a small arithmetic dataset from `datasets make`); then chordctl runs as
// a process: submit a tiny job and watch it to SUCCEEDED, get/list/logs show it, a queued job and
// a running job are cancelled, a job cancelled after a checkpoint is resumed (`resume --watch`)
// and continues after it, an invalid spec lists its problems (exit 2), unknown jobs and missing
// files exit 3, `eval` scores the job's output model, and `chordctl down` stops every pid.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/files/file_io.h"
#include "nlohmann/json.hpp"
#include "tests/support/child_process.h"
#include "tools/chordctl/local_cluster.h"

namespace chord {
namespace {

using ::chord::testing::CommandResult;
using ::chord::testing::RunCommand;

class ChordctlJobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state_ = dir_.File("state");
    model_ = dir_.File("model");
    data_ = dir_.File("data");
  }

  void TearDown() override {
    // Whatever happened, nothing may outlive the test.
    absl::StatusOr<chordctl::ClusterRecord> record = chordctl::ReadClusterRecord(state_);
    if (record.ok()) {
      std::vector<const chordctl::ServiceRecord*> services;
      for (const auto& s : record->services) services.push_back(&s);
      chordctl::StopProcesses(services, absl::Seconds(20));
    }
  }

  // Runs chordctl with `args` (shell words) against the test's cluster (CHORD_STATE_DIR). No
  // token is given: chordctl reads the user token `up` wrote into the state directory.
  CommandResult Chordctl(const std::string& args, absl::Duration timeout = absl::Seconds(120)) {
    return RunCommand(
        absl::StrCat("env -u CHORD_TOKEN CHORD_STATE_DIR=", state_, " ", chordctl_, " ", args),
        timeout);
  }

  // Writes a job spec over the test's model and datasets with the given extra YAML lines.
  std::string WriteSpec(const std::string& name, const std::string& body) {
    std::string path = dir_.File(name + ".yaml");
    std::ofstream(path) << "name: " << name << "\n"
                        << "model: " << model_ << "\n"
                        << "datasets:\n"
                        << "  tasks: {path: " << data_ << "/tasks.jsonl}\n"
                        << "  expert: {path: " << data_ << "/expert.jsonl}\n"
                        << "  eval: {path: " << data_ << "/eval.jsonl}\n"
                        << "verifier: arithmetic\n"
                        << "sampling: {max_new_tokens: 16}\n"
                        << "eval: {max_samples: 8, max_new_tokens: 16}\n"
                        << body;
    return path;
  }

  nlohmann::json GetJson(const std::string& job_id) {
    CommandResult get = Chordctl("get --json " + job_id);
    EXPECT_EQ(get.exit_code, 0) << get.output;
    return nlohmann::json::parse(get.output, nullptr, /*allow_exceptions=*/false);
  }

  testing::TempDir dir_;
  std::string state_, model_, data_;
  const std::string chordctl_ = testing::BinaryPath("chordctl");
};

std::string Trimmed(const std::string& text) {
  return std::string(absl::StripAsciiWhitespace(text));
}

// The value of the "KEY   value" line of `chordctl get` ("" when absent).
std::string SummaryField(const std::string& summary, const std::string& key) {
  for (absl::string_view line : absl::StrSplit(summary, '\n')) {
    if (absl::ConsumePrefix(&line, key + " ")) return Trimmed(std::string(line));
  }
  return "";
}

bool IsEnded(const nlohmann::json& job) {
  const std::string state = job.value("state", "");
  return state == "SUCCEEDED" || state == "FAILED" || state == "CANCELLED";
}

TEST_F(ChordctlJobsTest, JobsEndToEnd) {
  CommandResult run = Chordctl("init-model --out " + model_);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  run = Chordctl(absl::StrCat("datasets make arithmetic --out ", data_,
                              " --tasks 200 --expert 200 --eval 20 --seed 5"));
  ASSERT_EQ(run.exit_code, 0) << run.output;

  run = Chordctl(absl::StrCat("up --detach --state-dir ", state_, " --model ", model_,
                              " --data-root ", data_, " --rollout-workers 2"),
                 absl::Seconds(240));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "export CHORD_LEARNER_ADDRESS=127.0.0.1:"))
      << run.output;
  absl::StatusOr<chordctl::ClusterRecord> cluster = chordctl::ReadClusterRecord(state_);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  ASSERT_EQ(cluster->services.size(), 5u);
  EXPECT_EQ(cluster->supervisor_pid, 0);
  for (const auto& s : cluster->services) {
    EXPECT_TRUE(process::IsSameProcess(s.pid, s.binary, s.start_time)) << s.name;
    EXPECT_TRUE(absl::StrContains(run.output, s.address)) << s.name;
  }
  const std::string learner = cluster->LearnerAddress();

  // `up` generated the tokens, readable by their owner only, and every service requires them.
  const std::string user_token = chordctl::UserTokenPath(state_);
  for (const std::string& token : {user_token, chordctl::InternalTokenPath(state_)}) {
    struct stat st;
    ASSERT_EQ(stat(token.c_str(), &st), 0) << token;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << token;
    EXPECT_EQ(Trimmed(*files::ReadFile(token)).size(), 64u) << token;
  }
  // The local cluster's token is picked up with no setup; a wrong one in CHORD_TOKEN fails.
  run = Chordctl("list");
  EXPECT_EQ(run.exit_code, 0) << run.output;
  run = RunCommand(
      absl::StrCat("CHORD_TOKEN=wrong CHORD_STATE_DIR=", state_, " ", chordctl_, " list"));
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "chordctl: error: List: ")) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "wrong bearer token")) << run.output;
  // Away from the state directory the token is not sent, unless --token-file names it.
  const std::string elsewhere = absl::StrCat("env -u CHORD_TOKEN CHORD_STATE_DIR=", dir_.path(),
                                             "/none ", chordctl_, " list --address ", learner);
  run = RunCommand(elsewhere);
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "no bearer token")) << run.output;
  run = RunCommand(elsewhere + " --token-file " + user_token);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  // The user token may not call the reward service (internal role); chordctl picks the local
  // cluster's internal token for it.
  run = RunCommand(absl::StrCat("CHORD_TOKEN=$(cat ", user_token, ") ", chordctl_,
                                " reward score --verifier arithmetic --response 4 --reference 4"
                                " --address ",
                                cluster->Find("reward")->address));
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "user token may not call")) << run.output;
  run = Chordctl(absl::StrCat("reward score --verifier arithmetic --response 4 --reference 4",
                              " --address ", cluster->Find("reward")->address));
  EXPECT_EQ(run.exit_code, 0) << run.output;

  // A second cluster in the same state directory is refused.
  CommandResult again = Chordctl(absl::StrCat("up --detach --state-dir ", state_));
  EXPECT_EQ(again.exit_code, 1) << again.output;
  EXPECT_TRUE(absl::StrContains(again.output, "already running")) << again.output;

  // A long job, a second one queued behind it (jobs run one at a time), then a tiny one.
  std::string tiny_spec = WriteSpec("tiny",
                                    "steps: 3\ntrain_batch_size: 8\nsave_interval: 2\n"
                                    "algorithm: {variant: chord-phi, repeat_times: 4, lr: 1e-3}\n");
  std::string long_spec = WriteSpec("long",
                                    "steps: 1000\ntrain_batch_size: 8\n"
                                    "algorithm: {variant: chord-phi, repeat_times: 4}\n");
  run = Chordctl("submit " + long_spec + " --set name=long-running --address " + learner);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const std::string running = Trimmed(run.output);
  ASSERT_FALSE(running.empty());
  run = Chordctl("submit " + long_spec + " --request-id long-1");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const std::string queued = Trimmed(run.output);
  // The same request id returns the same job.
  run = Chordctl("submit " + long_spec + " --request-id long-1");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(Trimmed(run.output), queued);
  // A queued job is cancelled at once.
  run = Chordctl("cancel " + queued + " --reason 'not needed'");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.output, "job " + queued + " CANCELLED\n");
  // A running job stops at its next phase boundary; its watch ends with exit code 4.
  absl::Time deadline = absl::Now() + absl::Seconds(120);
  nlohmann::json running_status;
  do {
    running_status = GetJson(running);
    if (running_status.value("step", 0) >= 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (absl::Now() < deadline);
  ASSERT_EQ(running_status["state"], "RUNNING") << running_status.dump();
  EXPECT_EQ(running_status["name"], "long-running");
  run = Chordctl("cancel " + running);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  run = Chordctl("watch " + running);
  EXPECT_EQ(run.exit_code, 4) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "job " + running + " CANCELLED at step "))
      << run.output;
  EXPECT_EQ(GetJson(running)["state"], "CANCELLED");

  run = Chordctl("submit " + tiny_spec);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const std::string tiny = Trimmed(run.output);

  // Watch the tiny job to its end: plain lines (not a terminal), exit 0.
  run = RunCommand(absl::StrCat("env -u CHORD_TOKEN CHORD_LEARNER_ADDRESS=", learner, " ",
                                chordctl_, " watch ", tiny, " --token-file ", user_token),
                   absl::Seconds(180));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "state RUNNING")) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "eval at step 0: accuracy ")) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "step 3/3 reward ")) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "checkpoint at step 2: ")) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "eval at step 3: accuracy ")) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "job " + tiny + " SUCCEEDED in ")) << run.output;
  EXPECT_EQ(run.output.find('\r'), std::string::npos);

  nlohmann::json status = GetJson(tiny);
  EXPECT_EQ(status["state"], "SUCCEEDED");
  EXPECT_EQ(status["step"], 3);
  EXPECT_EQ(status["name"], "tiny");
  const std::string output_model = status["output_model"].get<std::string>();
  EXPECT_TRUE(std::filesystem::exists(output_model + "/config.json")) << output_model;
  EXPECT_TRUE(status["eval_metrics"].contains("eval_accuracy")) << status.dump();
  run = Chordctl("get " + tiny);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(SummaryField(run.output, "state"), "SUCCEEDED") << run.output;
  EXPECT_EQ(SummaryField(run.output, "output"), output_model) << run.output;

  run = Chordctl("list");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  std::vector<std::string> lines = absl::StrSplit(run.output, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u) << run.output;  // newest first
  EXPECT_TRUE(absl::StartsWith(lines[0], "ID ")) << run.output;
  EXPECT_TRUE(absl::StartsWith(lines[1], tiny) && absl::StrContains(lines[1], "SUCCEEDED  3/3"))
      << run.output;
  EXPECT_TRUE(absl::StartsWith(lines[2], queued) && absl::StrContains(lines[2], "CANCELLED"))
      << run.output;
  EXPECT_TRUE(absl::StartsWith(lines[3], running) && absl::StrContains(lines[3], "CANCELLED"))
      << run.output;
  run = Chordctl("list --state cancelled --json");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  nlohmann::json cancelled = nlohmann::json::parse(run.output);
  ASSERT_EQ(cancelled.size(), 2u) << run.output;
  EXPECT_EQ(cancelled[0]["job_id"], queued);
  EXPECT_EQ(cancelled[0]["reason"], "not needed");
  EXPECT_EQ(cancelled[1]["job_id"], running);

  run = Chordctl("logs " + tiny);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, " step 1/3 ")) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, " state SUCCEEDED")) << run.output;
  for (absl::string_view line : absl::StrSplit(run.output, '\n', absl::SkipEmpty())) {
    // "YYYY-MM-DD HH:MM:SS.mmm <event>"
    ASSERT_GT(line.size(), 24u) << line;
    EXPECT_EQ(line[4], '-') << line;
    EXPECT_EQ(line[10], ' ') << line;
    EXPECT_EQ(line[19], '.') << line;
  }
  run = Chordctl("logs --json " + tiny);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  int64_t expected_sequence = 1;
  for (absl::string_view line : absl::StrSplit(run.output, '\n', absl::SkipEmpty())) {
    nlohmann::json event = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(event.is_discarded()) << line;
    EXPECT_EQ(event["sequence"], expected_sequence++) << line;
  }

  // The cancelled job's watch ends with exit code 4.
  run = Chordctl("watch " + queued);
  EXPECT_EQ(run.exit_code, 4) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "was cancelled: not needed")) << run.output;

  // A running job cancelled after a checkpoint, then resumed: it continues after the checkpoint
  // (the steps before it are not trained again) and succeeds; a succeeded job is not resumed.
  std::string resumable_spec = WriteSpec("resumable",
                                         "steps: 30\ntrain_batch_size: 8\nsave_interval: 2\n"
                                         "algorithm: {variant: chord-phi, repeat_times: 4}\n");
  run = Chordctl("submit " + resumable_spec);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const std::string resumable = Trimmed(run.output);
  deadline = absl::Now() + absl::Seconds(120);
  nlohmann::json paused;
  do {
    paused = GetJson(resumable);
    if (!paused["checkpoints"].empty() || IsEnded(paused)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (absl::Now() < deadline);
  ASSERT_EQ(paused["state"], "RUNNING") << paused.dump();
  ASSERT_FALSE(paused["checkpoints"].empty()) << paused.dump();
  run = Chordctl("cancel " + resumable + " --reason 'operator pause'");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  run = Chordctl("watch " + resumable);
  ASSERT_EQ(run.exit_code, 4) << run.output;
  paused = GetJson(resumable);
  ASSERT_EQ(paused["state"], "CANCELLED") << paused.dump();
  const std::string checkpoint = paused["checkpoints"].back().get<std::string>();
  int64_t checkpoint_step = 0;
  ASSERT_TRUE(absl::SimpleAtoi(checkpoint.substr(checkpoint.rfind("step-") + 5), &checkpoint_step))
      << checkpoint;
  ASSERT_LT(checkpoint_step, 30);

  run = Chordctl("resume " + resumable + " --reason 'carry on' --watch", absl::Seconds(240));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_TRUE(absl::StartsWith(run.output, "job " + resumable +
                                               " QUEUED (resume 1): it continues from its newest "
                                               "checkpoint (" +
                                               checkpoint + ") when the learner runs it\n"))
      << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "\nstate QUEUED: resumed by request: carry on\n"))
      << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, absl::StrCat("log: resumed from ", checkpoint,
                                                         " at step ", checkpoint_step, " of 30")))
      << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "job " + resumable + " SUCCEEDED in ")) << run.output;
  // --watch starts at the resume: the cancel before it is not shown again.
  EXPECT_FALSE(absl::StrContains(run.output, "CANCELLED")) << run.output;
  nlohmann::json finished = GetJson(resumable);
  EXPECT_EQ(finished["state"], "SUCCEEDED") << finished.dump();
  EXPECT_EQ(finished["step"], 30);
  EXPECT_EQ(finished["resume_count"], 1);
  EXPECT_EQ(finished["reason"], "");
  run = Chordctl("get " + resumable);
  EXPECT_EQ(SummaryField(run.output, "resumes"), "1") << run.output;
  // After the resume the steps run from the checkpoint's on, each once.
  run = Chordctl("logs --json " + resumable);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  bool after_resume = false;
  std::vector<int64_t> resumed_steps;
  for (absl::string_view line : absl::StrSplit(run.output, '\n', absl::SkipEmpty())) {
    nlohmann::json event = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(event.is_discarded()) << line;
    if (event["type"] == "STATE" && event["message"] == "resumed by request: carry on") {
      after_resume = true;
    } else if (after_resume && event["type"] == "STEP") {
      resumed_steps.push_back(event["step"].get<int64_t>());
    }
  }
  std::vector<int64_t> expected_steps;
  for (int64_t step = checkpoint_step + 1; step <= 30; ++step) expected_steps.push_back(step);
  EXPECT_EQ(resumed_steps, expected_steps);
  run = Chordctl("resume " + resumable);
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "is JOB_STATE_SUCCEEDED: only a FAILED or CANCELLED"))
      << run.output;
  run = Chordctl("resume no-such-job");
  EXPECT_EQ(run.exit_code, 3) << run.output;

  // Errors: an invalid spec lists every problem (exit 2); unknown job and missing file exit 3.
  std::string invalid = dir_.File("invalid.yaml");
  std::ofstream(invalid) << "name: bad\nmodel: /m\nsteps: 0\ntrain_batch_sise: 8\n"
                         << "datasets: {tasks: {path: /t.jsonl}}\n";
  run = Chordctl("submit " + invalid);
  EXPECT_EQ(run.exit_code, 2) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "steps")) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "train_batch_sise")) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, invalid + ":")) << run.output;
  run = Chordctl("get no-such-job");
  EXPECT_EQ(run.exit_code, 3) << run.output;
  run = Chordctl("watch no-such-job");
  EXPECT_EQ(run.exit_code, 3) << run.output;
  run = Chordctl("submit " + dir_.File("missing.yaml"));
  EXPECT_EQ(run.exit_code, 3) << run.output;
  EXPECT_EQ(run.output,
            "chordctl: error: " + dir_.File("missing.yaml") + ": no such job spec file\n");

  // eval scores the trained model in-process.
  run = Chordctl(absl::StrCat("eval --model ", output_model, " --data ", data_,
                              "/eval.jsonl --max-samples 8 --max-new-tokens 16"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_TRUE(absl::StartsWith(run.output, "accuracy ")) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "/8)")) << run.output;

  // down stops every process and removes cluster.json.
  run = Chordctl(absl::StrCat("down --state-dir ", state_));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "stopped 5 service processes")) << run.output;
  for (const auto& s : cluster->services) {
    EXPECT_FALSE(process::InspectProcess(s.pid).running) << s.name << " pid " << s.pid;
  }
  EXPECT_FALSE(std::filesystem::exists(state_ + "/cluster.json"));
  run = Chordctl(absl::StrCat("down --state-dir ", state_));
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "nothing to stop")) << run.output;
}

// The learner's port is picked before the workers start; if another process takes it meanwhile,
// the learner cannot listen and `up` starts the workers and the learner again on a new port.
TEST(LocalClusterPortTest, RetriesWhenThePickedPortIsTaken) {
  testing::TempDir dir;
  int busy_fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(busy_fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(busy_fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(busy_fd, 1), 0);
  ASSERT_EQ(getsockname(busy_fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int busy = ntohs(addr.sin_port);

  chordctl::LocalClusterOptions options;
  options.state_dir = dir.File("state");
  options.bin_dir = std::filesystem::path(testing::BinaryPath("chordctl")).parent_path().string();
  options.rollout_workers = 1;
  int picks = 0;
  options.pick_port = [&picks, busy]() -> absl::StatusOr<int> {
    return ++picks == 1 ? busy : process::PickFreePort();
  };
  std::vector<std::string> notes;
  options.progress = [&notes](const std::string& line) { notes.push_back(line); };
  absl::StatusOr<std::unique_ptr<chordctl::LocalCluster>> cluster =
      chordctl::LocalCluster::Start(options, /*detached=*/false);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  EXPECT_EQ(picks, 2);
  std::string all = absl::StrJoin(notes, "\n");
  EXPECT_TRUE(absl::StrContains(all, "could not listen on its picked port")) << all;
  const chordctl::ClusterRecord record = (*cluster)->record();
  EXPECT_NE(record.LearnerAddress(), absl::StrCat("127.0.0.1:", busy));
  ASSERT_EQ(record.services.size(), 4u);
  EXPECT_EQ(chordctl::ReadClusterRecord(options.state_dir)->supervisor_pid, getpid());
  const chordctl::ServiceRecord* worker = record.Find("rollout-worker-0");
  ASSERT_NE(worker, nullptr);
  EXPECT_TRUE(absl::StrContains(absl::StrJoin(worker->argv, " "),
                                "--weight_source=" + record.LearnerAddress()));

  (*cluster)->Stop();
  for (const auto& s : record.services) {
    EXPECT_FALSE(process::InspectProcess(s.pid).running) << s.name;
  }
  EXPECT_FALSE(std::filesystem::exists(options.state_dir + "/cluster.json"));
  close(busy_fd);
}

}  // namespace
}  // namespace chord
