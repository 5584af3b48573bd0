#include "services/learner/job_control.h"

#include <utility>

namespace chord::learner {

void JobControl::RequestCancel(const std::string& reason, bool checkpoint_first) {
  std::function<void()> abort;
  {
    absl::MutexLock lock(&mu_);
    if (checkpoint_first) checkpoint_first_ = true;
    if (!cancelled_.exchange(true)) reason_ = reason;
    abort = abort_;
  }
  if (abort) abort();
}

std::string JobControl::reason() const {
  absl::MutexLock lock(&mu_);
  return reason_;
}

void JobControl::SetAbortHook(std::function<void()> hook) {
  absl::MutexLock lock(&mu_);
  abort_ = std::move(hook);
  if (abort_ && cancelled_.load()) abort_();
}

}  // namespace chord::learner
