#pragma once

// A running job's log: each line goes to the service log (spdlog), to the job's events in the
// store (a LOG event that Watch streams and `chordctl logs` prints) and wakes the Watch streams.
// A line the store cannot take is only warned about: logging never fails a job. Thread-safe as
// the store is.

#include <functional>
#include <string>

#include "services/learner/job_store.h"

namespace chord::learner {

class JobLog {
 public:
  // `store` is not owned; `on_event` (may be null) is called after each stored line.
  JobLog(JobStore* store, std::string job_id, std::function<void()> on_event)
      : store_(store), job_id_(std::move(job_id)), on_event_(std::move(on_event)) {}

  void Line(const std::string& message) const;
  const std::string& job_id() const { return job_id_; }

 private:
  JobStore* store_;
  std::string job_id_;
  std::function<void()> on_event_;
};

}  // namespace chord::learner
