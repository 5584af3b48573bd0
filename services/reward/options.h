#pragma once

// Settings of the reward service's core (RewardScorer). main.cc fills them from flags.

#include <cstddef>

namespace chord::reward {

struct RewardScorerOptions {
  // Worker threads that score items (>= 1). The chord-reward binary's --workers defaults to the
  // machine's hardware concurrency.
  int workers = 1;
  // Most items in one Score call; a larger batch fails with INVALID_ARGUMENT (>= 1).
  int max_batch = 65536;
  // A longer response is scored on its last max_response_bytes only (cut at a UTF-8 character
  // boundary; the reason says so). The think-format check, a linear scan, always sees the whole
  // response. (>= 1)
  size_t max_response_bytes = 64 * 1024;
  // Largest id, prompt, reference or meta_json accepted; a larger one fails the batch with
  // INVALID_ARGUMENT naming the field (>= 1).
  size_t max_field_bytes = 1 << 20;
  // With the think penalty requested, also penalise responses that have no <think> block.
  bool think_required = false;
  // Most items waiting for a worker, over all Score calls together; a call whose items do not fit
  // fails at once with RESOURCE_EXHAUSTED (>= max_batch, so that one full batch always fits an
  // empty queue).
  size_t max_queued_items = 262144;
};

}  // namespace chord::reward
