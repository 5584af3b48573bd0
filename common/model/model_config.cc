#include "common/model/model_config.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/files/file_io.h"
#include "common/status/status_macros.h"

namespace chord::model {
namespace {

using nlohmann::json;

absl::Status KeyError(absl::string_view source, absl::string_view key, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", key, ": ", why));
}

// Reads helpers: each one leaves `out` untouched when the key is absent (or null when
// `null_is_absent`), and fails naming the key when the value has the wrong type.
absl::Status ReadInt(const json& j, absl::string_view source, const char* key, bool required,
                     int64_t* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) return KeyError(source, key, "required key is missing");
    return absl::OkStatus();
  }
  if (it->is_number_integer() || it->is_number_unsigned()) {
    *out = it->get<int64_t>();
    return absl::OkStatus();
  }
  if (it->is_number_float()) {
    const double v = it->get<double>();
    if (v == static_cast<double>(static_cast<int64_t>(v))) {
      *out = static_cast<int64_t>(v);
      return absl::OkStatus();
    }
  }
  return KeyError(source, key, absl::StrCat("expected an integer, got ", it->dump()));
}

absl::Status ReadDouble(const json& j, absl::string_view source, const char* key, double* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_number()) {
    return KeyError(source, key, absl::StrCat("expected a number, got ", it->dump()));
  }
  *out = it->get<double>();
  return absl::OkStatus();
}

absl::Status ReadBool(const json& j, absl::string_view source, const char* key, bool* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_boolean()) {
    return KeyError(source, key, absl::StrCat("expected true or false, got ", it->dump()));
  }
  *out = it->get<bool>();
  return absl::OkStatus();
}

absl::Status ReadString(const json& j, absl::string_view source, const char* key,
                        std::string* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_string()) {
    return KeyError(source, key, absl::StrCat("expected a string, got ", it->dump()));
  }
  *out = it->get<std::string>();
  return absl::OkStatus();
}

absl::Status ReadOptionalInt(const json& j, absl::string_view source, const char* key,
                             std::optional<int64_t>* out) {
  if (j.find(key) == j.end() || j.at(key).is_null()) return absl::OkStatus();
  int64_t v = 0;
  RETURN_IF_ERROR(ReadInt(j, source, key, false, &v));
  *out = v;
  return absl::OkStatus();
}

