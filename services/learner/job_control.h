#pragma once

// Cancellation of a running job, shared between the job service (which requests it) and the
// driver (which polls it between phases and installs a hook that aborts work in flight).
// Thread-safe.

#include <atomic>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace chord::learner {

class JobControl {
 public:
  // Sets the flag and runs the abort hook (if any). Idempotent; any thread. With
  // `checkpoint_first` (learner shutdown) the driver saves a checkpoint of the steps done before
  // it stops, so that the job resumes without losing them.
  void RequestCancel(const std::string& reason, bool checkpoint_first = false);
  bool cancelled() const { return cancelled_.load(); }
  bool checkpoint_first() const { return checkpoint_first_.load(); }
  std::string reason() const;
  // The driver installs the hook that aborts in-flight generation (run at once when the job is
  // already cancelled); nullptr removes it.
  void SetAbortHook(std::function<void()> hook);

 private:
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> checkpoint_first_{false};
  mutable absl::Mutex mu_;
  std::string reason_ ABSL_GUARDED_BY(mu_);
  std::function<void()> abort_ ABSL_GUARDED_BY(mu_);
};

}  // namespace chord::learner
