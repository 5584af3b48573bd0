#include "services/learner/job_log.h"

#include "spdlog/spdlog.h"

namespace chord::learner {

void JobLog::Line(const std::string& message) const {
  spdlog::info("job {}: {}", job_id_, message);
  absl::Status status = store_->AppendLog(job_id_, message);
  if (!status.ok()) spdlog::warn("job {}: cannot store log line: {}", job_id_, status.ToString());
  if (on_event_) on_event_();
}

}  // namespace chord::learner
