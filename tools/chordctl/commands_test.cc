// The job, up/down, datasets and eval commands run in-process (RunChordctl with string streams):
// usage errors exit 2 with one line, missing files exit 3, a missing learner address says how to
// give one; `resume` against a JobService serving a FakeJobClient's jobs; `datasets make` and
// `eval` end to end on the tiny model. The job commands against a real learner are covered by
// tests/chordctl_jobs_test.cc.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "chord/v1/learner.grpc.pb.h"
#include "common/rpc/grpc_status.h"
#include "common/rpc/server_runner.h"
#include "nlohmann/json.hpp"
#include "services/learner/fake_client.h"
#include "tests/support/child_process.h"
#include "tools/chordctl/chordctl_app.h"
#include "tools/chordctl/datasets_command.h"
#include "tools/chordctl/job_format.h"

namespace chord::chordctl {
namespace {

namespace fs = std::filesystem;

struct CliRun {
  int code = -1;
  std::string out;
  std::string err;
};

class CommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/chordctl_commands_XXXXXX";
    dir_ = mkdtemp(tmpl);
    // No address from the environment or a local cluster unless a test says so.
    unsetenv("CHORD_LEARNER_ADDRESS");
    unsetenv("CHORD_TOKEN");
    setenv("CHORD_STATE_DIR", (dir_ + "/no-cluster").c_str(), 1);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    unsetenv("CHORD_STATE_DIR");
  }

  CliRun Run(std::vector<std::string> args) {
    args.insert(args.begin(), "chordctl");
    std::vector<const char*> argv;
    for (const std::string& arg : args) argv.push_back(arg.c_str());
    std::ostringstream out, err;
    std::istringstream in;
    CliContext context;
    context.out = &out;
    context.err = &err;
    context.in = &in;
    // `init-model` and `eval` run chord-model-tool of the build tree (as a child: the output
    // comes back through the string streams).
    const char* bin_dir = std::getenv("CHORD_BIN_DIR");
    context.model_tool =
        std::string(bin_dir != nullptr ? bin_dir : "build/bin") + "/chord-model-tool";
    CliRun run;
    run.code = RunChordctl(static_cast<int>(argv.size()), argv.data(), context);
    run.out = out.str();
    run.err = err.str();
    return run;
  }

  std::string dir_;
};

int Lines(const std::string& text) {
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

TEST_F(CommandsTest, UsageErrorsExitTwoWithOneLine) {
  const std::string spec = dir_ + "/job.yaml";
  std::ofstream(spec) << "name: x\n";
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"submit"},                                     // no file
           {"submit", spec, "--set", "steps"},             // malformed override
           {"get"},                                        // no id
           {"get", "a", "b"},                              // extra argument
           {"cancel"},                                     //
           {"resume"},                                     //
           {"resume", "j-1", "--reason"},                  // no reason text
           {"watch"},                                      //
           {"logs"},                                       //
           {"list", "--state", "done"},                    // unknown state
           {"list", "--limit", "0"},                       //
           {"get", "j-1"},                                 // no learner address
           {"up", "--rollout-workers", "0"},               //
           {"up", "--learner-ranks", "x"},                 //
           {"up", "--grace", "-1"},                        //
           {"down", "--grace", "0"},                       //
           {"datasets"},                                   //
           {"datasets", "make"},                           //
           {"datasets", "make", "sudoku", "--out", dir_},  // unknown generator
           {"datasets", "make", "arithmetic"},             // no --out
           {"datasets", "make", "arithmetic", "--out", dir_ + "/d", "--digits", "5-2"},
           {"datasets", "make", "arithmetic", "--out", dir_ + "/d", "--ops", "/"},
           {"datasets", "make", "countdown", "--out", dir_ + "/d", "--numbers", "7"},
           {"eval", "--model", dir_},      // no --data
           {"eval", "--data", "x.jsonl"},  // no --model
           {"eval", "--model", dir_, "--data", "x", "--max-new-tokens", "0"},
       }) {
    CliRun run = Run(args);
    std::string joined = absl::StrJoin(args, " ");
    EXPECT_EQ(run.code, 2) << joined << "\n" << run.err;
    EXPECT_EQ(Lines(run.err), 1) << joined << "\n" << run.err;
    EXPECT_TRUE(absl::StartsWith(run.err, "chordctl: ")) << joined << "\n" << run.err;
    EXPECT_EQ(run.out, "") << joined;
  }
  CliRun run = Run({"get", "j-1"});
  EXPECT_EQ(run.err,
            "chordctl: error: no learner address: pass --address HOST:PORT, set "
            "CHORD_LEARNER_ADDRESS, or start a local cluster with `chordctl up`\n");
  run = Run({"list", "--state", "done"});
  EXPECT_EQ(run.err,
            "chordctl: error: unknown job state \"done\" (states: queued, running, succeeded, "
            "failed, cancelled)\n");
}

