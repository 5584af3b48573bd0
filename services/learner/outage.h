#pragma once

// OutageWaiter: a job waits out an outage of a service it depends on (the expert buffer, the
// reward service, every rollout worker at once) instead of failing. When a call fails with
// UNAVAILABLE or DEADLINE_EXCEEDED (the service is down, restarting or not answering), the call
// is repeated with exponential backoff until it succeeds, fails with any other error, the job is
// cancelled, or the outage has lasted longer than the job's `services.outage_timeout_s`. The
// repeated calls are the same request (the same data cursor), so nothing is skipped or trained
// twice.
//
// While it waits: one log line in the job's events when the outage starts and one when it ends,
// chord_learner_dependency_waiting{call} is 1, and chord_learner_dependency_outages_total{call}
// counts outages (docs/metrics.md). `call` names what waits: "datasets" (loading them at the
// start), "rollouts" (tasks, generation, scores), "expert_samples", "evaluation".
//
// The waiter does not send rank heartbeats itself: call it from work that runs under
// Trainer::HeartbeatWhile (or from the asynchronous producer, whose consumer heartbeats).
// Thread-safe.

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace chord::learner {

class JobControl;      // job_control.h
class JobLog;          // job_log.h
class LearnerMetrics;  // metrics.h

struct OutageOptions {
  // Longest outage waited out; 0: the first failure is final (no waiting).
  absl::Duration limit = absl::Minutes(10);
  absl::Duration first_backoff = absl::Seconds(1);
  absl::Duration max_backoff = absl::Seconds(30);
  // Job log (one line per outage start and end); may be empty.
  std::function<void(const std::string&)> log;
  // True when the job is cancelled: the wait ends with the last error.
  std::function<bool()> cancelled;
  LearnerMetrics* metrics = nullptr;  // may be null
};

// The options of one job's waiter: the spec's services.outage_timeout_s, lines into `log`, the
// job's cancel. The pointers must outlive the waiter; `metrics` may be null.
OutageOptions JobOutageOptions(double outage_timeout_s, const JobLog* log,
                               const JobControl* control, LearnerMetrics* metrics);

// Whether `status` says the service was not reached or did not answer in time.
bool IsOutage(const absl::Status& status);

class OutageWaiter {
 public:
  explicit OutageWaiter(OutageOptions options) : options_(std::move(options)) {}

  // Runs `fn` until it returns OK or an error that is not an outage (returned as is), or until
  // the outage outlasts the limit or the job is cancelled: then the last error, annotated with how
  // long `call` waited. `stop` (may be empty) ends the wait early too, like a cancel.
  absl::Status Run(absl::string_view call, const std::function<absl::Status()>& fn,
                   const std::function<bool()>& stop = {}) const;

 private:
  const OutageOptions options_;
};

// waiter->Run(call, fn, stop), or fn() when `waiter` is null.
absl::Status WaitOutOutages(const OutageWaiter* waiter, absl::string_view call,
                            const std::function<absl::Status()>& fn,
                            const std::function<bool()>& stop = {});

}  // namespace chord::learner
