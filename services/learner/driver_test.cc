// The step loop (driver.h) over in-process fakes of every service and of the trainer: one step
// end to end, evaluations, worker failures, an async job within its staleness bound, an SFT stage
// and a resume from a checkpoint. No process, no model: each test runs in milliseconds.

#include "services/learner/driver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/match.h"
#include "services/learner/driver_testbed.h"
#include "services/learner/seed_streams.h"

namespace chord::learner {
namespace {

using testbed::DriverTestbed;
using ::testing::Contains;
using ::testing::HasSubstr;

// One task of 4 rollouts and 4 expert rows per step.
constexpr char kChordPhi[] = "{variant: chord-phi, repeat_times: 4, expert_data_ratio: 0.5}";

TEST(DriverTest, OneStepTrainsOnScoredRolloutsAndExpertRowsThenPublishes) {
  DriverTestbed bed;
  auto spec = bed.Spec(1, kChordPhi);
  ASSERT_TRUE(spec.ok()) << spec.status();
  JobControl control;
  std::string job_id;
  auto outcome = bed.Run(*spec, &control, &job_id);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  ASSERT_EQ(outcome->state, chord::v1::JOB_STATE_SUCCEEDED) << outcome->reason;

  // The trainer got the whole step: 4 scored rollouts of one task and 4 expert rows.
  ASSERT_EQ(bed.trainer().steps().size(), 1u);
  const FakeTrainer::Step& step = bed.trainer().steps()[0];
  EXPECT_EQ(step.step, 1);
  EXPECT_EQ(step.total_steps, 1);
  ASSERT_EQ(step.rows.size(), 8u);
  int expert = 0, correct = 0;
  for (const algorithm::TrainingRow& row : step.rows) {
    if (row.is_expert) {
      ++expert;
      EXPECT_EQ(row.advantage, 0.0f);
    } else {
      correct += row.reward > 0 ? 1 : 0;
      EXPECT_EQ(row.old_logprobs.size(), row.response_ids.size());
    }
  }
  EXPECT_EQ(expert, 4);
  // Sample 0 of each prompt answers correctly: the one correct rollout has a positive advantage.
  EXPECT_EQ(correct, 1);
  EXPECT_GT(step.rows[0].advantage, 0.0f);
  EXPECT_LT(step.rows[1].advantage, 0.0f);

  // Weights: version 1 at the start, version 2 after the step; generation asked for version 1.
  EXPECT_EQ(bed.trainer().published(), (std::vector<int64_t>{1, 2}));
  auto requests = bed.worker(0).requests();
  ASSERT_FALSE(requests.empty());
  const chord::v1::GenerateRequest* rollout = nullptr;
  for (const auto& r : requests) {
    if (r.samples_per_prompt() == 4) rollout = &r;
  }
  ASSERT_NE(rollout, nullptr);
  EXPECT_EQ(rollout->min_weight_version(), 1);
  EXPECT_EQ(rollout->sampling().seed(), ShareSamplingSeed(RolloutSamplingSeed(spec->seed, 1), 0));

  // Seed streams of the expert buffer's sampling.
  auto tasks = bed.expert_buffer().calls("SampleTasks");
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].sample.seed(), TaskSamplingSeed(spec->seed));
  EXPECT_EQ(tasks[0].sample.n(), 1);
  auto expert_calls = bed.expert_buffer().calls("SampleExpert");
  ASSERT_EQ(expert_calls.size(), 1u);
  EXPECT_EQ(expert_calls[0].sample.seed(), ExpertSamplingSeed(spec->seed));
  EXPECT_EQ(expert_calls[0].sample.n(), 4);