TEST_F(CommandsTest, MissingFilesExitThree) {
  CliRun run = Run({"submit", dir_ + "/missing.yaml", "--address", "127.0.0.1:1"});
  EXPECT_EQ(run.code, 3) << run.err;
  EXPECT_EQ(run.err, "chordctl: error: " + dir_ + "/missing.yaml: no such job spec file\n");

  run = Run({"eval", "--model", dir_ + "/no-model", "--data", dir_ + "/no-data.jsonl"});
  EXPECT_EQ(run.code, 3) << run.err;
  EXPECT_EQ(Lines(run.err), 1) << run.err;

  run = Run({"up", "--state-dir", dir_ + "/state", "--bin-dir", dir_ + "/no-bin"});
  EXPECT_EQ(run.code, 3) << run.err;
  EXPECT_TRUE(absl::StartsWith(
      run.err, "chordctl: error: " + dir_ + "/no-bin/chord-expert-buffer: not found"))
      << run.err;
}

// `convert` prints the Chord spec of a Trinity-RFT config with the unmapped keys as comments;
// `submit --from-trinity` converts before submitting and reports the unmapped keys on stderr.
TEST_F(CommandsTest, TrinityConfigsConvert) {
  const char* root = std::getenv("CHORD_SOURCE_DIR");
  ASSERT_NE(root, nullptr);
  const std::string example = std::string(root) + "/tests/data/trinity/mix_chord.yaml";
  CliRun run = Run({"convert", example, "--steps", "500"});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.err, "");
  EXPECT_TRUE(absl::StartsWith(run.out, "# Chord job spec converted from " + example +
                                            " (Trinity-RFT mix_chord) by chordctl convert.\n"))
      << run.out;
  EXPECT_NE(run.out.find("\nsteps: 500\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("  variant: chord-phi\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("# Not mapped ("), std::string::npos) << run.out;

  run = Run({"convert", dir_ + "/missing.yaml"});
  EXPECT_EQ(run.code, 3);
  EXPECT_EQ(run.err,
            "chordctl: error: " + dir_ + "/missing.yaml: no such Trinity-RFT config file\n");
  const std::string ppo = dir_ + "/ppo.yaml";
  std::ofstream(ppo) << "algorithm: {algorithm_type: ppo}\n";
  run = Run({"convert", ppo});
  EXPECT_EQ(run.code, 2);
  EXPECT_EQ(Lines(run.err), 1) << run.err;
  EXPECT_NE(run.err.find("algorithm.algorithm_type: \"ppo\" is not supported"), std::string::npos);

  // Converted, then refused for want of a learner address (after the report).
  run = Run({"submit", "--from-trinity", example, "--set", "steps=500"});
  EXPECT_EQ(run.code, 2) << run.err;
  EXPECT_TRUE(absl::StartsWith(run.err,
                               "chordctl: " + example + ": converted from Trinity-RFT mix_chord; "))
      << run.err;
  EXPECT_NE(run.err.find(": not mapped: project: "), std::string::npos) << run.err;
  EXPECT_TRUE(absl::EndsWith(run.err,
                             "chordctl: error: no learner address: pass --address HOST:PORT, set "
                             "CHORD_LEARNER_ADDRESS, or start a local cluster with `chordctl "
                             "up`\n"))
      << run.err;
}

