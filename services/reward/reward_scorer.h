#pragma once

// RewardScorer: the core of chord-reward (knows nothing of gRPC). It validates a batch, scores
// its items on a fixed-size worker pool with the registry's verifiers, applies the optional
// think-format penalty, and records metrics.
//
//   auto scorer = RewardScorer::Create(options, VerifierRegistry::CreateDefault(), &metrics);
//   std::vector<ScoreItem> items = {{"id-1", "math_boxed", prompt, response, "3/4", ""}};
//   absl::StatusOr<std::vector<ScoreResult>> results = (*scorer)->Score(items, true);
//
// Thread-safe: any number of threads may call Score at once; they share the pool.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "services/reward/metrics.h"
#include "services/reward/options.h"
#include "services/reward/verifier_registry.h"

namespace chord::reward {

// One item of a batch. The views borrow the caller's strings until Score returns.
struct ScoreItem {
  absl::string_view id;
  absl::string_view verifier;
  absl::string_view prompt;
  absl::string_view response;
  absl::string_view reference;
  absl::string_view meta_json;
};

struct ScoreResult {
  // The item's id.
  std::string id;
  // The verifier's score plus the think penalty (-0.1) when requested and the format is bad.
  double score = 0.0;
  // The verifier's verdict (the penalty does not change it).
  bool correct = false;
  // Why (valid UTF-8, at most kMaxReasonBytes).
  std::string reason;
  // The extracted answer (valid UTF-8, at most kMaxReasonBytes).
  std::string extracted;
};

inline constexpr size_t kMaxReasonBytes = 2048;

class WorkerPool;

class RewardScorer {
 public:
  // Starts `options.workers` threads. INVALID_ARGUMENT for options out of range or a null
  // registry. `metrics` may be null (no metrics); otherwise it must outlive the scorer.
  static absl::StatusOr<std::unique_ptr<RewardScorer>> Create(
      const RewardScorerOptions& options, std::unique_ptr<VerifierRegistry> registry,
      RewardMetrics* metrics);

  // Finishes queued work and joins the workers. No Score call may be running.
  ~RewardScorer();

  // Checks a batch without scoring it. INVALID_ARGUMENT naming the field:
  //   "items: empty batch", "items: 70000 items exceed the limit of 65536",
  //   "items[3].verifier: unknown verifier \"foo\" (known: arithmetic, ...)",
  //   "items[3].verifier: empty (known: ...)", "items[3].reference: ...",
  //   "items[3].meta_json: ..." (the verifier's ValidateTask), and
  //   "items[3].prompt: 2000000 bytes exceed the limit of 1048576" (max_field_bytes).
  absl::Status Validate(absl::Span<const ScoreItem> items) const;

  // Validates, then scores every item (results in item order). Once the batch is valid each
  // response, however malformed, gets a score and a reason; the call fails only when
  //   RESOURCE_EXHAUSTED  the work queue cannot take the batch (options.max_queued_items items
  //                       are waiting already, over all calls), or
  //   CANCELLED           `cancelled` (polled before each item; may be empty) returned true: the
  //                       remaining items are skipped, queued ones included.
  absl::StatusOr<std::vector<ScoreResult>> Score(absl::Span<const ScoreItem> items,
                                                 bool think_penalty,
                                                 const std::function<bool()>& cancelled = {}) const;

  const VerifierRegistry& registry() const { return *registry_; }
  const RewardScorerOptions& options() const { return options_; }

 private:
  struct BatchState;

  RewardScorer(const RewardScorerOptions& options, std::unique_ptr<VerifierRegistry> registry,
               RewardMetrics* metrics);

  // The verifier of each item (validating the batch on the way).
  absl::StatusOr<std::vector<const Verifier*>> Resolve(absl::Span<const ScoreItem> items) const;
  // Scores items [begin, end) of `batch`; runs on a worker.
  void ScoreRange(BatchState* batch, size_t begin, size_t end) const;
  ScoreResult ScoreOne(const ScoreItem& item, const Verifier& verifier, bool think_penalty) const;

  RewardScorerOptions options_;
  std::unique_ptr<VerifierRegistry> registry_;
  RewardMetrics* metrics_;
  // Metric series per verifier, filled at construction (read-only afterwards).
  std::vector<std::pair<const Verifier*, RewardMetrics::VerifierSeries>> series_;
  std::unique_ptr<WorkerPool> pool_;
};

}  // namespace chord::reward
