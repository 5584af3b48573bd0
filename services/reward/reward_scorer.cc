#include "services/reward/reward_scorer.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <exception>
#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status/status_macros.h"
#include "services/reward/reason_text.h"
#include "services/reward/think_format.h"

namespace chord::reward {

// A fixed set of threads running closures in FIFO order; reports the number of queued items
// (not closures) through `on_depth`.
class WorkerPool {
 public:
  WorkerPool(int threads, std::function<void(double)> on_depth) : on_depth_(std::move(on_depth)) {
    threads_.reserve(threads);
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
  }

  // Runs the queued work, then joins.
  ~WorkerPool() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    for (std::thread& thread : threads_) thread.join();
  }

  // Queues every task of `tasks` (each stands for its `items` items of work), or none of them
  // when they would take the queue past `max_items` items (RESOURCE_EXHAUSTED).
  absl::Status SubmitAll(std::vector<std::pair<std::function<void()>, size_t>> tasks,
                         size_t max_items) {
    size_t items = 0;
    for (const auto& task : tasks) items += task.second;
    absl::MutexLock lock(&mu_);
    if (queued_items_ + items > max_items) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "reward queue full: ", queued_items_, " items are waiting and this batch of ", items,
          " would pass the limit of ", max_items, " (max_queued_items); retry later"));
    }
    for (auto& [run, n] : tasks) queue_.push_back({std::move(run), n});
    queued_items_ += items;
    if (on_depth_) on_depth_(static_cast<double>(queued_items_));
    return absl::OkStatus();
  }

 private:
  struct Task {
    std::function<void()> run;
    size_t items;
  };

  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !queue_.empty() || stopping_;
  }

  void Run() {
    while (true) {
      Task task;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(this, &WorkerPool::HasWorkOrStopping));
        if (queue_.empty()) return;  // stopping, and nothing left
        task = std::move(queue_.front());
        queue_.pop_front();
        queued_items_ -= task.items;
        if (on_depth_) on_depth_(static_cast<double>(queued_items_));
      }
      task.run();
    }
  }

  std::function<void(double)> on_depth_;
  absl::Mutex mu_;
  std::deque<Task> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_items_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

// One Score call in flight.
struct RewardScorer::BatchState {
  absl::Span<const ScoreItem> items;
  std::vector<const Verifier*> verifiers;
  bool think_penalty = false;
  std::vector<ScoreResult> results;
  // The caller's give-up test (may be empty) and whether it has said so; once it has, workers
  // skip the batch's remaining items.
  const std::function<bool()>* cancelled = nullptr;
  std::atomic<bool> stopped{false};
  std::atomic<size_t> scored{0};
  absl::Mutex mu;
  size_t pending_chunks ABSL_GUARDED_BY(mu) = 0;
};

absl::StatusOr<std::unique_ptr<RewardScorer>> RewardScorer::Create(
    const RewardScorerOptions& options, std::unique_ptr<VerifierRegistry> registry,
    RewardMetrics* metrics) {
  if (registry == nullptr) return absl::InvalidArgumentError("null verifier registry");
  if (options.workers < 1 || options.workers > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("workers: ", options.workers, " is not in [1, 1024]"));
  }
  if (options.max_batch < 1) {
    return absl::InvalidArgumentError(absl::StrCat("max_batch: ", options.max_batch, " < 1"));
  }
  if (options.max_response_bytes < 1 || options.max_field_bytes < 1) {
    return absl::InvalidArgumentError("max_response_bytes and max_field_bytes must be >= 1");
  }
  if (options.max_queued_items < static_cast<size_t>(options.max_batch)) {
    return absl::InvalidArgumentError(absl::StrCat("max_queued_items: ", options.max_queued_items,
                                                   " < max_batch ", options.max_batch));
  }
  return std::unique_ptr<RewardScorer>(new RewardScorer(options, std::move(registry), metrics));
}