TEST_F(CommandsTest, UnreachableLearnerIsARuntimeError) {
  CliRun run = Run({"--timeout", "1", "get", "j-1", "--address", "127.0.0.1:1"});
  EXPECT_EQ(run.code, 1) << run.err;
  EXPECT_TRUE(absl::StartsWith(run.err, "chordctl: error: Get: ")) << run.err;

  // The address also comes from the environment, and from the local cluster's record.
  setenv("CHORD_LEARNER_ADDRESS", "127.0.0.1:1", 1);
  run = Run({"--timeout", "1", "list"});
  EXPECT_EQ(run.code, 1) << run.err;
  EXPECT_TRUE(absl::StartsWith(run.err, "chordctl: error: List: ")) << run.err;
  unsetenv("CHORD_LEARNER_ADDRESS");
}

// The JobService over the jobs of a FakeJobClient (services/learner/fake_client.h), for the job
// commands' tests: each RPC answers what the fake's method returns (its "Method: " prefix
// dropped, the client adds its own).
class FakeJobService final : public chord::v1::JobService::Service {
 public:
  explicit FakeJobService(learner::FakeJobClient* jobs) : jobs_(jobs) {}

  grpc::Status Get(grpc::ServerContext*, const chord::v1::GetJobRequest* request,
                   chord::v1::JobStatus* response) override {
    return Answer("Get", jobs_->Get(*request), response);
  }
  grpc::Status Cancel(grpc::ServerContext*, const chord::v1::CancelJobRequest* request,
                      chord::v1::JobStatus* response) override {
    return Answer("Cancel", jobs_->Cancel(*request), response);
  }
  grpc::Status Resume(grpc::ServerContext*, const chord::v1::ResumeJobRequest* request,
                      chord::v1::JobStatus* response) override {
    return Answer("Resume", jobs_->Resume(*request), response);
  }
  // The fake's Watch in short rounds (an idle stop), so that a client that goes away ends the
  // stream (the fake's own Watch would wait for events that never come).
  grpc::Status Watch(grpc::ServerContext* context, const chord::v1::WatchJobRequest* request,
                     grpc::ServerWriter<chord::v1::JobEvent>* writer) override {
    chord::v1::WatchJobRequest round = *request;
    learner::WatchOptions options;
    options.idle_stop = absl::Milliseconds(50);
    while (!context->IsCancelled()) {
      chord::v1::GetJobRequest get;
      get.set_job_id(request->job_id());
      absl::StatusOr<chord::v1::JobStatus> job = jobs_->Get(get);
      if (!job.ok()) return Answer("Watch", job.status());
      // A round that starts on an ended job delivers the rest of its events and ends.
      const bool ended = IsTerminal(job->state());
      bool gone = false;
      absl::Status status = jobs_->Watch(round, options, [&](const chord::v1::JobEvent& event) {
        round.set_from_sequence(event.sequence() + 1);
        gone = !writer->Write(event);
        return !gone;
      });
      if (!status.ok()) return Answer("Watch", status);
      if (ended || gone) return grpc::Status::OK;
    }
    return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
  }

 private:
  static grpc::Status Answer(absl::string_view method, const absl::Status& status) {
    absl::string_view message = status.message();
    absl::ConsumePrefix(&message, absl::StrCat(method, ": "));
    return rpc::ToGrpcStatus(absl::Status(status.code(), message));
  }
  template <typename T>
  static grpc::Status Answer(absl::string_view method, const absl::StatusOr<T>& result,
                             T* response) {
    if (!result.ok()) return Answer(method, result.status());
    *response = *result;
    return grpc::Status::OK;
  }

  learner::FakeJobClient* jobs_;
};

class ResumeCommandTest : public CommandsTest {
 protected:
  void SetUp() override {
    CommandsTest::SetUp();
    rpc::ServerOptions options;
    options.host = "127.0.0.1";
    options.shutdown_grace = absl::Seconds(1);
    auto runner = rpc::ServerRunner::Start(options, {&service_});
    ASSERT_TRUE(runner.ok()) << runner.status();
    server_ = std::move(*runner);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
    CommandsTest::TearDown();
  }