  // The STEP event carries the step's metrics.
  auto steps = bed.Events(job_id, chord::v1::JOB_EVENT_STEP);
  ASSERT_EQ(steps.size(), 1u);
  const auto& metrics = steps[0].metrics();
  EXPECT_DOUBLE_EQ(metrics.at("train_accuracy"), 0.25);
  EXPECT_DOUBLE_EQ(metrics.at("policy_lag"), 0);
  EXPECT_DOUBLE_EQ(metrics.at("rollout_resends"), 0);
  EXPECT_DOUBLE_EQ(metrics.at("weight_version"), 2);
  EXPECT_DOUBLE_EQ(metrics.at("expert_rows"), 4);
  EXPECT_DOUBLE_EQ(metrics.at("reward_mean"), 0.25);

  // Evaluated before the first step and after the last; the final model and a checkpoint exist.
  auto evals = bed.Events(job_id, chord::v1::JOB_EVENT_EVAL);
  ASSERT_EQ(evals.size(), 2u);
  EXPECT_EQ(evals[0].step(), 0);
  EXPECT_EQ(evals[1].step(), 1);
  auto job = bed.store().Get(job_id);
  ASSERT_TRUE(job.ok());
  EXPECT_TRUE(std::filesystem::exists(job->output_model() + "/config.json"));
  EXPECT_EQ(job->checkpoints_size(), 1);
}

TEST(DriverTest, EvaluatesEveryIntervalAndAtTheEndOnce) {
  DriverTestbed bed;
  auto spec = bed.Spec(4, kChordPhi, "eval: {interval: 2, max_samples: 4}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  // Only eval:1 and eval:3 are judged correct.
  bed.reward().SetScorer([](const chord::v1::ScoreItem& item) {
    chord::v1::ScoreResult result;
    bool eval_hit = item.id() == "eval:1" || item.id() == "eval:3";
    bool rollout_hit = !absl::StartsWith(item.id(), "eval:") && item.response() == item.reference();
    result.set_correct(eval_hit || rollout_hit);
    result.set_score(result.correct() ? 1.0f : 0.0f);
    return result;
  });
  JobControl control;
  std::string job_id;
  auto outcome = bed.Run(*spec, &control, &job_id);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  ASSERT_EQ(outcome->state, chord::v1::JOB_STATE_SUCCEEDED) << outcome->reason;
  auto evals = bed.Events(job_id, chord::v1::JOB_EVENT_EVAL);
  ASSERT_EQ(evals.size(), 3u);  // steps 0, 2, 4 (the last is not repeated)
  EXPECT_EQ(evals[1].step(), 2);
  EXPECT_EQ(evals[2].step(), 4);
  EXPECT_DOUBLE_EQ(evals[2].metrics().at("eval_samples"), 4);  // eval.max_samples
  EXPECT_DOUBLE_EQ(evals[2].metrics().at("eval_accuracy"), 0.5);
}

TEST(DriverTest, AFailedWorkerShareIsResentAndCounted) {
  DriverTestbed bed;
  auto spec = bed.Spec(1, kChordPhi);
  ASSERT_TRUE(spec.ok());
  // The step's one share goes to worker 0, which fails it once: it is re-sent to worker 1.
  bed.FailRollouts(0, 1);
  JobControl control;
  std::string job_id;
  auto outcome = bed.Run(*spec, &control, &job_id);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  ASSERT_EQ(outcome->state, chord::v1::JOB_STATE_SUCCEEDED) << outcome->reason;
  auto steps = bed.Events(job_id, chord::v1::JOB_EVENT_STEP);
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_DOUBLE_EQ(steps[0].metrics().at("rollout_resends"), 1);
  EXPECT_DOUBLE_EQ(steps[0].metrics().at("train_accuracy"), 0.25);
  int rollouts_on_1 = 0;
  for (const auto& request : bed.worker(1).requests()) {
    rollouts_on_1 += request.samples_per_prompt() == 4 ? 1 : 0;
  }
  EXPECT_EQ(rollouts_on_1, 1);
}

TEST(DriverTest, WorkersFailingEveryAttemptFailTheJobNamingTheError) {
  DriverTestbed bed;
  auto spec = bed.Spec(2, kChordPhi);
  ASSERT_TRUE(spec.ok());
  spec->services.outage_timeout_s = 0;  // no waiting: the first outage fails the job
  for (int i = 0; i < 2; ++i) {
    bed.worker(i).failures().FailNext("Generate", absl::UnavailableError("worker down"), 100);
  }
  JobControl control;
  std::string job_id;
  auto outcome = bed.Run(*spec, &control, &job_id);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->state, chord::v1::JOB_STATE_FAILED);
  EXPECT_THAT(outcome->reason, HasSubstr("generation failed on every attempt"));
  EXPECT_THAT(outcome->reason, HasSubstr("fake-worker-1: UNAVAILABLE: worker down"));
  EXPECT_TRUE(bed.trainer().steps().empty());
  auto logs = bed.Events(job_id, chord::v1::JOB_EVENT_LOG);
  ASSERT_FALSE(logs.empty());
  EXPECT_THAT(logs.back().message(), HasSubstr("failed at step 0: UNAVAILABLE"));
}