absl::StatusOr<ModelConfig> ParseObject(const json& j, absl::string_view source) {
  if (!j.is_object())
    return absl::InvalidArgumentError(absl::StrCat(source, ": not a JSON object"));
  ModelConfig c;

  // model_type decides the defaults that differ between the families.
  auto type_it = j.find("model_type");
  if (type_it == j.end() || !type_it->is_string()) {
    return KeyError(source, "model_type", "required string key is missing (qwen2 or llama)");
  }
  c.model_type = type_it->get<std::string>();
  if (c.model_type != "qwen2" && c.model_type != "llama") {
    return KeyError(source, "model_type",
                    absl::StrCat("unsupported \"", c.model_type, "\" (supported: qwen2, llama)"));
  }
  const bool qwen2 = c.model_type == "qwen2";
  c.max_position_embeddings = qwen2 ? 32768 : 2048;
  c.attention_bias = qwen2;

  RETURN_IF_ERROR(ReadInt(j, source, "vocab_size", true, &c.vocab_size));
  RETURN_IF_ERROR(ReadInt(j, source, "hidden_size", true, &c.hidden_size));
  RETURN_IF_ERROR(ReadInt(j, source, "intermediate_size", true, &c.intermediate_size));
  RETURN_IF_ERROR(ReadInt(j, source, "num_hidden_layers", true, &c.num_hidden_layers));
  RETURN_IF_ERROR(ReadInt(j, source, "num_attention_heads", true, &c.num_attention_heads));
  RETURN_IF_ERROR(ReadInt(j, source, "num_key_value_heads", false, &c.num_key_value_heads));
  RETURN_IF_ERROR(ReadInt(j, source, "head_dim", false, &c.head_dim));
  RETURN_IF_ERROR(ReadInt(j, source, "max_position_embeddings", false, &c.max_position_embeddings));
  RETURN_IF_ERROR(ReadDouble(j, source, "rope_theta", &c.rope_theta));
  RETURN_IF_ERROR(ReadDouble(j, source, "rms_norm_eps", &c.rms_norm_eps));
  RETURN_IF_ERROR(ReadDouble(j, source, "initializer_range", &c.initializer_range));
  RETURN_IF_ERROR(ReadBool(j, source, "tie_word_embeddings", &c.tie_word_embeddings));

  // Newer transformers write "dtype"; older ones "torch_dtype".
  RETURN_IF_ERROR(ReadString(j, source, "torch_dtype", &c.torch_dtype));
  RETURN_IF_ERROR(ReadString(j, source, "dtype", &c.torch_dtype));
  if (c.torch_dtype != "float32" && c.torch_dtype != "bfloat16" && c.torch_dtype != "float16") {
    return KeyError(source, "torch_dtype",
                    absl::StrCat("unsupported \"", c.torch_dtype,
                                 "\" (supported: float32, bfloat16, float16)"));
  }

  RETURN_IF_ERROR(ReadOptionalInt(j, source, "bos_token_id", &c.bos_token_id));
  RETURN_IF_ERROR(ReadOptionalInt(j, source, "pad_token_id", &c.pad_token_id));
  if (auto it = j.find("eos_token_id"); it != j.end() && !it->is_null()) {
    if (it->is_array()) {
      for (size_t i = 0; i < it->size(); ++i) {
        const json& e = (*it)[i];
        if (!e.is_number_integer()) {
          return KeyError(source, absl::StrCat("eos_token_id[", i, "]"),
                          absl::StrCat("expected an integer, got ", e.dump()));
        }
        c.eos_token_ids.push_back(e.get<int64_t>());
      }
    } else {
      int64_t eos = 0;
      RETURN_IF_ERROR(ReadInt(j, source, "eos_token_id", false, &eos));
      c.eos_token_ids.push_back(eos);
    }
  }

  // Settings that change the computation and are not implemented: refuse them by name.
  std::string act = "silu";
  RETURN_IF_ERROR(ReadString(j, source, "hidden_act", &act));
  if (act != "silu") {
    return KeyError(source, "hidden_act",
                    absl::StrCat("unsupported \"", act, "\" (only \"silu\" is implemented)"));
  }
  if (auto it = j.find("rope_scaling"); it != j.end() && !it->is_null()) {
    return KeyError(source, "rope_scaling",
                    absl::StrCat("unsupported ", it->dump(), " (only null is implemented)"));
  }
  if (auto it = j.find("rope_parameters"); it != j.end() && !it->is_null()) {
    // transformers >= 5 moves rope_theta here; only the default rope type is implemented.
    if (!it->is_object()) return KeyError(source, "rope_parameters", "expected an object");
    std::string rope_type = "default";
    RETURN_IF_ERROR(ReadString(*it, source, "rope_type", &rope_type));
    if (rope_type != "default") {
      return KeyError(source, "rope_parameters.rope_type",
                      absl::StrCat("unsupported \"", rope_type, "\" (only \"default\")"));
    }
    RETURN_IF_ERROR(ReadDouble(*it, source, "rope_theta", &c.rope_theta));
  }
  bool mlp_bias = false;
  RETURN_IF_ERROR(ReadBool(j, source, "mlp_bias", &mlp_bias));
  if (mlp_bias) return KeyError(source, "mlp_bias", "true is unsupported (MLP has no biases)");
  bool sliding = false;
  RETURN_IF_ERROR(ReadBool(j, source, "use_sliding_window", &sliding));
  if (sliding) {
    return KeyError(source, "use_sliding_window", "true is unsupported (full attention only)");
  }
  if (auto it = j.find("layer_types"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return KeyError(source, "layer_types", "expected an array");
    for (size_t i = 0; i < it->size(); ++i) {
      if ((*it)[i] != "full_attention") {
        return KeyError(source, absl::StrCat("layer_types[", i, "]"),
                        absl::StrCat("unsupported ", (*it)[i].dump(), " (full_attention only)"));
      }
    }
  }
  int64_t tp = 1;
  RETURN_IF_ERROR(ReadInt(j, source, "pretraining_tp", false, &tp));
  if (tp != 1) return KeyError(source, "pretraining_tp", absl::StrCat(tp, " is unsupported (1)"));
  double dropout = 0.0;
  RETURN_IF_ERROR(ReadDouble(j, source, "attention_dropout", &dropout));
  if (dropout != 0.0) {
    return KeyError(source, "attention_dropout",
                    absl::StrCat(dropout, " is unsupported (dropout is not implemented)"));
  }
  bool attention_bias = c.attention_bias;
  RETURN_IF_ERROR(ReadBool(j, source, "attention_bias", &attention_bias));
  if (qwen2 && !attention_bias) {
    return KeyError(source, "attention_bias",
                    "false is unsupported for qwen2 (its q/k/v projections always have biases)");
  }
  c.attention_bias = attention_bias;

  absl::Status valid = c.Validate();
  if (!valid.ok()) return Annotate(valid, source);
  return c;
}

}  // namespace

int64_t ModelConfig::HeadDim() const {
  if (head_dim > 0) return head_dim;
  return num_attention_heads > 0 ? hidden_size / num_attention_heads : 0;
}

int64_t ModelConfig::KvHeads() const {
  return num_key_value_heads > 0 ? num_key_value_heads : num_attention_heads;
}

int64_t ModelConfig::NumParameters() const {
  const int64_t d = HeadDim();
  const int64_t q = num_attention_heads * d;
  const int64_t kv = KvHeads() * d;
  int64_t attn = hidden_size * q + 2 * hidden_size * kv + q * hidden_size;
  if (attention_bias) attn += q + 2 * kv;
  const int64_t mlp = 3 * hidden_size * intermediate_size;
  const int64_t layer = attn + mlp + 2 * hidden_size;
  int64_t total = vocab_size * hidden_size + num_hidden_layers * layer + hidden_size;
  if (!tie_word_embeddings) total += vocab_size * hidden_size;
  return total;
}

