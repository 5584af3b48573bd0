#pragma once

// Scores a model folder on an evaluation set in-process, the way the learner's evaluation does:
// each task's prompt rendered with the model's chat template (a plain `prompt` becomes one user
// message), greedy decoding up to max_new_tokens with the chat's end-of-turn tokens as stops, the
// response scored by the task's verifier (or the default one) from the reward library.
// `chordctl eval` prints the report; the quickstart and tests use it to check a trained model.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace chord::model_tool {

struct ModelEvalOptions {
  // Hugging Face model folder (config.json, *.safetensors, tokenizer.json). Required.
  std::string model_dir;
  // Task JSONL (docs/expert-buffer.md: prompt|question|messages, answer, kind, meta). Required.
  std::string data_path;
  // Verifier of tasks whose record names none. Default "math_boxed" (as the learner's default).
  std::string verifier = "math_boxed";
  // Score only the first `max_samples` tasks (0, the default: all).
  int64_t max_samples = 0;
  // Generated tokens per response at most. Default 256.
  int max_new_tokens = 256;
  // Prompts per generation call (progress is reported after each). Default 64.
  int batch_size = 64;
  // LibTorch intra-op threads (0, the default: LibTorch's choice).
  int torch_threads = 0;
  // Apply the -0.1 think-format penalty. Default false.
  bool think_penalty = false;
  // Examples kept in the report (the first ones, in file order). Default 3.
  int num_examples = 3;
};

struct EvalExample {
  std::string id;
  std::string prompt;
  std::string response;
  std::string reference;
  double score = 0;
  bool correct = false;
  std::string reason;
};

struct ModelEvalReport {
  int64_t samples = 0;
  int64_t correct = 0;
  double accuracy = 0;
  double reward_mean = 0;
  // Mean generated tokens per response (the end-of-turn token included, as the learner counts).
  double mean_response_tokens = 0;
  double seconds = 0;
  std::vector<EvalExample> examples;
};

// Runs the evaluation. `progress(done, total)` (optional) is called after every batch.
// NOT_FOUND for a missing model or data file; INVALID_ARGUMENT (naming the file, line and field)
// for a malformed dataset or an unknown verifier; INTERNAL with context when LibTorch fails.
absl::StatusOr<ModelEvalReport> EvaluateModel(
    const ModelEvalOptions& options,
    const std::function<void(int64_t done, int64_t total)>& progress = nullptr);

}  // namespace chord::model_tool
