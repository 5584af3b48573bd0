#pragma once

// RolloutWorker: the core of chord-rollout-worker (knows nothing of gRPC). It owns one copy of the
// policy (a CausalLM loaded from a Hugging Face model folder, its tokenizer and chat format),
// generates completions and scores sequences, and swaps in newer weight versions between
// requests.
//
//   RolloutWorkerOptions options;
//   options.model_path = "/models/tiny";
//   ASSIGN_OR_RETURN(auto worker, RolloutWorker::Create(options, &metrics));
//   GenerateCall call;
//   call.prompts.push_back(PromptSpec::Text("p0", "12+7="));
//   call.samples_per_prompt = 8;
//   ASSIGN_OR_RETURN(GenerateResult result, worker->Generate(call));
//
// Execution model: requests are validated and tokenised on the calling thread, then admitted
// into a bounded FIFO queue (max_queue requests held at once, counting those that wait for a
// weight version; one more is RESOURCE_EXHAUSTED). ONE generation thread serves the queue in
// order (the model is single-threaded); the caller blocks until its request is done. A new
// weight version (InstallWeights) is installed by the generation thread only between requests,
// so every completion of a response, and every log-prob, comes from one version, which the
// result carries.
//
// Thread-safe: any number of threads may call Generate / ComputeLogprobs / InstallWeights /
// Status at once.

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/tokenizer.h"
#include "services/rollout_worker/metrics.h"
#include "services/rollout_worker/options.h"

namespace chord::model {
class CausalLM;
}  // namespace chord::model
namespace chord::weights {
struct WeightSet;
}  // namespace chord::weights

namespace chord::rollout_worker {

// One prompt of a Generate call, in one of three forms.
struct PromptSpec {
  enum class Kind {
    kTokenIds,  // token_ids used as given (already templated)
    kText,      // text tokenised as is (no chat template, no special tokens added)
    kMessages,  // messages rendered with the model's chat format, assistant turn opened
  };
  // Caller's id, echoed in each completion.
  std::string id;
  Kind kind = Kind::kTokenIds;
  std::vector<int32_t> token_ids;
  std::string text;
  std::vector<tokenizer::ChatMessage> messages;

  static PromptSpec TokenIds(std::string id, std::vector<int32_t> ids);
  static PromptSpec Text(std::string id, std::string text);
  static PromptSpec Messages(std::string id, std::vector<tokenizer::ChatMessage> messages);
};

// How to sample (the proto's SamplingParams after defaults are applied).
struct SamplingSpec {
  // Softmax temperature; 0 = greedy. Default 1.0.
  float temperature = 1.0f;
  // Nucleus mass in (0, 1]. Default 1.0 (off).
  float top_p = 1.0f;
  // Keep the k most likely tokens; 0 (default) = off.
  int top_k = 0;
  // Generated tokens per sample at most; 0 (default) = the worker's default_max_new_tokens.
  int max_new_tokens = 0;
  // Stop after any of these ids, in addition to the model's end-of-turn ids. Default none.
  std::vector<int32_t> stop_token_ids;
  // Stop once the generated text contains any of these. Default none.
  std::vector<std::string> stop_strings;
  // Seed of the sampler; the same seed, prompts and weights give the same samples. 0 (default) =
  // the worker picks one at random (and logs it).
  uint64_t seed = 0;
};

struct GenerateCall {
  std::vector<PromptSpec> prompts;
  SamplingSpec sampling;
  // Completions per prompt (GRPO's K); 0 means 1. Default 1.
  int samples_per_prompt = 1;
  // Wait for (at most options.max_version_wait and the call's deadline) and then use a weight
  // version >= this. Default 0 (any).
  int64_t min_weight_version = 0;
};

struct Completion {
  std::string prompt_id;
  int sample_index = 0;
  std::vector<int32_t> prompt_token_ids;
  // Generated tokens, the stop token included when one ended generation.
  std::vector<int32_t> token_ids;
  // The decoded generated tokens, without the stop token, cut before the stop string.
  std::string text;
  // Per generated token: log_softmax(logits / temperature)[token] (temperature 1 when greedy),
  // before top-k / top-p filtering: what ComputeLogprobs returns for the same sequence.
  std::vector<float> logprobs;
  // "stop", "stop_string" or "length".
  std::string finish_reason;
  int64_t weight_version = 0;
};

struct GenerateResult {
  // Ordered by (prompt index, sample index).
  std::vector<Completion> completions;
  // The one version every completion used.
  int64_t weight_version = 0;
  int64_t generated_tokens = 0;
};

struct LogprobsCall {
  // Full sequences (prompt and response).
  std::vector<std::vector<int32_t>> sequences;
  // Log-probs are returned for positions [starts[i], len(sequences[i])); starts[i] in [1, len].
  std::vector<int> starts;
  // 0 means 1.0.
  float temperature = 1.0f;
};

struct LogprobsResult {
  std::vector<std::vector<float>> logprobs;
  int64_t weight_version = 0;
};

// How long a call may take and how the caller gives up.
struct CallControl {
  // Past it the call ends with DEADLINE_EXCEEDED (stopping generation between decode steps).
  // Default: none.
  absl::Time deadline = absl::InfiniteFuture();
  // Polled while the call waits and between decode steps; true = the caller gave up (CANCELLED).
  // Must be thread-safe and cheap. Default: none.
  std::function<bool()> cancelled;
};

struct WorkerStatus {
  std::string model_path;
  int64_t weight_version = 0;
  std::string weight_source;
  int queue_depth = 0;
  int queue_capacity = 0;
  int64_t generated_tokens_total = 0;
};

class RolloutWorker {
 public:
  // Loads options.model_path: the model (errors name the file and the tensor: NOT_FOUND for a
  // missing file or tensor, INVALID_ARGUMENT for a bad config.json or a wrong shape, DATA_LOSS
  // for a truncated safetensors file), tokenizer.json (required) and the chat format
  // (tokenizer_config.json; without one, messages prompts are FAILED_PRECONDITION). Starts the
  // generation thread. INVALID_ARGUMENT for options out of range. `metrics` may be null;
  // otherwise it must outlive the worker.
  static absl::StatusOr<std::unique_ptr<RolloutWorker>> Create(const RolloutWorkerOptions& options,
                                                               RolloutMetrics* metrics);