  // A job that reached step `steps` of 4 with a checkpoint at `checkpoint` (0: none), then ended
  // in `state`.
  std::string EndedJob(chord::v1::JobState state, int steps, int checkpoint) {
    auto job = jobs_.Submit(chord::v1::SubmitJobRequest());
    EXPECT_TRUE(job.ok()) << job.status();
    const std::string id = job->job_id();
    EXPECT_TRUE(jobs_.SetState(id, chord::v1::JOB_STATE_RUNNING).ok());
    for (int step = 1; step <= steps; ++step) {
      EXPECT_TRUE(jobs_.AppendEvent(id, StepEvent(step)).ok());
      if (step == checkpoint) {
        chord::v1::JobEvent saved;
        saved.set_type(chord::v1::JOB_EVENT_CHECKPOINT);
        saved.set_step(step);
        saved.set_message("/state/jobs/" + id + "/checkpoints/step-" + std::to_string(step));
        EXPECT_TRUE(jobs_.AppendEvent(id, saved).ok());
      }
    }
    if (state != chord::v1::JOB_STATE_RUNNING) {
      EXPECT_TRUE(jobs_.SetState(id, state, "reward: unavailable").ok());
    }
    return id;
  }

  static chord::v1::JobEvent StepEvent(int step) {
    chord::v1::JobEvent event;
    event.set_type(chord::v1::JOB_EVENT_STEP);
    event.set_step(step);
    event.set_total_steps(4);
    (*event.mutable_metrics())["loss"] = 0.5;
    return event;
  }

  chord::v1::JobState StateOf(const std::string& id) {
    chord::v1::GetJobRequest get;
    get.set_job_id(id);
    auto job = jobs_.Get(get);
    return job.ok() ? job->state() : chord::v1::JOB_STATE_UNSPECIFIED;
  }

  learner::FakeJobClient jobs_;
  FakeJobService service_{&jobs_};
  std::unique_ptr<rpc::ServerRunner> server_;
};

TEST_F(ResumeCommandTest, AFailedJobIsQueuedAgainOnceAndGetShowsTheResumes) {
  const std::string id = EndedJob(chord::v1::JOB_STATE_FAILED, 3, 2);
  const std::string address = server_->address();
  CliRun run = Run({"resume", id, "--reason", "reward is back", "--address", address});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.err, "");
  const std::string queued = "job " + id + " QUEUED (resume 1): it continues from its newest " +
                             "checkpoint (/state/jobs/" + id +
                             "/checkpoints/step-2) when the learner runs it\n";
  EXPECT_EQ(run.out, queued);
  EXPECT_EQ(StateOf(id), chord::v1::JOB_STATE_QUEUED);
  // Twice: the same answer, still one resume.
  run = Run({"resume", id, "--address", address});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.out, queued);

  run = Run({"get", id, "--address", address});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_TRUE(absl::StrContains(run.out, "\nresumes     1\n")) << run.out;
  EXPECT_FALSE(absl::StrContains(run.out, "reason")) << run.out;
  run = Run({"get", id, "--json", "--address", address});
  EXPECT_EQ(nlohmann::json::parse(run.out)["resume_count"], 1) << run.out;
  run = Run({"logs", id, "--address", address});
  EXPECT_TRUE(absl::StrContains(run.out, " state FAILED: reward: unavailable\n")) << run.out;
  EXPECT_TRUE(absl::EndsWith(run.out, " state QUEUED: resumed by request: reward is back\n"))
      << run.out;

  // Without a checkpoint it starts again; a running job is left as it is.
  const std::string cancelled = EndedJob(chord::v1::JOB_STATE_CANCELLED, 1, 0);
  run = Run({"resume", cancelled, "--address", address});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.out, "job " + cancelled +
                         " QUEUED (resume 1): it has no checkpoint and starts again from step 1 "
                         "when the learner runs it\n");
  const std::string running = EndedJob(chord::v1::JOB_STATE_RUNNING, 1, 0);
  run = Run({"resume", running, "--address", address});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.out, "job " + running + " is RUNNING (left as it is)\n");
}

