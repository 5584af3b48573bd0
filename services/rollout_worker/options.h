#pragma once

// Settings of the rollout worker's core (RolloutWorker). main.cc fills them from flags
// (docs/rollout-worker.md lists the flags with the same defaults).

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace chord::rollout_worker {

struct RolloutWorkerOptions {
  // Hugging Face model folder loaded at start (config.json, *.safetensors, tokenizer.json and,
  // for chat prompts, tokenizer_config.json). Required; it is weight version 0.
  std::string model_path;
  // Compute dtype of the model: "float32" (default) or "bfloat16".
  std::string dtype = "float32";
  // Address of the WeightService the worker follows ("" = none, the default). Informational for
  // the core (GetStatus), except that without one a min_weight_version above the current version
  // fails at once instead of waiting.
  std::string weight_source;
  // Requests held at once (waiting for a weight version, queued, or running); one more is refused
  // with RESOURCE_EXHAUSTED. Default 64 (>= 1).
  int max_queue = 64;
  // KV-cache budget of one generation batch: rows x (longest prompt + max_new_tokens) positions
  // (see model::GenerationOptions). Also the longest prompt + max_new_tokens (or sequence) one
  // request may ask for. Default 65536 (>= 1).
  int64_t max_batch_tokens = 65536;
  // Rows (samples) per generation batch at most. Default 64 (>= 1).
  int max_batch_size = 64;
  // max_new_tokens of a request that leaves it at 0. Default 256 (>= 1).
  int default_max_new_tokens = 256;
  // Most completions (prompts x samples_per_prompt) or sequences one request may ask for; a
  // larger request is INVALID_ARGUMENT. Bounds the memory of one response. Default 4096 (>= 1).
  int max_request_rows = 4096;
  // Longest a request with min_weight_version waits for that version (its deadline may cut it
  // shorter). Default 60 s.
  absl::Duration max_version_wait = absl::Seconds(60);
};

}  // namespace chord::rollout_worker