RewardScorer::RewardScorer(const RewardScorerOptions& options,
                           std::unique_ptr<VerifierRegistry> registry, RewardMetrics* metrics)
    : options_(options), registry_(std::move(registry)), metrics_(metrics) {
  if (metrics_ != nullptr) {
    for (const Verifier* verifier : registry_->List()) {
      series_.emplace_back(verifier, metrics_->ForVerifier(verifier->name()));
    }
  }
  std::function<void(double)> on_depth;
  if (metrics_ != nullptr) on_depth = [m = metrics_](double depth) { m->SetQueueDepth(depth); };
  pool_ = std::make_unique<WorkerPool>(options_.workers, std::move(on_depth));
}

RewardScorer::~RewardScorer() = default;

absl::StatusOr<std::vector<const Verifier*>> RewardScorer::Resolve(
    absl::Span<const ScoreItem> items) const {
  if (items.empty()) return absl::InvalidArgumentError("items: empty batch");
  if (items.size() > static_cast<size_t>(options_.max_batch)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "items: ", items.size(), " items exceed the limit of ", options_.max_batch, " per batch"));
  }
  std::vector<const Verifier*> verifiers;
  verifiers.reserve(items.size());
  const Verifier* last = nullptr;  // batches are mostly one verifier: skip repeated lookups
  for (size_t i = 0; i < items.size(); ++i) {
    const ScoreItem& item = items[i];
    auto field = [i](absl::string_view name) { return absl::StrCat("items[", i, "].", name); };
    const Verifier* verifier =
        last != nullptr && last->name() == item.verifier ? last : registry_->Find(item.verifier);
    if (verifier == nullptr) {
      if (item.verifier.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(field("verifier"), ": empty (known: ", registry_->KnownNames(), ")"));
      }
      return absl::InvalidArgumentError(absl::StrCat(field("verifier"), ": unknown verifier ",
                                                     Quote(item.verifier, 64),
                                                     " (known: ", registry_->KnownNames(), ")"));
    }
    last = verifier;
    for (auto [name, value] : {std::pair<const char*, absl::string_view>{"id", item.id},
                               {"prompt", item.prompt},
                               {"reference", item.reference},
                               {"meta_json", item.meta_json}}) {
      if (value.size() > options_.max_field_bytes) {
        return absl::InvalidArgumentError(absl::StrCat(field(name), ": ", value.size(),
                                                       " bytes exceed the limit of ",
                                                       options_.max_field_bytes));
      }
    }
    ScoreInput input{item.prompt, item.response, item.reference, item.meta_json};
    absl::Status task;
    try {
      task = verifier->ValidateTask(input);
    } catch (const std::exception& e) {
      task = absl::InternalError(absl::StrCat("task validation failed: ", e.what()));
    }
    if (!task.ok()) {
      return absl::Status(task.code(), absl::StrCat(field(""), task.message()));
    }
    verifiers.push_back(verifier);
  }
  return verifiers;
}

absl::Status RewardScorer::Validate(absl::Span<const ScoreItem> items) const {
  return Resolve(items).status();
}

