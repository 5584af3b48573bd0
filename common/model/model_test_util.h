#pragma once

// Helpers shared by the model library's tests: a scratch directory and small model configs.

#include <stdlib.h>

#include <filesystem>
#include <string>

#include "common/model/model_config.h"

namespace chord::model::test {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class ScratchDir {
 public:
  ScratchDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/chord-model-XXXXXX";
    char* made = ::mkdtemp(pattern.data());
    path_ = made != nullptr ? made : "";
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A very small Qwen2 config: grouped-query attention (4 query heads over 2 KV heads), biases,
// tied embeddings by default.
inline ModelConfig SmallQwen2Config(bool tied = true) {
  ModelConfig c;
  c.model_type = "qwen2";
  c.vocab_size = 61;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.max_position_embeddings = 256;
  c.rope_theta = 10000.0;
  c.rms_norm_eps = 1e-6;
  c.tie_word_embeddings = tied;
  c.attention_bias = true;
  c.initializer_range = 0.1;  // larger than HF's 0.02 so logits vary noticeably
  c.eos_token_ids = {2};
  c.bos_token_id = 0;
  return c;
}

// The Llama flavour: no attention biases, untied head, a head_dim that differs from
// hidden / heads.
inline ModelConfig SmallLlamaConfig() {
  ModelConfig c = SmallQwen2Config(/*tied=*/false);
  c.model_type = "llama";
  c.attention_bias = false;
  c.head_dim = 16;
  c.rope_theta = 500000.0;
  return c;
}

}  // namespace chord::model::test