// The reward service is away for the first evaluation, the expert buffer for a sampling of tasks
// and one of expert rows: the job waits them out (logging it) and trains every step once, on the
// same data as without the outages.
TEST(DriverTest, AnOutageOfADependencyIsWaitedOut) {
  DriverTestbed plain;
  auto plain_spec = plain.Spec(2, kChordPhi);
  ASSERT_TRUE(plain_spec.ok());
  JobControl plain_control;
  auto plain_outcome = plain.Run(*plain_spec, &plain_control);
  ASSERT_TRUE(plain_outcome.ok());
  ASSERT_EQ(plain_outcome->state, chord::v1::JOB_STATE_SUCCEEDED) << plain_outcome->reason;

  DriverTestbed bed;
  auto spec = bed.Spec(2, kChordPhi);
  ASSERT_TRUE(spec.ok());
  bed.reward().failures().FailNext("Score", absl::UnavailableError("reward restarting"), 2);
  bed.expert_buffer().failures().FailNext("SampleTasks", absl::UnavailableError("restarting"), 1);
  bed.expert_buffer().failures().FailNext("SampleExpert", absl::DeadlineExceededError("no answer"),
                                          1);
  JobControl control;
  std::string job_id;
  auto outcome = bed.Run(*spec, &control, &job_id);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  ASSERT_EQ(outcome->state, chord::v1::JOB_STATE_SUCCEEDED) << outcome->reason;
  std::vector<std::string> lines;
  for (const auto& event : bed.Events(job_id, chord::v1::JOB_EVENT_LOG)) {
    lines.push_back(event.message());
  }
  EXPECT_THAT(lines, Contains(HasSubstr("waiting for evaluation (up to 10m, "
                                        "services.outage_timeout_s): UNAVAILABLE: reward "
                                        "restarting")));
  EXPECT_THAT(lines, Contains(HasSubstr("evaluation is back after")));
  EXPECT_THAT(lines, Contains(HasSubstr("waiting for rollouts (up to 10m, "
                                        "services.outage_timeout_s): UNAVAILABLE: restarting")));
  EXPECT_THAT(lines, Contains(HasSubstr("rollouts is back after")));
  EXPECT_THAT(lines, Contains(HasSubstr("waiting for expert_samples")));
  EXPECT_THAT(lines, Contains(HasSubstr("expert_samples is back after")));
  // The same steps on the same rows as the run without outages.
  ASSERT_EQ(bed.trainer().steps().size(), plain.trainer().steps().size());
  for (size_t i = 0; i < bed.trainer().steps().size(); ++i) {
    const auto& a = bed.trainer().steps()[i];
    const auto& b = plain.trainer().steps()[i];
    ASSERT_EQ(a.rows.size(), b.rows.size()) << "step " << i;
    for (size_t r = 0; r < a.rows.size(); ++r) {
      EXPECT_EQ(a.rows[r].prompt_ids, b.rows[r].prompt_ids) << "step " << i << " row " << r;
      EXPECT_EQ(a.rows[r].response_ids, b.rows[r].response_ids) << "step " << i << " row " << r;
      EXPECT_EQ(a.rows[r].is_expert, b.rows[r].is_expert) << "step " << i << " row " << r;
    }
  }
}