absl::Status ModelConfig::Validate() const {
  auto bad = [](absl::string_view key, absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(key, ": ", why));
  };
  if (model_type != "qwen2" && model_type != "llama") {
    return bad("model_type", absl::StrCat("unsupported \"", model_type, "\""));
  }
  if (vocab_size <= 0) return bad("vocab_size", "must be positive");
  if (hidden_size <= 0) return bad("hidden_size", "must be positive");
  if (intermediate_size <= 0) return bad("intermediate_size", "must be positive");
  if (num_hidden_layers <= 0) return bad("num_hidden_layers", "must be positive");
  if (num_attention_heads <= 0) return bad("num_attention_heads", "must be positive");
  if (num_key_value_heads < 0) return bad("num_key_value_heads", "must be positive");
  if (num_attention_heads % KvHeads() != 0) {
    return bad(
        "num_key_value_heads",
        absl::StrCat(KvHeads(), " does not divide num_attention_heads ", num_attention_heads));
  }
  if (head_dim < 0) return bad("head_dim", "must be positive");
  if (head_dim == 0 && hidden_size % num_attention_heads != 0) {
    return bad("hidden_size",
               absl::StrCat(hidden_size, " is not a multiple of num_attention_heads ",
                            num_attention_heads, " (and head_dim is not set)"));
  }
  if (HeadDim() <= 0 || HeadDim() % 2 != 0) {
    return bad("head_dim", absl::StrCat(HeadDim(), " must be positive and even"));
  }
  if (max_position_embeddings <= 0) return bad("max_position_embeddings", "must be positive");
  if (!(rope_theta > 0)) return bad("rope_theta", "must be positive");
  if (!(rms_norm_eps > 0)) return bad("rms_norm_eps", "must be positive");
  if (!(initializer_range >= 0)) return bad("initializer_range", "must be >= 0");
  if (model_type == "qwen2" && !attention_bias) {
    return bad("attention_bias", "qwen2 always has q/k/v biases");
  }
  auto check_id = [&](absl::string_view key, int64_t id) {
    if (id < 0 || id >= vocab_size) {
      return bad(key, absl::StrCat(id, " is outside the vocabulary [0, ", vocab_size, ")"));
    }
    return absl::OkStatus();
  };
  if (bos_token_id) RETURN_IF_ERROR(check_id("bos_token_id", *bos_token_id));
  if (pad_token_id) RETURN_IF_ERROR(check_id("pad_token_id", *pad_token_id));
  for (int64_t id : eos_token_ids) RETURN_IF_ERROR(check_id("eos_token_id", id));
  return absl::OkStatus();
}

std::string ModelConfig::ToJson() const {
  const bool qwen2 = model_type == "qwen2";
  json j;
  j["architectures"] = json::array({qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM"});
  j["model_type"] = model_type;
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = KvHeads();
  j["head_dim"] = HeadDim();
  j["hidden_act"] = "silu";
  j["max_position_embeddings"] = max_position_embeddings;
  j["rope_theta"] = rope_theta;
  j["rope_scaling"] = nullptr;
  j["rms_norm_eps"] = rms_norm_eps;
  j["initializer_range"] = initializer_range;
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["attention_dropout"] = 0.0;
  j["torch_dtype"] = torch_dtype;
  j["use_cache"] = true;
  if (qwen2) {
    j["use_sliding_window"] = false;
    j["sliding_window"] = max_position_embeddings;
    j["max_window_layers"] = num_hidden_layers;
  } else {
    j["attention_bias"] = attention_bias;
    j["mlp_bias"] = false;
    j["pretraining_tp"] = 1;
  }
  j["bos_token_id"] = bos_token_id ? json(*bos_token_id) : json(nullptr);
  j["pad_token_id"] = pad_token_id ? json(*pad_token_id) : json(nullptr);
  if (eos_token_ids.empty()) {
    j["eos_token_id"] = nullptr;
  } else if (eos_token_ids.size() == 1) {
    j["eos_token_id"] = eos_token_ids[0];
  } else {
    j["eos_token_id"] = eos_token_ids;
  }
  return j.dump(2) + "\n";
}

absl::StatusOr<ModelConfig> ParseModelConfig(absl::string_view json_text,
                                             absl::string_view source) {
  json j;
  try {
    j = json::parse(json_text.begin(), json_text.end());
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": invalid JSON: ", e.what()));
  }
  try {
    return ParseObject(j, source);
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", e.what()));
  }
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path) {
  std::string file = path;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) file = path + "/config.json";
  ASSIGN_OR_RETURN(std::string text, files::ReadFile(file));
  return ParseModelConfig(text, file);
}

}  // namespace chord::model
