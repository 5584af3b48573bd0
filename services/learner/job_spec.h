#pragma once

// A CHORD training job as the user writes it: YAML, every key documented with its default in
// docs/job-spec.md. ParseJobSpec reads and validates the whole document and reports every
// problem at once, by key path and line.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/algorithm/loss_config.h"
#include "services/learner/job_mode.h"

namespace chord::learner {

// A JSONL dataset the job uses: loaded into the expert buffer under `name` from `path`
// (a path the expert buffer can read).
struct DatasetRef {
  std::string name;
  std::string path;
};

struct SamplingSpec {
  double temperature = 1.0;
  double top_p = 1.0;
  int top_k = 0;
  int max_new_tokens = 256;
  std::vector<std::string> stop_strings;
};

struct EvalSpec {
  // Evaluate every `interval` steps (0: only before the first and after the last step).
  int64_t interval = 0;
  // Evaluate on the first `max_samples` eval tasks (0: all).
  int64_t max_samples = 0;
  // Decoding for evaluation: greedy by default.
  double temperature = 0.0;
  // 0: sampling.max_new_tokens.
  int max_new_tokens = 0;
};

struct ServicesSpec {
  // host:port of each service. Empty: the learner's defaults (its --expert_buffer, --reward,
  // --rollout_workers flags).
  std::string expert_buffer;
  std::string reward;
  std::vector<std::string> rollout_workers;
  // Deadline of one generation request to one worker; its share is re-sent elsewhere after it.
  double generation_timeout_s = 300.0;
  // Deadline of other service calls (sampling, scoring).
  double call_timeout_s = 60.0;
  // Longest outage of a dependency (the expert buffer, the reward service, every rollout worker)
  // the job waits out before it fails (outage.h); 0: fail at the first UNAVAILABLE.
  double outage_timeout_s = 600.0;
};

// Largest max_staleness a spec may ask for: async generation keeps up to max_staleness + 1 batches
// of rollouts in memory and the WeightService keeps the versions they were generated with.
inline constexpr int64_t kMaxStaleness = 16;

struct JobSpec {
  std::string name;
  // HF model folder (config.json, *.safetensors, tokenizer.json) the learner ranks load.
  std::string model;
  // Training steps in all (over all stages).
  int64_t steps = 0;
  // N: rows per training step; ceil(expert_data_ratio * N) are expert rows and the rest are
  // repeat_times rollouts of (N - expert) / repeat_times tasks.
  int64_t train_batch_size = 64;
  DatasetRef tasks;
  DatasetRef expert;
  DatasetRef eval;
  // Verifier for tasks whose record names none. Not checked here: the driver checks it against
  // the reward service's ListVerifiers when the job starts.
  std::string verifier = "math_boxed";
  bool think_format_penalty = false;
  // Every CHORD / optimizer key (common/algorithm/loss_config.h), after the variant preset.
  algorithm::Config algorithm;
  SamplingSpec sampling;
  EvalSpec evaluation;
  // Checkpoint every `save_interval` steps (0: only at the end); keep the newest
  // `keep_checkpoints`.
  int64_t save_interval = 0;
  int64_t keep_checkpoints = 3;
  // kSync ("sync"): generate with the newest weights (the paper's setting). kAsync ("async"):
  // generation of the next step overlaps this step's training, at most `max_staleness` versions
  // behind; it also sets algorithm.strict_on_policy to false (behaviour log-probs) unless the spec
  // writes that key.
  JobMode mode = JobMode::kSync;
  // In [0, kMaxStaleness].
  int64_t max_staleness = 1;
  uint64_t seed = 1;
  ServicesSpec services;

  // Derived: expert rows, on-policy rows and tasks per step.
  int64_t ExpertRowsPerStep() const;
  int64_t OnPolicyRowsPerStep() const;
  int64_t TasksPerStep() const;
};

// Parses and validates a job spec. `source` names the document in problems (a file name).
// INVALID_ARGUMENT listing every problem ("<source>:<line>: <key.path>: <problem>").
absl::StatusOr<JobSpec> ParseJobSpec(const std::string& yaml_text, const std::string& source);

}  // namespace chord::learner