// An outage longer than services.outage_timeout_s fails the job, saying how long it waited.
TEST(DriverTest, AnOutageLongerThanTheLimitFailsTheJob) {
  DriverTestbed bed;
  auto spec = bed.Spec(1, kChordPhi);
  ASSERT_TRUE(spec.ok());
  spec->services.outage_timeout_s = 1.5;
  bed.expert_buffer().failures().FailNext("SampleTasks", absl::UnavailableError("down"), 1000);
  JobControl control;
  auto outcome = bed.Run(*spec, &control);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->state, chord::v1::JOB_STATE_FAILED);
  EXPECT_THAT(outcome->reason, HasSubstr("down (gave up after waiting 1.5s"));
  EXPECT_THAT(outcome->reason, HasSubstr("for rollouts, services.outage_timeout_s = 1.5)"));
}

TEST(DriverTest, AsyncJobTrainsWithinItsStalenessBound) {
  DriverTestbed bed;
  auto spec = bed.Spec(5, kChordPhi, "mode: async\nmax_staleness: 1\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_EQ(spec->mode, JobMode::kAsync);
  JobControl control;
  std::string job_id;
  auto outcome = bed.Run(*spec, &control, &job_id);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  ASSERT_EQ(outcome->state, chord::v1::JOB_STATE_SUCCEEDED) << outcome->reason;
  auto steps = bed.Events(job_id, chord::v1::JOB_EVENT_STEP);
  ASSERT_EQ(steps.size(), 5u);
  for (const auto& event : steps) {
    const double lag = event.metrics().at("policy_lag");
    EXPECT_GE(lag, 0) << "step " << event.step();
    EXPECT_LE(lag, 1) << "step " << event.step();
  }
  // Behaviour log-probs are used (async sets strict_on_policy off) and every on-policy row has
  // them.
  for (const FakeTrainer::Step& step : bed.trainer().steps()) {
    EXPECT_FALSE(step.config.batch.strict_on_policy);
  }
  // Rollout requests asked for versions at most one behind: step s >= 3 needs version s - 1
  // (version 1 before step 1).
  std::vector<int64_t> min_versions;
  for (int w = 0; w < 2; ++w) {
    for (const auto& request : bed.worker(w).requests()) {
      if (request.samples_per_prompt() == 4) min_versions.push_back(request.min_weight_version());
    }
  }
  std::sort(min_versions.begin(), min_versions.end());
  EXPECT_EQ(min_versions, (std::vector<int64_t>{1, 1, 2, 3, 4}));
}

TEST(DriverTest, AnSftWarmupStageHasNoRolloutsAndResetsTheOptimizerAtTheBoundary) {
  DriverTestbed bed;
  auto spec = bed.Spec(3,
                       "{variant: chord-phi, repeat_times: 4, expert_data_ratio: 0.5, "
                       "sft_warmup_steps: 1}");
  ASSERT_TRUE(spec.ok()) << spec.status();
  JobControl control;
  std::string job_id;
  auto outcome = bed.Run(*spec, &control, &job_id);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  ASSERT_EQ(outcome->state, chord::v1::JOB_STATE_SUCCEEDED) << outcome->reason;
  ASSERT_EQ(bed.trainer().steps().size(), 3u);
  for (const algorithm::TrainingRow& row : bed.trainer().steps()[0].rows) {
    EXPECT_TRUE(row.is_expert);
  }
  EXPECT_EQ(bed.trainer().steps()[1].step, 1);  // step 1 of the second stage
  EXPECT_EQ(bed.trainer().optimizer_resets(), 2);
  auto steps = bed.Events(job_id, chord::v1::JOB_EVENT_STEP);
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps[0].metrics().count("reward_mean"), 0u);
  EXPECT_EQ(steps[1].metrics().count("reward_mean"), 1u);
  // The stage boundary is evaluated: steps 0, 1 and 3.
  auto evals = bed.Events(job_id, chord::v1::JOB_EVENT_EVAL);
  ASSERT_EQ(evals.size(), 3u);
  EXPECT_EQ(evals[1].step(), 1);
}