absl::StatusOr<std::vector<ScoreResult>> RewardScorer::Score(
    absl::Span<const ScoreItem> items, bool think_penalty,
    const std::function<bool()>& cancelled) const {
  BatchState batch;
  ASSIGN_OR_RETURN(batch.verifiers, Resolve(items));
  batch.items = items;
  batch.think_penalty = think_penalty;
  if (cancelled) batch.cancelled = &cancelled;
  batch.results.resize(items.size());
  if (metrics_ != nullptr) metrics_->ObserveBatchSize(static_cast<double>(items.size()));

  // Chunks small enough to balance the workers, large enough to amortise the hand-off.
  size_t chunk = items.size() / (static_cast<size_t>(options_.workers) * 8);
  chunk = std::clamp<size_t>(chunk, 1, 256);
  size_t chunks = (items.size() + chunk - 1) / chunk;
  {
    absl::MutexLock lock(&batch.mu);
    batch.pending_chunks = chunks;
  }
  std::vector<std::pair<std::function<void()>, size_t>> tasks;
  tasks.reserve(chunks);
  for (size_t begin = 0; begin < items.size(); begin += chunk) {
    size_t end = std::min(items.size(), begin + chunk);
    tasks.emplace_back([this, &batch, begin, end] { ScoreRange(&batch, begin, end); }, end - begin);
  }
  RETURN_IF_ERROR(pool_->SubmitAll(std::move(tasks), options_.max_queued_items));
  {
    absl::MutexLock lock(&batch.mu);
    batch.mu.Await(absl::Condition(
        +[](size_t* pending) { return *pending == 0; }, &batch.pending_chunks));
  }
  if (batch.stopped.load()) {
    return absl::CancelledError(absl::StrCat("cancelled by the caller after scoring ",
                                             batch.scored.load(), " of ", items.size(), " items"));
  }
  return std::move(batch.results);
}

void RewardScorer::ScoreRange(BatchState* batch, size_t begin, size_t end) const {
  for (size_t i = begin; i < end; ++i) {
    if (batch->stopped.load(std::memory_order_relaxed)) break;
    if (batch->cancelled != nullptr && (*batch->cancelled)()) {
      batch->stopped.store(true);
      break;
    }
    batch->results[i] = ScoreOne(batch->items[i], *batch->verifiers[i], batch->think_penalty);
    batch->scored.fetch_add(1, std::memory_order_relaxed);
  }
  absl::MutexLock lock(&batch->mu);
  --batch->pending_chunks;
}

namespace {

// `text` as valid UTF-8 of at most kMaxReasonBytes.
void Clean(std::string* text) {
  if (text->size() > kMaxReasonBytes) {
    *text = absl::StrCat(Utf8Prefix(*text, kMaxReasonBytes - 3), "...");
  }
  if (!IsValidUtf8(*text)) *text = SanitizeUtf8(*text);
}

}  // namespace

ScoreResult RewardScorer::ScoreOne(const ScoreItem& item, const Verifier& verifier,
                                   bool think_penalty) const {
  auto start = std::chrono::steady_clock::now();
  ScoreInput input{item.prompt, item.response, item.reference, item.meta_json};
  bool cut = item.response.size() > options_.max_response_bytes;
  if (cut) input.response = Utf8Suffix(item.response, options_.max_response_bytes);
  VerifierResult verdict;
  try {
    verdict = verifier.Score(input);
  } catch (const std::exception& e) {
    verdict = VerifierResult{0.0, false, absl::StrCat("internal error: ", e.what()), ""};
  } catch (...) {
    verdict = VerifierResult{0.0, false, "internal error", ""};
  }
  ScoreResult result;
  result.id = std::string(item.id);
  result.score = verdict.score;
  result.correct = verdict.correct;
  result.reason = std::move(verdict.reason);
  result.extracted = std::move(verdict.extracted);
  if (cut) {
    absl::StrAppend(&result.reason, " (scored on the last ", input.response.size(), " of ",
                    item.response.size(), " bytes)");
  }
  if (think_penalty) {
    ThinkFormatCheck think = CheckThinkFormat(item.response, options_.think_required);
    if (!think.ok) {
      result.score += kThinkFormatPenalty;
      absl::StrAppend(&result.reason, "; think format: ", think.problem, " (", kThinkFormatPenalty,
                      ")");
    }
  }
  Clean(&result.reason);
  Clean(&result.extracted);
  if (metrics_ != nullptr) {
    for (const auto& [v, series] : series_) {
      if (v != &verifier) continue;
      (result.correct ? series.correct : series.wrong)->Increment();
      series.seconds->Observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      break;
    }
  }
  return result;
}

}  // namespace chord::reward
