#include "services/learner/outage.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/learner/job_control.h"
#include "services/learner/job_log.h"
#include "services/learner/metrics.h"

namespace chord::learner {
namespace {

// "3.1s": outages last seconds to minutes; a tenth of a second is enough.
std::string Rounded(absl::Duration d) {
  return absl::FormatDuration(absl::Trunc(d, absl::Milliseconds(100)));
}

}  // namespace

OutageOptions JobOutageOptions(double outage_timeout_s, const JobLog* log,
                               const JobControl* control, LearnerMetrics* metrics) {
  OutageOptions options;
  options.limit = absl::Seconds(outage_timeout_s);
  options.log = [log](const std::string& line) { log->Line(line); };
  options.cancelled = [control] { return control->cancelled(); };
  options.metrics = metrics;
  return options;
}

bool IsOutage(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status);
}

absl::Status WaitOutOutages(const OutageWaiter* waiter, absl::string_view call,
                            const std::function<absl::Status()>& fn,
                            const std::function<bool()>& stop) {
  return waiter == nullptr ? fn() : waiter->Run(call, fn, stop);
}

absl::Status OutageWaiter::Run(absl::string_view call, const std::function<absl::Status()>& fn,
                               const std::function<bool()>& stop) const {
  absl::Status status = fn();
  if (status.ok() || !IsOutage(status) || options_.limit <= absl::ZeroDuration()) return status;
  const std::string name(call);
  const absl::Time start = absl::Now();
  auto log = [this](const std::string& line) {
    if (options_.log) options_.log(line);
  };
  auto cancelled = [this, &stop] {
    return (options_.cancelled && options_.cancelled()) || (stop && stop());
  };
  log(absl::StrCat("waiting for ", name, " (up to ", absl::FormatDuration(options_.limit),
                   ", services.outage_timeout_s): ", status.ToString()));
  if (options_.metrics) options_.metrics->RecordOutageStart(name);
  absl::Duration backoff = options_.first_backoff;
  int attempts = 1;
  while (true) {
    const absl::Duration waited = absl::Now() - start;
    if (waited >= options_.limit || cancelled()) break;
    // Sleep in short slices so that a cancel is seen within a second.
    const absl::Time wake = absl::Now() + std::min(backoff, options_.limit - waited);
    while (absl::Now() < wake && !cancelled()) {
      absl::SleepFor(std::min(absl::Seconds(1), wake - absl::Now()));
    }
    if (cancelled()) break;
    backoff = std::min(backoff * 2, options_.max_backoff);
    ++attempts;
    status = fn();
    if (status.ok() || !IsOutage(status)) {
      if (options_.metrics) options_.metrics->RecordOutageEnd(name);
      log(absl::StrCat(name, " is back after ", Rounded(absl::Now() - start), " (", attempts,
                       " attempts)"));
      return status;
    }
  }
  if (options_.metrics) options_.metrics->RecordOutageEnd(name);
  const std::string why = cancelled() ? "cancelled while waiting" : "gave up";
  return absl::Status(status.code(), absl::StrCat(status.message(), " (", why, " after waiting ",
                                                  Rounded(absl::Now() - start), " for ", name,
                                                  ", services.outage_timeout_s = ",
                                                  absl::ToDoubleSeconds(options_.limit), ")"));
}

}  // namespace chord::learner
