#pragma once

// Prometheus families of chord-learner (docs/metrics.md lists them all).

#include <map>
#include <string>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace chord::learner {

class LearnerMetrics {
 public:
  explicit LearnerMetrics(prometheus::Registry& registry);

  // A completed training step: its metrics map (docs/metrics.md) and phase timings.
  void RecordStep(const std::string& job_id, const std::map<std::string, double>& metrics);
  void RecordEval(const std::string& job_id, const std::map<std::string, double>& metrics);
  // One observation of chord_learner_phase_seconds{phase} outside a step's own timings
  // (checkpoint).
  void RecordPhase(const std::string& phase, double seconds);
  // A checkpoint attempt: chord_learner_checkpoints_total{result="ok" or "error"}.
  void RecordCheckpoint(bool ok);
  // Number of jobs in `state` (JOB_STATE_* name without the prefix, lower case).
  void SetJobCount(const std::string& state, int64_t count);
  void RecordResends(int64_t n);
  // An outage of a dependency that a job's `call` waits out (outage.h):
  // chord_learner_dependency_waiting{call} is 1 from start to end and
  // chord_learner_dependency_outages_total{call} counts the starts.
  void RecordOutageStart(const std::string& call);
  void RecordOutageEnd(const std::string& call);
  void SetWeightVersion(int64_t version);

 private:
  prometheus::Family<prometheus::Gauge>& step_metric_;
  prometheus::Family<prometheus::Gauge>& eval_metric_;
  prometheus::Counter& steps_;
  prometheus::Histogram& step_seconds_;
  prometheus::Family<prometheus::Histogram>& phase_seconds_;
  prometheus::Family<prometheus::Gauge>& jobs_;
  prometheus::Counter& resends_;
  prometheus::Family<prometheus::Gauge>& dependency_waiting_;
  prometheus::Family<prometheus::Counter>& dependency_outages_;
  prometheus::Gauge& weight_version_;
  prometheus::Counter& trained_tokens_;
  prometheus::Counter& generated_tokens_;
  prometheus::Counter& checkpoints_ok_;
  prometheus::Counter& checkpoints_error_;
};

}  // namespace chord::learner
