// Formats of the job commands: durations, counts, the progress line and its ETA, event lines,
// the watch printer on and off a terminal, the job table and summary, JSON.

#include "tools/chordctl/job_format.h"

#include <gtest/gtest.h>

#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

namespace chord::chordctl {
namespace {

chord::v1::JobEvent StepEvent(int64_t step, int64_t total, int64_t unix_ms,
                              std::map<std::string, double> metrics) {
  chord::v1::JobEvent event;
  event.set_job_id("j1");
  event.set_sequence(step + 1);
  event.set_type(chord::v1::JOB_EVENT_STEP);
  event.set_step(step);
  event.set_total_steps(total);
  event.set_unix_ms(unix_ms);
  for (const auto& [name, value] : metrics) (*event.mutable_metrics())[name] = value;
  return event;
}

chord::v1::JobEvent OtherEvent(chord::v1::JobEventType type, int64_t step,
                               const std::string& message,
                               std::map<std::string, double> metrics = {}) {
  chord::v1::JobEvent event;
  event.set_job_id("j1");
  event.set_type(type);
  event.set_step(step);
  event.set_message(message);
  for (const auto& [name, value] : metrics) (*event.mutable_metrics())[name] = value;
  return event;
}

TEST(JobFormatTest, Durations) {
  EXPECT_EQ(FormatDuration(0), "0s");
  EXPECT_EQ(FormatDuration(45.4), "45s");
  EXPECT_EQ(FormatDuration(59.6), "1m00s");
  EXPECT_EQ(FormatDuration(130), "2m10s");
  EXPECT_EQ(FormatDuration(3600 + 5 * 60 + 7), "1h05m");
  EXPECT_EQ(FormatDuration(3 * 86400 + 4 * 3600), "3d04h");
  EXPECT_EQ(FormatDuration(-1), "?");
  EXPECT_EQ(FormatDuration(std::nan("")), "?");
}

TEST(JobFormatTest, Counts) {
  EXPECT_EQ(FormatCount(0), "0");
  EXPECT_EQ(FormatCount(950), "950");
  EXPECT_EQ(FormatCount(1900), "1.9k");
  EXPECT_EQ(FormatCount(12345), "12k");
  EXPECT_EQ(FormatCount(3.4e6), "3.4M");
  EXPECT_EQ(FormatCount(45e6), "45M");
}

TEST(JobFormatTest, StatesParseInAnyCaseAndListTheNames) {
  EXPECT_EQ(JobStateName(chord::v1::JOB_STATE_RUNNING), "RUNNING");
  EXPECT_EQ(*ParseJobState("succeeded"), chord::v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(*ParseJobState("CANCELLED"), chord::v1::JOB_STATE_CANCELLED);
  absl::StatusOr<chord::v1::JobState> bad = ParseJobState("done");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "unknown job state \"done\" (states: queued, running, succeeded, failed, cancelled)");
  EXPECT_TRUE(IsTerminal(chord::v1::JOB_STATE_FAILED));
  EXPECT_FALSE(IsTerminal(chord::v1::JOB_STATE_QUEUED));
}

TEST(JobFormatTest, ProgressLineShowsEveryFieldOrADash) {
  Progress progress;
  progress.step = 37;
  progress.total_steps = 120;
  progress.step_metrics = {
      {"reward_mean", 0.613}, {"mu", 0.1}, {"loss", 0.2134}, {"tokens_per_second", 1900}};
  progress.eval_metrics = {{"eval_accuracy", 0.72}};
  progress.eta_seconds = 130;
  EXPECT_EQ(
      ProgressLine(progress, 10),
      "step 37/120 [===>      ] reward 0.61 eval 0.72 mu 0.10 loss 0.213 1.9k tok/s ETA 2m10s");

  Progress empty;
  empty.total_steps = 5;
  EXPECT_EQ(ProgressLine(empty, 4), "step 0/5 [>   ] reward - eval - mu - loss - - tok/s ETA ?");

  Progress done;
  done.step = 5;
  done.total_steps = 5;
  done.eta_seconds = 0;
  EXPECT_TRUE(absl::StartsWith(ProgressLine(done, 4), "step 5/5 [====] ")) << ProgressLine(done, 4);
}

TEST(JobFormatTest, EtaUsesWallClockPerStepOverTheWindow) {
  EtaEstimator eta(3);
  EXPECT_LT(eta.SecondsLeft(10), 0);  // nothing seen
  eta.AddStep(StepEvent(1, 10, 10'000, {{"step_seconds", 4.0}}));
  EXPECT_DOUBLE_EQ(eta.SecondsLeft(10), 9 * 4.0);  // one step: its own duration
  eta.AddStep(StepEvent(2, 10, 12'000, {{"step_seconds", 1.5}}));
  EXPECT_DOUBLE_EQ(eta.SecondsLeft(10), 8 * 2.0);  // 2 s between the two events
  eta.AddStep(StepEvent(3, 10, 13'000, {}));
  eta.AddStep(StepEvent(4, 10, 14'000, {}));  // window of 3: steps 2..4, 2 s for 2 steps
  EXPECT_DOUBLE_EQ(eta.SecondsLeft(10), 6 * 1.0);
  EXPECT_DOUBLE_EQ(eta.SecondsLeft(4), 0);
}

TEST(JobFormatTest, EventText) {
  EXPECT_EQ(EventText(StepEvent(3, 120, 0,
                                {{"reward_mean", 0.625},
                                 {"mu", 0.1},
                                 {"loss", 0.213},
                                 {"pg_loss", 0.012},
                                 {"sft_loss", 0.41},
                                 {"train_accuracy", 0.62},
                                 {"tokens_per_second", 1900},
                                 {"step_seconds", 1.234}})),
            "step 3/120 reward 0.625 mu 0.100 loss 0.2130 pg 0.0120 sft 0.4100 train_acc 0.62 1.9k "
            "tok/s 1.23s");
  EXPECT_EQ(EventText(OtherEvent(chord::v1::JOB_EVENT_EVAL, 50, "",
                                 {{"eval_accuracy", 0.72},
                                  {"eval_reward_mean", 0.72},
                                  {"eval_response_length", 12.34},
                                  {"eval_samples", 200}})),
            "eval at step 50: accuracy 0.720 reward 0.720 length 12.3 (200 samples)");
  EXPECT_EQ(EventText(OtherEvent(chord::v1::JOB_EVENT_CHECKPOINT, 100, "/s/step-100")),
            "checkpoint at step 100: /s/step-100");
  EXPECT_EQ(EventText(OtherEvent(chord::v1::JOB_EVENT_LOG, 0, "hello")), "log: hello");
  chord::v1::JobEvent state = OtherEvent(chord::v1::JOB_EVENT_STATE, 0, "no workers");
  state.set_state(chord::v1::JOB_STATE_FAILED);
  EXPECT_EQ(EventText(state), "state FAILED: no workers");
  EXPECT_TRUE(absl::EndsWith(EventLogLine(state), " state FAILED: no workers"));
}

TEST(WatchPrinterTest, PlainLinesWithoutATerminal) {
  std::ostringstream out;
  WatchPrinter printer(&out, /*terminal=*/false);
  chord::v1::JobEvent running = OtherEvent(chord::v1::JOB_EVENT_STATE, 0, "");
  running.set_state(chord::v1::JOB_STATE_RUNNING);
  printer.OnEvent(running);
  printer.OnEvent(StepEvent(1, 4, 1000, {{"reward_mean", 0.5}, {"step_seconds", 2}}));
  printer.OnEvent(OtherEvent(chord::v1::JOB_EVENT_EVAL, 1, "", {{"eval_accuracy", 0.25}}));
  printer.Finish();
  EXPECT_EQ(out.str(),
            "state RUNNING\n"
            "step 1/4 reward 0.500 2.00s ETA 6s\n"
            "eval at step 1: accuracy 0.250\n");
  EXPECT_EQ(out.str().find('\r'), std::string::npos);
}

TEST(WatchPrinterTest, OneUpdatingLineOnATerminal) {
  std::ostringstream out;
  WatchPrinter printer(&out, /*terminal=*/true, /*bar_width=*/4);
  printer.OnEvent(StepEvent(1, 4, 1000, {{"reward_mean", 0.5}, {"step_seconds", 2}}));
  printer.OnEvent(StepEvent(2, 4, 3000, {{"reward_mean", 0.75}, {"step_seconds", 2}}));
  printer.OnEvent(OtherEvent(chord::v1::JOB_EVENT_EVAL, 2, "", {{"eval_accuracy", 0.5}}));
  printer.Finish();
  const std::string p1 = "step 1/4 [=>  ] reward 0.50 eval - mu - loss - - tok/s ETA 6s";
  const std::string p2 = "step 2/4 [==> ] reward 0.75 eval - mu - loss - - tok/s ETA 4s";
  const std::string p3 = "step 2/4 [==> ] reward 0.75 eval 0.50 mu - loss - - tok/s ETA 4s";
  EXPECT_EQ(out.str(), "\r" + p1 + "\x1b[K" + "\r" + p2 + "\x1b[K" + "\r\x1b[K" +
                           "eval at step 2: accuracy 0.500\n" + "\r" + p3 + "\x1b[K" + "\n");
  EXPECT_EQ(printer.progress().step, 2);
}

TEST(WatchPrinterTest, TheProgressLineNeverWraps) {
  std::ostringstream out;
  WatchPrinter printer(&out, /*terminal=*/true, /*bar_width=*/20, /*max_width=*/70);
  printer.OnEvent(StepEvent(1, 4, 1000, {{"reward_mean", 0.5}, {"step_seconds", 2}}));
  // The bar shrank from 20 to 12 cells: 69 characters.
  EXPECT_EQ(out.str(),
            "\rstep 1/4 [===>        ] reward 0.50 eval - mu - loss - - tok/s ETA 6s\x1b[K");
  std::ostringstream narrow;
  WatchPrinter cut(&narrow, /*terminal=*/true, /*bar_width=*/20, /*max_width=*/21);
  cut.OnEvent(StepEvent(1, 4, 1000, {}));
  EXPECT_EQ(narrow.str(), "\rstep 1/4 [=>   ] rew\x1b[K");
}

chord::v1::JobStatus Job(const std::string& id, const std::string& name, chord::v1::JobState state,
                         int64_t step, int64_t total, int64_t created_ms) {
  chord::v1::JobStatus job;
  job.set_job_id(id);
  job.set_name(name);
  job.set_state(state);
  job.set_step(step);
  job.set_total_steps(total);
  job.set_created_unix_ms(created_ms);
  return job;
}

TEST(JobFormatTest, TableHasAHeaderAndAlignedColumns) {
  const int64_t now = 1'000'000'000;
  chord::v1::JobStatus a =
      Job("j-1", "quickstart", chord::v1::JOB_STATE_RUNNING, 37, 120, now - 130'000);
  (*a.mutable_metrics())["reward_mean"] = 0.6125;
  (*a.mutable_eval_metrics())["eval_accuracy"] = 0.72;
  chord::v1::JobStatus b = Job("j-22", "", chord::v1::JOB_STATE_QUEUED, 0, 3, now - 5'000);
  EXPECT_EQ(JobTable({a, b}, now),
            "ID    NAME        STATE    STEP    REWARD  EVAL   AGE\n"
            "j-1   quickstart  RUNNING  37/120  0.613   0.720  2m10s\n"
            "j-22  -           QUEUED   0/3     -       -      5s\n");
  EXPECT_EQ(JobTable({}, now), "ID  NAME  STATE  STEP  REWARD  EVAL  AGE\n");
}

TEST(JobFormatTest, SummaryListsWhatIsKnown) {
  const int64_t now = 1'700'000'000'000;
  chord::v1::JobStatus job =
      Job("j-1", "quickstart", chord::v1::JOB_STATE_SUCCEEDED, 3, 3, now - 60'000);
  job.set_started_unix_ms(now - 50'000);
  job.set_finished_unix_ms(now - 20'000);
  (*job.mutable_metrics())["reward_mean"] = 0.5;
  (*job.mutable_eval_metrics())["eval_accuracy"] = 0.25;
  job.add_checkpoints("/s/step-3");
  job.set_output_model("/s/final");
  std::string summary = JobSummary(job, now);
  EXPECT_TRUE(absl::StartsWith(summary,
                               "job         j-1\nname        quickstart\n"
                               "state       SUCCEEDED\nstep        3/3\n"))
      << summary;
  EXPECT_TRUE(absl::StrContains(summary, "\nduration    30s\n")) << summary;
  EXPECT_TRUE(absl::StrContains(summary, "(1m00s ago)")) << summary;
  EXPECT_TRUE(absl::StrContains(summary, "\nlast step   reward 0.500\n")) << summary;
  EXPECT_TRUE(absl::StrContains(summary, "\nlast eval   accuracy 0.250\n")) << summary;
  EXPECT_TRUE(absl::StrContains(summary, "\ncheckpoint  /s/step-3\n")) << summary;
  EXPECT_TRUE(absl::EndsWith(summary, "\noutput      /s/final\n")) << summary;
  EXPECT_FALSE(absl::StrContains(summary, "reason")) << summary;
  EXPECT_FALSE(absl::StrContains(summary, "resumes")) << summary;
}

TEST(JobFormatTest, SummaryAndJsonShowTheResumeCount) {
  const int64_t now = 1'700'000'000'000;
  chord::v1::JobStatus job = Job("j-1", "q", chord::v1::JOB_STATE_QUEUED, 2, 4, now - 5'000);
  job.set_resume_count(2);
  EXPECT_EQ(JobSummary(job, now),
            "job      j-1\nname     q\nstate    QUEUED\nstep     2/4\nresumes  2\n"
            "created  " +
                FormatTimestamp(now - 5'000) + " (5s ago)\n");
  EXPECT_EQ(JobStatusToJson(job)["resume_count"], 2);
  job.set_resume_count(0);
  EXPECT_EQ(JobStatusToJson(job)["resume_count"], 0);
}

TEST(JobFormatTest, JsonUsesNamesAndNumbers) {
  chord::v1::JobStatus job = Job("j-1", "q", chord::v1::JOB_STATE_FAILED, 2, 3, 5);
  job.set_reason("boom");
  (*job.mutable_metrics())["mu"] = 0.1;
  nlohmann::json json = JobStatusToJson(job);
  EXPECT_EQ(json["state"], "FAILED");
  EXPECT_EQ(json["step"], 2);
  EXPECT_EQ(json["reason"], "boom");
  EXPECT_DOUBLE_EQ(json["metrics"]["mu"].get<double>(), 0.1);

  nlohmann::json event = JobEventToJson(StepEvent(2, 3, 77, {{"loss", 1.5}}));
  EXPECT_EQ(event["type"], "STEP");
  EXPECT_EQ(event["unix_ms"], 77);
  EXPECT_FALSE(event.contains("state"));
  EXPECT_DOUBLE_EQ(event["metrics"]["loss"].get<double>(), 1.5);
}

}  // namespace
}  // namespace chord::chordctl
