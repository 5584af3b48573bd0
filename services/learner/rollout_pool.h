#pragma once

// The driver's view of the rollout workers: one Generate over many prompts, spread across the
// workers and made robust to their failures.
//
// Prompts are split into one share per healthy worker (balanced by count, in order). Each share is
// one Generate call with the per-call deadline. A share whose call fails (worker down, overloaded,
// too slow, wrong version) is re-sent to another worker, preferring workers that have not failed in
// this round, up to `max_attempts` tries per share. A worker that fails is avoided for
// `quarantine` before being tried again. Cancel() aborts every call in flight (a cancelled job must
// leave the workers idle). Results come back in prompt order, K completions per prompt.
//
// Thread-safe: Cancel() may be called from any thread while Generate runs.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "chord/v1/rollout.pb.h"
#include "services/rollout_worker/client.h"

namespace chord::learner {

struct RolloutPoolOptions {
  // Deadline of one Generate call to one worker.
  absl::Duration call_timeout = absl::Minutes(5);
  // Tries per share (first send + re-sends).
  int max_attempts = 4;
  // How long a failed worker is skipped before it gets work again.
  absl::Duration quarantine = absl::Seconds(10);
};

struct RolloutStats {
  // Calls that failed and whose share was re-sent, and the workers that served shares.
  int64_t resends = 0;
  int64_t calls = 0;
  int64_t generated_tokens = 0;
  // Lowest weight version among the completions.
  int64_t min_weight_version = 0;
};

class RolloutPool {
 public:
  struct Worker {
    std::string address;
    std::shared_ptr<rollout_worker::RolloutClient> client;
  };

  RolloutPool(std::vector<Worker> workers, RolloutPoolOptions options);

  // K completions per prompt (`completions[i]` for prompts[i], ordered by sample index).
  // UNAVAILABLE when a share failed on every attempt (the message lists each worker's error);
  // CANCELLED after Cancel().
  absl::StatusOr<std::vector<std::vector<chord::v1::Completion>>> Generate(
      const std::vector<chord::v1::Prompt>& prompts, const chord::v1::SamplingParams& sampling,
      int samples_per_prompt, int64_t min_weight_version, RolloutStats* stats = nullptr);

  // Aborts the calls in flight and makes every Generate fail with CANCELLED until Reset().
  void Cancel();
  // Makes the pool usable again after Cancel().
  void Reset();

  size_t size() const { return workers_.size(); }

 private:
  int PickWorker(const std::vector<int>& avoid) ABSL_LOCKS_EXCLUDED(mu_);
  void MarkFailed(int worker) ABSL_LOCKS_EXCLUDED(mu_);

  std::vector<Worker> workers_;
  RolloutPoolOptions options_;
  absl::Mutex mu_;
  std::vector<absl::Time> quarantined_until_ ABSL_GUARDED_BY(mu_);
  int next_ ABSL_GUARDED_BY(mu_) = 0;
  // Shared by the calls of the current generation; replaced by Reset() (a cancelled canceller
  // stays cancelled).
  std::shared_ptr<rollout_worker::CallCanceller> canceller_ ABSL_GUARDED_BY(mu_);
};

}  // namespace chord::learner
