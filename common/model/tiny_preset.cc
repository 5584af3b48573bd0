#include "common/model/tiny_preset.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/files/file_io.h"
#include "common/model/causal_lm.h"
#include "common/status/status_macros.h"
#include "common/tokenizer/tiny_tokenizer.h"
#include "common/tokenizer/tokenizer.h"

namespace chord::model {
namespace {

absl::StatusOr<int32_t> RequireToken(const tokenizer::Tokenizer& tok, absl::string_view token) {
  auto id = tok.TokenToId(token);
  if (!id.has_value()) {
    return absl::InternalError(absl::StrCat("tiny tokenizer has no token ", token));
  }
  return *id;
}

}  // namespace

absl::StatusOr<ModelConfig> TinyModelConfig(const TinyPresetOptions& options) {
  ASSIGN_OR_RETURN(
      auto tok, tokenizer::Tokenizer::FromJson(tokenizer::TinyTokenizerJson(), "tiny tokenizer"));
  ASSIGN_OR_RETURN(int32_t end_of_text, RequireToken(*tok, "<|endoftext|>"));
  ASSIGN_OR_RETURN(int32_t im_end, RequireToken(*tok, "<|im_end|>"));
  ModelConfig c;
  c.model_type = "qwen2";
  c.vocab_size = tok->vocab_size();
  c.hidden_size = options.hidden_size;
  c.intermediate_size = options.intermediate_size;
  c.num_hidden_layers = options.num_layers;
  c.num_attention_heads = options.num_heads;
  c.num_key_value_heads = options.num_kv_heads;
  c.max_position_embeddings = options.max_position_embeddings;
  c.rope_theta = 10000.0;
  c.rms_norm_eps = 1e-6;
  c.tie_word_embeddings = true;
  c.attention_bias = true;
  c.initializer_range = 0.02;
  c.torch_dtype = "float32";
  c.bos_token_id = end_of_text;
  c.pad_token_id = end_of_text;
  c.eos_token_ids = {im_end};
  absl::Status valid = c.Validate();
  if (!valid.ok()) return Annotate(valid, "tiny preset");
  return c;
}

absl::Status WriteTinyModel(const std::string& out_dir, const TinyPresetOptions& options) {
  ASSIGN_OR_RETURN(ModelConfig config, TinyModelConfig(options));
  std::error_code ec;
  if (std::filesystem::exists(out_dir, ec)) {
    if (!std::filesystem::is_directory(out_dir, ec)) {
      return absl::FailedPreconditionError(absl::StrCat(out_dir, ": exists and is not a folder"));
    }
    if (!options.overwrite && !std::filesystem::is_empty(out_dir, ec)) {
      return absl::FailedPreconditionError(
          absl::StrCat(out_dir, ": folder is not empty (set overwrite to replace the model)"));
    }
  }
  ASSIGN_OR_RETURN(auto lm, CausalLM::CreateRandom(config, options.seed));
  RETURN_IF_ERROR(lm->Save(out_dir));

  const int64_t eos = config.eos_token_ids.front();
  nlohmann::json generation = {
      {"bos_token_id", *config.bos_token_id},
      {"pad_token_id", *config.pad_token_id},
      {"eos_token_id", nlohmann::json::array({eos, *config.pad_token_id})},
      {"do_sample", true},
      {"temperature", 1.0},
      {"top_p", 1.0},
      {"top_k", 0},
  };
  RETURN_IF_ERROR(
      files::WriteFileAtomically(out_dir + "/generation_config.json", generation.dump(2) + "\n"));
  RETURN_IF_ERROR(
      files::WriteFileAtomically(out_dir + "/tokenizer.json", tokenizer::TinyTokenizerJson()));
  RETURN_IF_ERROR(files::WriteFileAtomically(out_dir + "/tokenizer_config.json",
                                             tokenizer::TinyTokenizerConfigJson()));
  return files::SyncDirectory(out_dir);
}

}  // namespace chord::model
