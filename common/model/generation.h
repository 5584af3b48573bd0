#pragma once

// Batched sampling with a KV cache, and log-probabilities of given sequences.
//
// Log-probability contract (what the learner uses as behaviour log-probs): each generated token
// carries log_softmax(logits / temperature)[token] under the plain temperature distribution,
// BEFORE top-k / top-p filtering, i.e. exactly what ComputeLogprobs (and CausalLM::TokenLogprobs)
// return for the same sequence at the same temperature. Temperature 0 means greedy (argmax) and
// reports log-probs at temperature 1.
//
// Determinism: every (prompt_index, sample_index) row draws its random numbers from its own
// counter-based stream seeded by (seed, prompt_index, sample_index, step), so the same seed,
// prompts and weights give the same tokens whatever the batch composition, the token budget or
// the other prompts in the request (up to floating-point differences between batch shapes, which
// can flip a draw that falls within rounding of a boundary).

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/causal_lm.h"

namespace chord::model {

struct SamplingOptions {
  // Softmax temperature; 0 = greedy. Default 1.0 (the on-policy setting).
  float temperature = 1.0f;
  // Nucleus sampling: keep the smallest set of most likely tokens whose mass reaches top_p.
  // 1.0 (default) disables it. Must be in (0, 1].
  float top_p = 1.0f;
  // Keep only the k most likely tokens; 0 (default) disables it.
  int top_k = 0;
  // Generated tokens per sample at most. Default 256.
  int max_new_tokens = 256;
  // Generation of a sample ends after it produces one of these ids (the id is kept in `tokens`,
  // finish_reason "stop"). Nothing is added implicitly: pass the tokenizer's end-of-turn ids
  // (e.g. chord::tokenizer::StopTokenIds). Default none.
  std::vector<int32_t> stop_token_ids;
  // Generation ends once the decoded generated text contains one of these (the token completing
  // it is kept, finish_reason "stop_string"; trimming the text is the caller's job). Needs a
  // `decode` function. Default none.
  std::vector<std::string> stop_strings;
  // Seed of the per-row random streams (see above). Default 0.
  uint64_t seed = 0;
};

struct GenerationOptions {
  // Bound on one batch: rows x (longest prompt in the batch + max_new_tokens) <= this, which is
  // the number of KV-cache positions the batch allocates (memory: KVCache::BytesPerPosition
  // times this). A single prompt that does not fit alone is refused. Default 65536.
  int64_t max_batch_tokens = 65536;
  // Rows (samples) per batch at most. Default 64.
  int max_batch_size = 64;
  // Polled before every batch and between decode steps (ComputeLogprobs: before every batch).
  // Once it returns true, Generate / ComputeLogprobs stop and return CANCELLED without results,
  // so a caller that gave up (a cancelled RPC, a passed deadline) stops burning CPU. Called on
  // the generating thread; must be cheap and thread-safe. Default none (never stops).
  std::function<bool()> should_stop;
  // Called at the start of every batch with its number of rows (samples for Generate, sequences
  // for ComputeLogprobs), e.g. for a batch-size histogram. Default none.
  std::function<void(int rows)> on_batch;
};

struct GeneratedSequence {
  int prompt_index = 0;
  int sample_index = 0;
  // Generated tokens (the prompt excluded; the stop token included when one ended generation).
  std::vector<int32_t> tokens;
  // logprobs[i] = log-prob of tokens[i] (see the contract above).
  std::vector<float> logprobs;
  // "stop" (stop token), "stop_string", or "length" (max_new_tokens reached).
  std::string finish_reason;
};

// Samples `samples_per_prompt` continuations of every prompt. Results are ordered by
// (prompt_index, sample_index). Work is split into batches bounded by `options`; within a batch
// prompts are left-padded, each distinct prompt is prefilled once (its samples share the
// prefill), then decoding is incremental with a KV cache; finished rows leave the batch.
// INVALID_ARGUMENT for empty prompts, out-of-vocabulary ids, bad sampling options, stop strings
// without `decode`, or a prompt longer than the token budget; INTERNAL (with context) when
// LibTorch fails; CANCELLED when options.should_stop says so. Runs under inference mode.
absl::StatusOr<std::vector<GeneratedSequence>> Generate(
    CausalLM& model, const std::vector<std::vector<int32_t>>& prompts, int samples_per_prompt,
    const SamplingOptions& sampling, const GenerationOptions& options,
    const std::function<std::string(const std::vector<int32_t>&)>& decode = nullptr);

// Log-probabilities of sequences[i][t] given sequences[i][:t] for t in [starts[i], len), under
// log_softmax(logits / temperature) (temperature 0 means 1). starts[i] must be in
// [1, len]; start == len gives an empty result. Batches are bounded like Generate's (rows x
// longest sequence <= max_batch_tokens). CANCELLED when options.should_stop says so.
absl::StatusOr<std::vector<std::vector<float>>> ComputeLogprobs(
    CausalLM& model, const std::vector<std::vector<int32_t>>& sequences,
    const std::vector<int>& starts, float temperature, const GenerationOptions& options = {});

}  // namespace chord::model
