#pragma once

// The tiny default model: a Qwen2-architecture model small enough to train on a laptop CPU in
// seconds, with the character-level vocabulary of chord::tokenizer's tiny tokenizer (digits,
// operators, letters and the ChatML markers; 100 ids). `chordctl init-model --preset tiny` writes
// it; the quickstart and the tests use it, so the real Hugging Face loading path always runs.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/model/model_config.h"

namespace chord::model {

struct TinyPresetOptions {
  // Seed of the weight initialisation; the same seed gives byte-identical files. Default 1.
  uint64_t seed = 1;
  // Layer sizes. Defaults give 0.80 M parameters (tied embeddings).
  int hidden_size = 128;
  int num_layers = 4;
  int num_heads = 4;
  int num_kv_heads = 2;
  int intermediate_size = 384;
  int max_position_embeddings = 512;
  // Write into a folder that already holds files (the model files are replaced, others kept).
  // Default false: a non-empty folder is refused (FAILED_PRECONDITION).
  bool overwrite = false;
};

// The config.json of the tiny model: model_type qwen2, vocab of the tiny tokenizer, tied
// embeddings, bos = pad = <|endoftext|>, eos = <|im_end|>. INVALID_ARGUMENT for bad sizes.
absl::StatusOr<ModelConfig> TinyModelConfig(const TinyPresetOptions& options = {});

// Writes the tiny model as a Hugging Face folder: config.json, model.safetensors (float32, random
// init as transformers does: normal(0, 0.02) weights, unit norms, zero biases), tokenizer.json,
// tokenizer_config.json, generation_config.json. `out_dir` is created if missing.
absl::Status WriteTinyModel(const std::string& out_dir, const TinyPresetOptions& options = {});

}  // namespace chord::model