TEST(DriverTest, ACancelledJobResumesFromItsCheckpointWithTheSameCursors) {
  DriverTestbed bed;
  auto spec = bed.Spec(4, kChordPhi, "save_interval: 2\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  JobControl first;
  // Cancelled (as a learner shutdown) once step 2's weights are out: version 3.
  bed.trainer().set_publish_hook([&bed, &first](int64_t version) {
    for (auto& worker : bed.workers()) worker->SetWeightVersion(version);
    if (version == 3) first.RequestCancel("learner stopping", /*checkpoint_first=*/true);
  });
  std::string job_id;
  auto stopped = bed.Run(*spec, &first, &job_id);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  ASSERT_EQ(stopped->state, chord::v1::JOB_STATE_CANCELLED) << stopped->reason;
  EXPECT_EQ(stopped->reason, "learner stopping");
  EXPECT_EQ(bed.trainer().steps().size(), 2u);

  bed.trainer().set_publish_hook([&bed](int64_t version) {
    for (auto& worker : bed.workers()) worker->SetWeightVersion(version);
  });
  JobControl second;
  auto resumed = bed.Run(*spec, &second, &job_id);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  ASSERT_EQ(resumed->state, chord::v1::JOB_STATE_SUCCEEDED) << resumed->reason;
  ASSERT_EQ(bed.trainer().steps().size(), 4u);
  // Steps 3 and 4 drew the tasks and demonstrations after those of steps 1 and 2.
  std::vector<std::string> task_cursors, expert_cursors;
  for (const auto& call : bed.expert_buffer().calls("SampleTasks")) {
    task_cursors.push_back(call.sample.cursor());
  }
  for (const auto& call : bed.expert_buffer().calls("SampleExpert")) {
    expert_cursors.push_back(call.sample.cursor());
  }
  EXPECT_EQ(task_cursors, (std::vector<std::string>{"", "1", "2", "3"}));
  EXPECT_EQ(expert_cursors, (std::vector<std::string>{"", "4", "8", "12"}));
  auto logs = bed.Events(job_id, chord::v1::JOB_EVENT_LOG);
  bool resumed_line = false;
  for (const auto& event : logs) {
    resumed_line |= absl::StrContains(event.message(), "resumed from") &&
                    absl::StrContains(event.message(), "at step 2 of 4");
  }
  EXPECT_TRUE(resumed_line);
  // Weight versions keep increasing across the restart.
  EXPECT_EQ(bed.trainer().published(), (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
}

TEST(DriverTest, APreparationFailureFailsTheJobAtStepZero) {
  DriverTestbed bed;
  auto job = bed.store().Create("test", "name: test\n", "", 1);
  ASSERT_TRUE(job.ok());
  JobLog log(&bed.store(), job->job_id(), nullptr);
  JobControl control;
  JobOutcome failed = PreparationFailed(absl::FailedPreconditionError("no reward"), control, log);
  EXPECT_EQ(failed.state, chord::v1::JOB_STATE_FAILED);
  EXPECT_EQ(failed.reason, "no reward");
  control.RequestCancel("user");
  JobOutcome cancelled = PreparationFailed(absl::CancelledError("x"), control, log);
  EXPECT_EQ(cancelled.state, chord::v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(cancelled.reason, "user");
  auto logs = bed.Events(job->job_id(), chord::v1::JOB_EVENT_LOG);
  ASSERT_EQ(logs.size(), 2u);
  EXPECT_EQ(logs[0].message(), "failed at step 0: FAILED_PRECONDITION: no reward");
  EXPECT_EQ(logs[1].message(), "cancelled at step 0: user");
}

}  // namespace
}  // namespace chord::learner