  // Shutdown(), then frees the model.
  ~RolloutWorker();
  RolloutWorker(const RolloutWorker&) = delete;
  RolloutWorker& operator=(const RolloutWorker&) = delete;

  // Samples completions. Errors:
  //  INVALID_ARGUMENT naming the field ("prompts[2].token_ids: ...", "sampling.top_p: ...",
  //    "samples_per_prompt: ...", "prompts[0]: 900 tokens + max_new_tokens 256 exceed ...");
  //  FAILED_PRECONDITION for messages without a chat format, or when min_weight_version does
  //    not arrive in time ("weight version 3 is older than min_weight_version 5 ...");
  //  RESOURCE_EXHAUSTED when max_queue requests are already held;
  //  DEADLINE_EXCEEDED / CANCELLED when control says so (queued work is dropped, running work
  //    stops at the next decode step);
  //  UNAVAILABLE once the worker is shutting down; INTERNAL when LibTorch fails.
  absl::StatusOr<GenerateResult> Generate(const GenerateCall& call,
                                          const CallControl& control = {});

  // Per-token log-probs of given sequences under the current weights. INVALID_ARGUMENT naming
  // the field ("sequences[0].start: ...", "sequences[1].token_ids: ...", "temperature: ...");
  // the other codes as Generate.
  absl::StatusOr<LogprobsResult> ComputeLogprobs(const LogprobsCall& call,
                                                 const CallControl& control = {});

  // Hands a fetched weight set to the generation thread, which installs it between requests
  // (CausalLM::LoadNamedTensors; the fetched dtype is converted), and waits until it is
  // installed. A version not newer than the current one is ignored (OK). INVALID_ARGUMENT naming
  // the tensor when the set does not match the model (missing, unknown or misshapen tensors):
  // the version is refused and the worker keeps serving the old one. UNAVAILABLE after
  // Shutdown(); ABORTED when a newer set superseded this one before it was installed. For the
  // WeightFollower's install callback.
  absl::Status InstallWeights(weights::WeightSet&& weights);

  // New requests (and installs) are refused with UNAVAILABLE from now on; held requests go on.
  void StopAccepting();

  // StopAccepting(); waits up to `grace` for the held requests to finish; then ends the rest
  // (UNAVAILABLE; a running generation stops at its next decode step) and joins the generation
  // thread. Idempotent.
  void Shutdown(absl::Duration grace = absl::ZeroDuration());

  WorkerStatus Status() const;
  int64_t weight_version() const;
  // The chat format of the model folder, or null when it has none.
  const tokenizer::ChatFormat* chat_format() const {
    return has_chat_format_ ? &chat_format_ : nullptr;
  }
  const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }
  const RolloutWorkerOptions& options() const { return options_; }

 private:
  struct Job;
  struct StagedWeights;

  RolloutWorker(const RolloutWorkerOptions& options, RolloutMetrics* metrics);

  // Tokenises and checks a Generate call (on the caller's thread).
  absl::Status PrepareGenerate(const GenerateCall& call, Job* job) const;
  absl::Status PrepareLogprobs(const LogprobsCall& call) const;
  // Admits `job`, waits for its min version, queues it and waits until it is done.
  absl::Status Submit(Job* job, const CallControl& control);
  // Body of the generation thread.
  void Loop();
  void RunJob(Job* job);
  void RunGenerate(Job* job);
  void RunLogprobs(Job* job);
  // The weight version being served (stable while the generation thread runs a job).
  int64_t ServedVersion();
  // A failed run's status; a cancellation by should_stop becomes the job's stop reason.
  absl::Status FailureOf(const Job& job, absl::Status status) const;
  void InstallStaged(StagedWeights* staged);
  // The reason a job must stop now, or OK.
  absl::Status StopReason(const Job& job) const;
  // Gives back an admitted request's place.
  void ReleaseSlot() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RolloutWorkerOptions options_;
  RolloutMetrics* const metrics_;
  // Set in Create, then only used by the generation thread (the model) or read-only.
  std::unique_ptr<model::CausalLM> model_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  bool has_chat_format_ = false;
  tokenizer::ChatFormat chat_format_ = tokenizer::ChatFormat::kChatML;
  std::string chat_format_error_;
  // The model's end-of-turn ids (chat format and config.json eos), always stop tokens.
  std::vector<int32_t> base_stop_ids_;
  int64_t vocab_size_ = 0;
  std::atomic<int64_t> generated_tokens_total_{0};

  mutable absl::Mutex mu_;
  // Signalled when a job finishes, a version is installed, or the worker stops.
  absl::CondVar changed_;
  // Version being served; written by the generation thread between jobs.
  int64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  // Requests admitted and not finished (waiting for a version, queued or running).
  int held_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<Job*> queue_ ABSL_GUARDED_BY(mu_);
  StagedWeights* staged_ ABSL_GUARDED_BY(mu_) = nullptr;
  // No new requests or installs.
  bool accepting_ ABSL_GUARDED_BY(mu_) = true;
  // Ends the generation thread (after the queue is drained or dropped).
  bool stop_thread_ ABSL_GUARDED_BY(mu_) = false;
  // Set when the grace period is over: running work stops at once.
  std::atomic<bool> abort_{false};
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace chord::rollout_worker