TEST_F(ResumeCommandTest, ASucceededOrUnknownJobIsAnError) {
  const std::string address = server_->address();
  const std::string done = EndedJob(chord::v1::JOB_STATE_SUCCEEDED, 4, 4);
  CliRun run = Run({"resume", done, "--address", address});
  EXPECT_EQ(run.code, 1) << run.err;
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err, "chordctl: error: Resume: job " + done +
                         " is JOB_STATE_SUCCEEDED: only a FAILED or CANCELLED job can be resumed "
                         "(submit a new job to train further)\n");
  EXPECT_EQ(StateOf(done), chord::v1::JOB_STATE_SUCCEEDED);
  run = Run({"resume", "job-404", "--address", address});
  EXPECT_EQ(run.code, 3) << run.err;
  EXPECT_EQ(run.err, "chordctl: error: Resume: job job-404 not found\n");
  run = Run({"resume", "job-404", "--watch", "--address", address});
  EXPECT_EQ(run.code, 3) << run.err;
}

// --watch follows the job from its resume on (the history before it is not printed again) and
// exits as `watch` does.
TEST_F(ResumeCommandTest, WatchFollowsTheResumedJobToItsEnd) {
  const std::string id = EndedJob(chord::v1::JOB_STATE_FAILED, 3, 2);
  CliRun run;
  std::thread resume([&] {
    run = Run({"resume", id, "--watch", "--reason", "again", "--address", server_->address()});
  });
  ASSERT_TRUE(testing::WaitFor([&] { return StateOf(id) == chord::v1::JOB_STATE_QUEUED; }));
  ASSERT_TRUE(jobs_.SetState(id, chord::v1::JOB_STATE_RUNNING).ok());
  ASSERT_TRUE(jobs_.AppendEvent(id, StepEvent(3)).ok());
  ASSERT_TRUE(jobs_.AppendEvent(id, StepEvent(4)).ok());
  ASSERT_TRUE(jobs_.SetState(id, chord::v1::JOB_STATE_SUCCEEDED).ok());
  resume.join();
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_TRUE(absl::StartsWith(run.out, "job " + id + " QUEUED (resume 1): ")) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out,
                                "\nstate QUEUED: resumed by request: again\n"
                                "state RUNNING\n"
                                "step 3/4 loss 0.5000 ETA "))
      << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "\nstep 4/4 loss 0.5000 ETA ")) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "\njob " + id + " SUCCEEDED in ")) << run.out;
  EXPECT_FALSE(absl::StrContains(run.out, "FAILED")) << run.out;
  EXPECT_FALSE(absl::StrContains(run.out, "step 1/4")) << run.out;

  // A resumed job that fails again: exit 1, as `watch`.
  const std::string again = EndedJob(chord::v1::JOB_STATE_CANCELLED, 1, 0);
  std::thread watch_again([&] {
    run = Run({"resume", again, "--watch", "--address", server_->address()});
  });
  ASSERT_TRUE(testing::WaitFor([&] { return StateOf(again) == chord::v1::JOB_STATE_QUEUED; }));
  ASSERT_TRUE(jobs_.SetState(again, chord::v1::JOB_STATE_FAILED, "still broken").ok());
  watch_again.join();
  EXPECT_EQ(run.code, 1) << run.err;
  EXPECT_EQ(run.err, "chordctl: error: job " + again + " failed: still broken\n");
}

TEST_F(CommandsTest, ResumeHelpNamesItsOptions) {
  CliRun run = Run({"resume", "--help"});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_TRUE(absl::StrContains(run.out, "failed or cancelled job")) << run.out;
  for (const char* option : {"--reason", "--watch", "--plain", "--address"}) {
    EXPECT_TRUE(absl::StrContains(run.out, option)) << option << "\n" << run.out;
  }
  run = Run({"--help"});
  EXPECT_TRUE(absl::StrContains(run.out, "resume")) << run.out;
}

