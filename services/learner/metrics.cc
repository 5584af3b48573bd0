#include "services/learner/metrics.h"

#include "common/metrics/metrics.h"

namespace chord::learner {
namespace {

// Step metrics exported as chord_learner_step_metric{name=...}: the CHORD quantities a dashboard
// plots. Timings and counts have their own families.
bool IsTiming(const std::string& name) {
  return name.size() > 8 && name.compare(name.size() - 8, 8, "_seconds") == 0;
}

}  // namespace

LearnerMetrics::LearnerMetrics(prometheus::Registry& registry)
    : step_metric_(prometheus::BuildGauge()
                       .Name("chord_learner_step_metric")
                       .Help("Latest value of a training-step metric (reward_mean, pg_loss, "
                             "sft_loss, mu, phi_mean, clip_frac_upper, grad_norm, lr, ...) by job")
                       .Register(registry)),
      eval_metric_(prometheus::BuildGauge()
                       .Name("chord_learner_eval_metric")
                       .Help("Latest held-out evaluation metric (eval_accuracy, "
                             "eval_reward_mean, eval_response_length, eval_samples) by job")
                       .Register(registry)),
      steps_(prometheus::BuildCounter()
                 .Name("chord_learner_steps_total")
                 .Help("Training steps completed")
                 .Register(registry)
                 .Add({})),
      step_seconds_(prometheus::BuildHistogram()
                        .Name("chord_learner_step_seconds")
                        .Help("Wall time of a training step, generation to publication")
                        .Register(registry)
                        .Add({}, metrics::LatencyBuckets())),
      phase_seconds_(prometheus::BuildHistogram()
                         .Name("chord_learner_phase_seconds")
                         .Help("Wall time of each phase of a step (generate, score, train, "
                               "publish, eval, checkpoint)")
                         .Register(registry)),
      jobs_(prometheus::BuildGauge()
                .Name("chord_learner_jobs")
                .Help("Jobs known to this learner by state")
                .Register(registry)),
      resends_(prometheus::BuildCounter()
                   .Name("chord_learner_rollout_resends_total")
                   .Help("Generation shares re-sent to another rollout worker after a failure")
                   .Register(registry)
                   .Add({})),
      dependency_waiting_(
          prometheus::BuildGauge()
              .Name("chord_learner_dependency_waiting")
              .Help("1 while a job's call waits out an outage of a service it needs")
              .Register(registry)),
      dependency_outages_(
          prometheus::BuildCounter()
              .Name("chord_learner_dependency_outages_total")
              .Help("Outages of a service that a job's call waited out or gave up on")
              .Register(registry)),
      weight_version_(prometheus::BuildGauge()
                          .Name("chord_learner_weight_version")
                          .Help("Latest weight version published to rollout workers")
                          .Register(registry)
                          .Add({})),
      trained_tokens_(prometheus::BuildCounter()
                          .Name("chord_learner_trained_tokens_total")
                          .Help("Loss tokens trained on (on-policy + expert)")
                          .Register(registry)
                          .Add({})),
      generated_tokens_(prometheus::BuildCounter()
                            .Name("chord_learner_generated_tokens_total")
                            .Help("Tokens the rollout workers generated for training steps")
                            .Register(registry)
                            .Add({})),
      checkpoints_ok_(prometheus::BuildCounter()
                          .Name("chord_learner_checkpoints_total")
                          .Help("Checkpoint attempts by result (ok, error)")
                          .Register(registry)
                          .Add({{"result", "ok"}})),
      checkpoints_error_(prometheus::BuildCounter()
                             .Name("chord_learner_checkpoints_total")
                             .Help("Checkpoint attempts by result (ok, error)")
                             .Register(registry)
                             .Add({{"result", "error"}})) {}

void LearnerMetrics::RecordOutageStart(const std::string& call) {
  dependency_waiting_.Add({{"call", call}}).Set(1);
  dependency_outages_.Add({{"call", call}}).Increment();
}

void LearnerMetrics::RecordOutageEnd(const std::string& call) {
  dependency_waiting_.Add({{"call", call}}).Set(0);
}

void LearnerMetrics::RecordStep(const std::string& job_id,
                                const std::map<std::string, double>& metrics) {
  steps_.Increment();
  for (const auto& [name, value] : metrics) {
    if (IsTiming(name)) {
      std::string phase = name.substr(0, name.size() - 8);
      if (phase == "step") {
        step_seconds_.Observe(value);
      } else {
        phase_seconds_.Add({{"phase", phase}}, metrics::LatencyBuckets()).Observe(value);
      }
      continue;
    }
    step_metric_.Add({{"job_id", job_id}, {"name", name}}).Set(value);
  }
  auto value_of = [&](const char* key) {
    auto it = metrics.find(key);
    return it == metrics.end() ? 0.0 : it->second;
  };
  double trained = value_of("on_policy_tokens") + value_of("expert_tokens");
  if (trained > 0) trained_tokens_.Increment(trained);
  if (value_of("generated_tokens") > 0) generated_tokens_.Increment(value_of("generated_tokens"));
}

void LearnerMetrics::RecordEval(const std::string& job_id,
                                const std::map<std::string, double>& metrics) {
  for (const auto& [name, value] : metrics) {
    if (IsTiming(name)) {
      phase_seconds_.Add({{"phase", "eval"}}, metrics::LatencyBuckets()).Observe(value);
      continue;
    }
    eval_metric_.Add({{"job_id", job_id}, {"name", name}}).Set(value);
  }
}

void LearnerMetrics::RecordPhase(const std::string& phase, double seconds) {
  phase_seconds_.Add({{"phase", phase}}, metrics::LatencyBuckets()).Observe(seconds);
}

void LearnerMetrics::RecordCheckpoint(bool ok) {
  (ok ? checkpoints_ok_ : checkpoints_error_).Increment();
}

void LearnerMetrics::SetJobCount(const std::string& state, int64_t count) {
  jobs_.Add({{"state", state}}).Set(static_cast<double>(count));
}

void LearnerMetrics::RecordResends(int64_t n) {
  if (n > 0) resends_.Increment(static_cast<double>(n));
}

void LearnerMetrics::SetWeightVersion(int64_t version) {
  weight_version_.Set(static_cast<double>(version));
}

}  // namespace chord::learner