TEST_F(CommandsTest, DownWithoutAClusterIsANoOp) {
  CliRun run = Run({"down", "--state-dir", dir_});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.out, "no local cluster recorded in " + dir_ + " (nothing to stop)\n");
}

TEST_F(CommandsTest, DigitRanges) {
  EXPECT_EQ(*ParseDigitRange("3"), std::make_pair(3, 3));
  EXPECT_EQ(*ParseDigitRange("2-4"), std::make_pair(2, 4));
  for (const char* bad : {"", "0", "4-2", "1-10", "a-b", "2-"}) {
    EXPECT_FALSE(ParseDigitRange(bad).ok()) << bad;
  }
}

TEST_F(CommandsTest, DatasetsMakeThenEvalTheTinyModel) {
  const std::string data = dir_ + "/data";
  CliRun run = Run({"datasets", "make", "arithmetic", "--out", data, "--tasks", "20", "--expert",
                    "10", "--eval", "6", "--digits", "2", "--ops", "+-", "--seed", "3"});
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_TRUE(absl::StartsWith(run.out, "wrote the arithmetic dataset\n")) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "  tasks   20     " + data + "/tasks.jsonl\n")) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "  eval    6      " + data + "/eval.jsonl (held out"))
      << run.out;

  run = Run({"datasets", "make", "countdown", "--out", dir_ + "/cd", "--tasks", "5", "--expert",
             "5", "--eval", "3", "--json"});
  ASSERT_EQ(run.code, 0) << run.err;
  nlohmann::json made = nlohmann::json::parse(run.out);
  EXPECT_EQ(made["num_eval"], 3);
  EXPECT_TRUE(fs::exists(made["expert"].get<std::string>()));

  const std::string model = dir_ + "/model";
  run = Run({"init-model", "--out", model});
  ASSERT_EQ(run.code, 0) << run.err;

  run = Run({"eval", "--model", model, "--data", data + "/eval.jsonl", "--max-samples", "4",
             "--max-new-tokens", "6", "--examples", "2", "--batch-size", "3"});
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_TRUE(absl::StartsWith(run.out, "accuracy ")) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "/4)  mean reward ")) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "\nexamples:\n")) << run.out;
  EXPECT_EQ(Lines(run.out), 6) << run.out;  // report, model, data, "examples:", 2 examples
  EXPECT_EQ(run.err, "evaluating: 3/4 problems\n");

  run = Run({"eval", "--model", model, "--data", data + "/eval.jsonl", "--max-new-tokens", "4",
             "--json"});
  ASSERT_EQ(run.code, 0) << run.err;
  nlohmann::json report = nlohmann::json::parse(run.out);
  EXPECT_EQ(report["samples"], 6);
  EXPECT_LE(report["mean_response_tokens"].get<double>(), 4.0);
  EXPECT_EQ(report["examples"].size(), 3u);

  // A verifier that does not exist is refused before any generation.
  run = Run({"eval", "--model", model, "--data", data + "/eval.jsonl", "--verifier", "nope",
             "--max-new-tokens", "2"});
  EXPECT_EQ(run.code, 0) << "tasks name their verifier (arithmetic): --verifier is unused";
  std::ofstream(dir_ + "/plain.jsonl") << "{\"prompt\": \"1+1=?\", \"answer\": \"2\"}\n";
  run = Run({"eval", "--model", model, "--data", dir_ + "/plain.jsonl", "--verifier", "nope"});
  EXPECT_EQ(run.code, 2) << run.err;
  EXPECT_TRUE(absl::StartsWith(run.err, "chordctl: error: --verifier: unknown verifier \"nope\""))
      << run.err;
  std::ofstream(dir_ + "/bad.jsonl") << "{\"prompt\": \"1+1=?\"}\n";
  run = Run({"eval", "--model", model, "--data", dir_ + "/bad.jsonl"});
  EXPECT_EQ(run.code, 2) << run.err;
  EXPECT_TRUE(absl::StrContains(run.err, "bad.jsonl:1: answer")) << run.err;
}

}  // namespace
}  // namespace chord::chordctl
