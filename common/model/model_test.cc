#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "common/files/file_io.h"
#include "common/model/causal_lm.h"
#include "common/model/model_config.h"
#include "common/model/model_test_util.h"
#include "common/model/token_logprobs.h"

namespace chord::model {
namespace {

using test::ScratchDir;
using test::SmallLlamaConfig;
using test::SmallQwen2Config;
using ::testing::HasSubstr;

constexpr char kQwenConfig[] = R"({
  "architectures": ["Qwen2ForCausalLM"],
  "attention_dropout": 0.0,
  "bos_token_id": 151643,
  "eos_token_id": 151645,
  "hidden_act": "silu",
  "hidden_size": 896,
  "initializer_range": 0.02,
  "intermediate_size": 4864,
  "max_position_embeddings": 32768,
  "max_window_layers": 21,
  "model_type": "qwen2",
  "num_attention_heads": 14,
  "num_hidden_layers": 24,
  "num_key_value_heads": 2,
  "rms_norm_eps": 1e-06,
  "rope_theta": 1000000.0,
  "sliding_window": 32768,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.43.1",
  "use_cache": true,
  "use_sliding_window": false,
  "vocab_size": 151936
})";

constexpr char kLlamaConfig[] = R"({
  "architectures": ["LlamaForCausalLM"],
  "attention_bias": false,
  "bos_token_id": 128000,
  "eos_token_id": [128001, 128008, 128009],
  "hidden_act": "silu",
  "hidden_size": 3072,
  "intermediate_size": 8192,
  "max_position_embeddings": 131072,
  "mlp_bias": false,
  "model_type": "llama",
  "num_attention_heads": 24,
  "num_hidden_layers": 28,
  "num_key_value_heads": 8,
  "head_dim": 128,
  "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": null,
  "rope_theta": 500000.0,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "vocab_size": 128256
})";

std::string WithKey(const std::string& json_text, const std::string& key,
                    const std::string& value) {
  auto j = nlohmann::json::parse(json_text);
  if (value == "<erase>") {
    j.erase(key);
  } else {
    j[key] = nlohmann::json::parse(value);
  }
  return j.dump();
}

// ---------------------------------------------------------------------------------------------
// config.json

TEST(ModelConfigTest, ParsesQwen2) {
  auto c = ParseModelConfig(kQwenConfig, "config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model_type, "qwen2");
  EXPECT_EQ(c->vocab_size, 151936);
  EXPECT_EQ(c->hidden_size, 896);
  EXPECT_EQ(c->num_hidden_layers, 24);
  EXPECT_EQ(c->KvHeads(), 2);
  EXPECT_EQ(c->HeadDim(), 64);
  EXPECT_DOUBLE_EQ(c->rope_theta, 1e6);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_TRUE(c->attention_bias);
  EXPECT_EQ(c->torch_dtype, "bfloat16");
  EXPECT_EQ(c->eos_token_ids, (std::vector<int64_t>{151645}));
  EXPECT_EQ(*c->bos_token_id, 151643);
  EXPECT_FALSE(c->pad_token_id.has_value());
  // Qwen2.5-0.5B: 494,032,768 parameters.
  EXPECT_EQ(c->NumParameters(), 494032768);
}

TEST(ModelConfigTest, ParsesLlamaKeys) {
  auto c = ParseModelConfig(kLlamaConfig, "config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model_type, "llama");
  EXPECT_FALSE(c->attention_bias);
  EXPECT_EQ(c->HeadDim(), 128);
  EXPECT_EQ(c->KvHeads(), 8);
  EXPECT_EQ(c->eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-5);

  // Llama defaults: no attention bias, untied; num_key_value_heads defaults to the heads.
  auto minimal = ParseModelConfig(
      R"({"model_type":"llama","vocab_size":10,"hidden_size":8,"intermediate_size":16,
          "num_hidden_layers":1,"num_attention_heads":2})",
      "m.json");
  ASSERT_TRUE(minimal.ok()) << minimal.status();
  EXPECT_FALSE(minimal->attention_bias);
  EXPECT_FALSE(minimal->tie_word_embeddings);
  EXPECT_EQ(minimal->KvHeads(), 2);
  EXPECT_EQ(minimal->HeadDim(), 4);
}

TEST(ModelConfigTest, RefusesUnsupportedSettingsNamingTheKey) {
  struct Case {
    std::string key, value, expect;
  };
  const std::vector<Case> cases = {
      {"rope_scaling", R"({"rope_type":"llama3","factor":8.0})", "rope_scaling"},
      {"hidden_act", R"("gelu")", "hidden_act"},
      {"mlp_bias", "true", "mlp_bias"},
      {"model_type", R"("mistral")", "model_type"},
      {"use_sliding_window", "true", "use_sliding_window"},
      {"pretraining_tp", "2", "pretraining_tp"},
      {"attention_dropout", "0.1", "attention_dropout"},
      {"attention_bias", "false", "attention_bias"},
      {"num_key_value_heads", "3", "num_key_value_heads"},
      {"torch_dtype", R"("float8")", "torch_dtype"},
      {"hidden_size", R"("big")", "hidden_size"},
      {"vocab_size", "<erase>", "vocab_size"},
      {"eos_token_id", "999999", "eos_token_id"},
      {"layer_types", R"(["full_attention","sliding_attention"])", "layer_types[1]"},
  };
  for (const Case& c : cases) {
    auto parsed = ParseModelConfig(WithKey(kQwenConfig, c.key, c.value), "/m/config.json");
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << c.key;
    EXPECT_THAT(parsed.status().message(), HasSubstr("/m/config.json")) << c.key;
    EXPECT_THAT(parsed.status().message(), HasSubstr(c.expect)) << parsed.status();
  }
}

TEST(ModelConfigTest, BadJsonNamesTheFile) {
  auto parsed = ParseModelConfig("{\"model_type\": \"qwen2\",", "/x/config.json");
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(parsed.status().message(), HasSubstr("/x/config.json"));
  EXPECT_THAT(parsed.status().message(), HasSubstr("invalid JSON"));
  EXPECT_EQ(LoadModelConfig("/nonexistent-model-dir").status().code(), absl::StatusCode::kNotFound);
}

TEST(ModelConfigTest, ToJsonRoundTripsWithHfKeys) {
  for (const ModelConfig& original : {SmallQwen2Config(), SmallLlamaConfig()}) {
    const std::string text = original.ToJson();
    auto j = nlohmann::json::parse(text);
    EXPECT_EQ(j["architectures"][0],
              original.model_type == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM");
    EXPECT_TRUE(j["rope_scaling"].is_null());
    EXPECT_EQ(j["hidden_act"], "silu");
    auto back = ParseModelConfig(text, "config.json");
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->ToJson(), text);
  }
  ModelConfig multi = SmallQwen2Config();
  multi.eos_token_ids = {1, 2};
  EXPECT_TRUE(nlohmann::json::parse(multi.ToJson())["eos_token_id"].is_array());
}

// ---------------------------------------------------------------------------------------------
// The model

std::unique_ptr<CausalLM> MakeModel(const ModelConfig& config, uint64_t seed = 1) {
  auto lm = CausalLM::CreateRandom(config, seed);
  EXPECT_TRUE(lm.ok()) << lm.status();
  return lm.ok() ? std::move(*lm) : nullptr;
}

torch::Tensor Ids(const std::vector<int64_t>& ids) {
  return torch::tensor(ids, torch::kInt64).view({1, static_cast<int64_t>(ids.size())});
}

double MaxDiff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

// An independent, deliberately plain implementation of the HF Qwen2/Llama forward pass for one
// unpadded sequence (per-head loops, explicit causal mask), built from the published formulas.
torch::Tensor ReferenceLogits(CausalLM& lm, const std::vector<int64_t>& tokens) {
  torch::NoGradGuard no_grad;
  const ModelConfig& c = lm.config();
  std::map<std::string, torch::Tensor> p;
  for (auto& [name, t] : lm.NamedParameters()) p[name] = t;
  auto param = [&](const std::string& name) { return p.at(name); };
  const int64_t steps = static_cast<int64_t>(tokens.size());
  const int64_t d = c.HeadDim();
  const int64_t nh = c.num_attention_heads;
  const int64_t kvh = c.KvHeads();
  auto rms = [&](const torch::Tensor& x, const torch::Tensor& w) {
    return w * (x * torch::rsqrt(x.pow(2).mean(-1, true) + c.rms_norm_eps));
  };
  auto linear = [&](const torch::Tensor& x, const std::string& prefix, bool bias) {
    torch::Tensor y = x.matmul(param(prefix + ".weight").t());
    return bias ? y + param(prefix + ".bias") : y;
  };
  torch::Tensor x = param("model.embed_tokens.weight").index_select(0, torch::tensor(tokens));
  std::vector<double> inv_freq;
  for (int64_t i = 0; i < d / 2; ++i) {
    inv_freq.push_back(1.0 / std::pow(c.rope_theta, (2.0 * i) / d));
  }
  torch::Tensor cos = torch::empty({steps, d});
  torch::Tensor sin = torch::empty({steps, d});
  for (int64_t t = 0; t < steps; ++t) {
    for (int64_t i = 0; i < d; ++i) {
      const double angle = t * inv_freq[i % (d / 2)];
      cos[t][i] = std::cos(angle);
      sin[t][i] = std::sin(angle);
    }
  }
  auto rotate = [&](const torch::Tensor& v) {  // v [T, D]
    torch::Tensor half1 = v.narrow(1, 0, d / 2);
    torch::Tensor half2 = v.narrow(1, d / 2, d / 2);
    return v * cos + torch::cat({-half2, half1}, 1) * sin;
  };
  torch::Tensor causal = torch::full({steps, steps}, -INFINITY).triu(1);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string pre = "model.layers." + std::to_string(l) + ".";
    torch::Tensor h = rms(x, param(pre + "input_layernorm.weight"));
    torch::Tensor q = linear(h, pre + "self_attn.q_proj", c.attention_bias);
    torch::Tensor k = linear(h, pre + "self_attn.k_proj", c.attention_bias);
    torch::Tensor v = linear(h, pre + "self_attn.v_proj", c.attention_bias);
    std::vector<torch::Tensor> heads;
    for (int64_t head = 0; head < nh; ++head) {
      const int64_t kv_head = head / (nh / kvh);
      torch::Tensor qh = rotate(q.narrow(1, head * d, d));
      torch::Tensor kh = rotate(k.narrow(1, kv_head * d, d));
      torch::Tensor vh = v.narrow(1, kv_head * d, d);
      torch::Tensor scores = qh.matmul(kh.t()) / std::sqrt(double(d)) + causal;
      heads.push_back(torch::softmax(scores, -1).matmul(vh));
    }
    x = x + linear(torch::cat(heads, 1), pre + "self_attn.o_proj", false);
    torch::Tensor h2 = rms(x, param(pre + "post_attention_layernorm.weight"));
    torch::Tensor mlp = torch::silu(linear(h2, pre + "mlp.gate_proj", false)) *
                        linear(h2, pre + "mlp.up_proj", false);
    x = x + linear(mlp, pre + "mlp.down_proj", false);
  }
  x = rms(x, param("model.norm.weight"));
  torch::Tensor head =
      c.tie_word_embeddings ? param("model.embed_tokens.weight") : param("lm_head.weight");
  return x.matmul(head.t()).unsqueeze(0);
}

TEST(CausalLMTest, MatchesAPlainReferenceImplementation) {
  const std::vector<int64_t> tokens = {3, 17, 42, 8, 8, 60, 1, 29, 33, 5};
  for (const ModelConfig& config : {SmallQwen2Config(), SmallLlamaConfig()}) {
    auto lm = MakeModel(config);
    torch::NoGradGuard no_grad;
    torch::Tensor logits = lm->Forward(Ids(tokens));
    ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{1, 10, config.vocab_size}));
    EXPECT_EQ(logits.scalar_type(), torch::kFloat32);
    EXPECT_LT(MaxDiff(logits, ReferenceLogits(*lm, tokens)), 1e-4) << config.model_type;
    EXPECT_GT(logits.std().item<double>(), 0.05) << "logits should not be near-constant";
  }
}

TEST(CausalLMTest, IncrementalDecodingEqualsFullForward) {
  for (const ModelConfig& config : {SmallQwen2Config(), SmallLlamaConfig()}) {
    auto lm = MakeModel(config, 3);
    torch::NoGradGuard no_grad;
    torch::manual_seed(0);
    torch::Tensor ids = torch::randint(config.vocab_size, {2, 24}, torch::kInt64);
    torch::Tensor full = lm->Forward(ids);
    // Prefill 7 tokens, then chunks of 1, 3, 1, ... with a cache that must grow (capacity 8).
    auto cache = KVCache::Create(config, 2, 8, torch::kFloat32);
    ASSERT_TRUE(cache.ok());
    std::vector<torch::Tensor> pieces;
    int64_t pos = 0;
    for (int64_t len : {7, 1, 3, 1, 1, 5, 6}) {
      torch::Tensor chunk = ids.narrow(1, pos, len);
      ASSERT_TRUE(lm->ValidateInputs(chunk, {}, {}, cache->get()).ok());
      pieces.push_back(lm->Forward(chunk, {}, {}, cache->get()));
      pos += len;
    }
    ASSERT_EQ(pos, 24);
    EXPECT_EQ((*cache)->length(), 24);
    EXPECT_GE((*cache)->capacity(), 24);
    EXPECT_LE(MaxDiff(torch::cat(pieces, 1), full), 1e-4) << config.model_type;
  }
}

TEST(CausalLMTest, PaddedBatchEqualsRowsRunOneByOne) {
  const ModelConfig config = SmallQwen2Config();
  auto lm = MakeModel(config, 5);
  torch::NoGradGuard no_grad;
  const std::vector<std::vector<int64_t>> prompts = {
      {5, 9, 11}, {1, 2, 3, 4, 5, 6, 7}, {40, 41, 42, 43, 44}};
  const int64_t width = 7;
  for (bool left : {true, false}) {
    torch::Tensor ids = torch::zeros({3, width}, torch::kInt64);
    torch::Tensor mask = torch::zeros({3, width}, torch::kInt64);
    for (int64_t b = 0; b < 3; ++b) {
      const int64_t n = static_cast<int64_t>(prompts[b].size());
      const int64_t offset = left ? width - n : 0;
      ids[b].narrow(0, offset, n).copy_(torch::tensor(prompts[b]));
      mask[b].narrow(0, offset, n).fill_(1);
    }
    ASSERT_TRUE(lm->ValidateInputs(ids, mask).ok());
    torch::Tensor batch = lm->Forward(ids, mask);
    for (int64_t b = 0; b < 3; ++b) {
      const int64_t n = static_cast<int64_t>(prompts[b].size());
      const int64_t offset = left ? width - n : 0;
      torch::Tensor single = lm->Forward(Ids(prompts[b]));
      EXPECT_LE(MaxDiff(batch[b].narrow(0, offset, n), single[0]), 1e-4)
          << (left ? "left" : "right") << " padding, row " << b;
      EXPECT_TRUE(torch::isfinite(batch).all().item<bool>());
    }
  }
}

TEST(CausalLMTest, LeftPaddedBatchWithCacheEqualsSingleRows) {
  const ModelConfig config = SmallQwen2Config();
  auto lm = MakeModel(config, 6);
  torch::NoGradGuard no_grad;
  const std::vector<std::vector<int64_t>> prompts = {{5, 9}, {1, 2, 3, 4, 5}};
  const std::vector<std::vector<int64_t>> next = {{7, 8, 9}, {10, 11, 12}};
  torch::Tensor ids = torch::tensor({0, 0, 0, 5, 9, 1, 2, 3, 4, 5}, torch::kInt64).view({2, 5});
  torch::Tensor mask = torch::tensor({0, 0, 0, 1, 1, 1, 1, 1, 1, 1}, torch::kInt64).view({2, 5});
  auto cache = KVCache::Create(config, 2, 8, torch::kFloat32);
  ASSERT_TRUE(cache.ok());
  lm->Forward(ids, mask, {}, cache->get());
  EXPECT_EQ((*cache)->real_tokens()[0].item<int64_t>(), 2);
  for (size_t step = 0; step < 3; ++step) {
    torch::Tensor step_ids = torch::tensor({next[0][step], next[1][step]}).view({2, 1});
    torch::Tensor logits = lm->Forward(step_ids, {}, {}, cache->get());
    for (int b = 0; b < 2; ++b) {
      std::vector<int64_t> seq = prompts[b];
      seq.insert(seq.end(), next[b].begin(), next[b].begin() + step + 1);
      torch::Tensor single = lm->Forward(Ids(seq));
      EXPECT_LE(MaxDiff(logits[b][0], single[0][-1]), 1e-4) << "row " << b << " step " << step;
    }
  }
}

TEST(CausalLMTest, ExplicitPositionIdsMatchTheDefault) {
  auto lm = MakeModel(SmallQwen2Config());
  torch::NoGradGuard no_grad;
  torch::Tensor ids = torch::tensor({0, 0, 5, 6, 7}, torch::kInt64).view({1, 5});
  torch::Tensor mask = torch::tensor({0, 0, 1, 1, 1}, torch::kInt64).view({1, 5});
  torch::Tensor pos = torch::tensor({0, 0, 0, 1, 2}, torch::kInt64).view({1, 5});
  EXPECT_LE(MaxDiff(lm->Forward(ids, mask), lm->Forward(ids, mask, pos)), 1e-6);
  // Rotary embeddings only encode relative offsets: shifting every position by 10 leaves the
  // outputs of the real tokens unchanged.
  torch::Tensor shifted = lm->Forward(ids, mask, pos + 10);
  EXPECT_LE(MaxDiff(shifted.narrow(1, 2, 3), lm->Forward(ids, mask).narrow(1, 2, 3)), 1e-4);
}

TEST(CausalLMTest, CreateRandomIsDeterministicForASeed) {
  auto a = MakeModel(SmallQwen2Config(), 11);
  auto b = MakeModel(SmallQwen2Config(), 11);
  auto c = MakeModel(SmallQwen2Config(), 12);
  auto pa = a->NamedParameters();
  auto pb = b->NamedParameters();
  auto pc = c->NamedParameters();
  ASSERT_EQ(pa.size(), pb.size());
  bool any_diff = false;
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(torch::equal(pa[i].second, pb[i].second)) << pa[i].first;
    any_diff |= !torch::equal(pa[i].second, pc[i].second);
  }
  EXPECT_TRUE(any_diff);
  int64_t count = 0;
  for (auto& [name, t] : pa) count += t.numel();
  EXPECT_EQ(count, SmallQwen2Config().NumParameters());
  EXPECT_EQ(a->ParameterBytes(), count * 4);
}

TEST(CausalLMTest, HfParameterNamesTiedAndUntied) {
  auto tied = MakeModel(SmallQwen2Config(/*tied=*/true));
  auto untied = MakeModel(SmallQwen2Config(/*tied=*/false));
  std::vector<std::string> tied_names;
  for (auto& [name, t] : tied->NamedParameters()) tied_names.push_back(name);
  EXPECT_EQ(tied_names.front(), "model.embed_tokens.weight");
  EXPECT_THAT(tied_names, ::testing::Contains("model.layers.1.self_attn.q_proj.bias"));
  EXPECT_THAT(tied_names, ::testing::Contains("model.layers.0.mlp.down_proj.weight"));
  EXPECT_THAT(tied_names, ::testing::Contains("model.layers.0.post_attention_layernorm.weight"));
  EXPECT_THAT(tied_names,
              ::testing::Not(::testing::Contains("model.layers.0.self_attn.o_proj.bias")));
  EXPECT_EQ(tied_names.back(), "model.norm.weight");
  EXPECT_EQ(untied->NamedParameters().back().first, "lm_head.weight");
  EXPECT_EQ(untied->NamedParameters().size(), tied_names.size() + 1);
  auto llama = MakeModel(SmallLlamaConfig());
  for (auto& [name, t] : llama->NamedParameters()) {
    EXPECT_FALSE(absl::EndsWith(name, ".bias")) << name;
  }
}

TEST(CausalLMTest, SaveThenLoadGivesIdenticalLogits) {
  for (const ModelConfig& config :
       {SmallQwen2Config(true), SmallQwen2Config(false), SmallLlamaConfig()}) {
    ScratchDir dir;
    auto lm = MakeModel(config, 21);
    ASSERT_TRUE(lm->Save(dir.path()).ok());
    EXPECT_TRUE(std::filesystem::exists(dir.File("config.json")));
    EXPECT_TRUE(std::filesystem::exists(dir.File("model.safetensors")));
    auto file = SafetensorsFile::Open(dir.File("model.safetensors"));
    ASSERT_TRUE(file.ok());
    EXPECT_EQ((*file)->Find("lm_head.weight") != nullptr, !config.tie_word_embeddings);
    auto loaded = CausalLM::Load(dir.path());
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ((*loaded)->config().ToJson(), config.ToJson());
    torch::NoGradGuard no_grad;
    torch::Tensor ids = torch::tensor({1, 5, 9, 13, 60}).view({1, 5});
    EXPECT_TRUE(torch::equal(lm->Forward(ids), (*loaded)->Forward(ids))) << config.model_type;
  }
}

TEST(CausalLMTest, HalfPrecisionFilesLoadIntoFloat32) {
  for (torch::Dtype dtype : {torch::kBFloat16, torch::kFloat16}) {
    ScratchDir dir;
    auto lm = MakeModel(SmallQwen2Config(false), 4);
    SaveOptions options;
    options.dtype = dtype;
    ASSERT_TRUE(lm->Save(dir.path(), options).ok());
    auto config = LoadModelConfig(dir.path());
    ASSERT_TRUE(config.ok());
    EXPECT_EQ(config->torch_dtype, dtype == torch::kBFloat16 ? "bfloat16" : "float16");
    auto loaded = CausalLM::Load(dir.path());
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    auto original = lm->NamedParameters();
    auto got = (*loaded)->NamedParameters();
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].second.scalar_type(), torch::kFloat32);
      EXPECT_TRUE(torch::equal(got[i].second, original[i].second.to(dtype).to(torch::kFloat32)))
          << got[i].first;
    }
  }
}

TEST(CausalLMTest, BFloat16ComputeRuns) {
  auto lm = CausalLM::CreateRandom(SmallQwen2Config(), 1, LoadOptions{torch::kBFloat16});
  ASSERT_TRUE(lm.ok());
  torch::NoGradGuard no_grad;
  torch::Tensor ids = torch::tensor({1, 5, 9}).view({1, 3});
  torch::Tensor logits = (*lm)->Forward(ids);
  EXPECT_EQ(logits.scalar_type(), torch::kFloat32);
  auto f32 = MakeModel(SmallQwen2Config(), 1);
  EXPECT_LT(MaxDiff(logits, f32->Forward(ids)), 0.1);
}

TEST(CausalLMTest, ShardedFolderLoads) {
  ScratchDir dir;
  auto lm = MakeModel(SmallQwen2Config(false), 8);
  SaveOptions options;
  options.max_shard_bytes = static_cast<uint64_t>(lm->ParameterBytes() / 2 + 1);
  ASSERT_TRUE(lm->Save(dir.path(), options).ok());
  EXPECT_TRUE(std::filesystem::exists(dir.File("model.safetensors.index.json")));
  EXPECT_FALSE(std::filesystem::exists(dir.File("model.safetensors")));
  int shards = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    shards += absl::StartsWith(e.path().filename().string(), "model-");
  }
  EXPECT_GE(shards, 2);
  auto loaded = CausalLM::Load(dir.path());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  torch::NoGradGuard no_grad;
  torch::Tensor ids = torch::tensor({3, 4, 5}).view({1, 3});
  EXPECT_TRUE(torch::equal(lm->Forward(ids), (*loaded)->Forward(ids)));
}

// Malformed folders: the error names the file and the tensor.
class MalformedFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    lm_ = MakeModel(SmallQwen2Config(false), 2);
    ASSERT_TRUE(lm_->Save(dir_.path()).ok());
  }
  // Rewrites model.safetensors with `edit` applied to the tensor list.
  void Rewrite(const std::function<void(NamedTensors&)>& edit) {
    NamedTensors tensors = lm_->NamedParameters();
    edit(tensors);
    ASSERT_TRUE(WriteSafetensors(dir_.File("model.safetensors"), tensors).ok());
  }
  ScratchDir dir_;
  std::unique_ptr<CausalLM> lm_;
};

TEST_F(MalformedFolderTest, MissingTensor) {
  Rewrite([](NamedTensors& t) {
    t.erase(std::remove_if(t.begin(), t.end(),
                           [](auto& p) { return p.first == "model.layers.1.mlp.up_proj.weight"; }),
            t.end());
  });
  auto loaded = CausalLM::Load(dir_.path());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(loaded.status().message(), HasSubstr(dir_.File("model.safetensors")));
  EXPECT_THAT(loaded.status().message(), HasSubstr("model.layers.1.mlp.up_proj.weight"));
}

TEST_F(MalformedFolderTest, MissingUntiedLmHead) {
  Rewrite([](NamedTensors& t) { t.pop_back(); });  // lm_head.weight is last
  auto loaded = CausalLM::Load(dir_.path());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(loaded.status().message(), HasSubstr("lm_head.weight"));
}

TEST_F(MalformedFolderTest, WrongShape) {
  Rewrite([](NamedTensors& t) {
    for (auto& [name, tensor] : t) {
      if (name == "model.layers.0.self_attn.k_proj.weight") tensor = torch::zeros({16, 33});
    }
  });
  auto loaded = CausalLM::Load(dir_.path());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(loaded.status().message(), HasSubstr(dir_.File("model.safetensors")));
  EXPECT_THAT(loaded.status().message(), HasSubstr("model.layers.0.self_attn.k_proj.weight"));
  EXPECT_THAT(loaded.status().message(), HasSubstr("[16, 33]"));
}

TEST_F(MalformedFolderTest, UnexpectedTensorAndIntegerDtype) {
  Rewrite([](NamedTensors& t) { t.emplace_back("model.layers.7.extra.weight", torch::ones({2})); });
  auto loaded = CausalLM::Load(dir_.path());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(loaded.status().message(), HasSubstr("model.layers.7.extra.weight"));

  Rewrite([](NamedTensors& t) { t[0].second = t[0].second.to(torch::kInt32); });
  loaded = CausalLM::Load(dir_.path());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(loaded.status().message(), HasSubstr("model.embed_tokens.weight"));
  EXPECT_THAT(loaded.status().message(), HasSubstr("I32"));
}

TEST_F(MalformedFolderTest, TruncatedFile) {
  const std::string path = dir_.File("model.safetensors");
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 100);
  auto loaded = CausalLM::Load(dir_.path());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(loaded.status().message(), HasSubstr(path));
  // The tensor stored last (same element size, so by name) is the one cut.
  EXPECT_THAT(loaded.status().message(), HasSubstr("model.norm.weight"));
}

TEST_F(MalformedFolderTest, BadConfigJson) {
  ASSERT_TRUE(files::WriteFileAtomically(dir_.File("config.json"), "{\"model_type\": ").ok());
  auto loaded = CausalLM::Load(dir_.path());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(loaded.status().message(), HasSubstr(dir_.File("config.json")));
}

TEST_F(MalformedFolderTest, ConfigThatDisagreesWithWeights) {
  ModelConfig bigger = lm_->config();
  bigger.hidden_size = 64;
  ASSERT_TRUE(files::WriteFileAtomically(dir_.File("config.json"), bigger.ToJson()).ok());
  auto loaded = CausalLM::Load(dir_.path());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(loaded.status().message(), HasSubstr("model.embed_tokens.weight"));
}

TEST(CausalLMTest, LoadNamedTensorsCopiesInPlaceOrChangesNothing) {
  auto source = MakeModel(SmallQwen2Config(), 31);
  auto target = MakeModel(SmallQwen2Config(), 32);
  const torch::Tensor before = target->NamedParameters()[0].second.clone();
  torch::Tensor param_storage = target->NamedParameters()[0].second;

  // Missing, wrong-shape and unknown tensors are refused and leave the target untouched.
  NamedTensors tensors = source->NamedParameters();
  NamedTensors missing(tensors.begin() + 1, tensors.end());
  absl::Status s = target->LoadNamedTensors(missing);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("model.embed_tokens.weight"));
  NamedTensors wrong = tensors;
  wrong.back().second = torch::zeros({3});
  s = target->LoadNamedTensors(wrong);
  EXPECT_THAT(s.message(), HasSubstr(tensors.back().first));
  NamedTensors unknown = tensors;
  unknown.emplace_back("model.bogus", torch::zeros({1}));
  EXPECT_EQ(target->LoadNamedTensors(unknown).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(torch::equal(target->NamedParameters()[0].second, before));

  // bf16 input converts; tied models ignore lm_head.weight.
  NamedTensors ok = tensors;
  for (auto& [name, t] : ok) t = t.to(torch::kBFloat16);
  ok.emplace_back("lm_head.weight", torch::zeros({61, 32}));
  ASSERT_TRUE(target->LoadNamedTensors(ok).ok());
  EXPECT_EQ(target->NamedParameters()[0].second.data_ptr(), param_storage.data_ptr());
  ASSERT_TRUE(target->LoadNamedTensors(tensors).ok());
  torch::NoGradGuard no_grad;
  torch::Tensor ids = torch::tensor({1, 2, 3}).view({1, 3});
  EXPECT_TRUE(torch::equal(target->Forward(ids), source->Forward(ids)));
}

TEST(CausalLMTest, ValidateInputsNamesTheArgument) {
  auto lm = MakeModel(SmallQwen2Config());
  torch::Tensor ids = torch::tensor({1, 2, 3}).view({1, 3});
  EXPECT_TRUE(lm->ValidateInputs(ids, torch::ones({1, 3}, torch::kInt64)).ok());
  EXPECT_THAT(lm->ValidateInputs(torch::tensor({1, 2}), {}).message(), HasSubstr("input_ids"));
  EXPECT_THAT(lm->ValidateInputs(torch::tensor({1, 99}).view({1, 2}), {}).message(),
              HasSubstr("99"));
  EXPECT_THAT(lm->ValidateInputs(ids.to(torch::kFloat32), {}).message(), HasSubstr("input_ids"));
  EXPECT_THAT(lm->ValidateInputs(ids, torch::ones({1, 2}, torch::kInt64)).message(),
              HasSubstr("attention_mask"));
  EXPECT_THAT(lm->ValidateInputs(ids, torch::ones({1, 3})).message(), HasSubstr("attention_mask"));
  auto cache = KVCache::Create(lm->config(), 2, 4, torch::kFloat32);
  ASSERT_TRUE(cache.ok());
  EXPECT_THAT(lm->ValidateInputs(ids, {}, {}, cache->get()).message(), HasSubstr("cache"));
}

TEST(CausalLMTest, TokenLogprobsEqualLogSoftmaxOfForward) {
  auto lm = MakeModel(SmallQwen2Config(), 9);
  torch::NoGradGuard no_grad;
  torch::Tensor ids = torch::tensor({0, 0, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}).view({2, 6});
  torch::Tensor mask = torch::tensor({0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}).view({2, 6});
  for (float temperature : {1.0f, 0.7f}) {
    torch::Tensor entropy;
    torch::Tensor lp = lm->TokenLogprobs(ids, mask, temperature, &entropy);
    ASSERT_EQ(lp.sizes(), (std::vector<int64_t>{2, 5}));
    torch::Tensor logp_all = torch::log_softmax(lm->Forward(ids, mask) / temperature, -1);
    torch::Tensor expected =
        logp_all.narrow(1, 0, 5).gather(2, ids.narrow(1, 1, 5).unsqueeze(2)).squeeze(2);
    torch::Tensor expected_entropy = -(logp_all.exp() * logp_all).sum(-1).narrow(1, 0, 5);
    EXPECT_LE(MaxDiff(lp.narrow(1, 2, 3)[0], expected.narrow(1, 2, 3)[0]), 1e-5);
    EXPECT_LE(MaxDiff(lp[1], expected[1]), 1e-5);
    EXPECT_LE(MaxDiff(entropy[1], expected_entropy[1]), 1e-5);
  }
}

TEST(ChunkedTokenLogprobsTest, GradientsMatchPlainAutograd) {
  torch::manual_seed(3);
  const int64_t n = 13, h = 8, v = 11;
  for (bool with_entropy : {false, true}) {
    for (double temperature : {1.0, 0.6}) {
      torch::Tensor hidden = torch::randn({n, h}, torch::requires_grad());
      torch::Tensor weight = torch::randn({v, h}, torch::requires_grad());
      torch::Tensor targets = torch::randint(v, {n}, torch::kInt64);
      torch::Tensor g1 = torch::randn({n});
      torch::Tensor g2 = torch::randn({n});

      // Chunks of 2 rows (22 logits) exercise the chunking.
      TokenLogprobsResult r =
          ChunkedTokenLogprobs(hidden, weight, targets, temperature, with_entropy, 2 * v);
      torch::Tensor loss = (r.logprobs * g1).sum();
      if (with_entropy) loss = loss + (r.entropy * g2).sum();
      auto grads = torch::autograd::grad({loss}, {hidden, weight});

      torch::Tensor logp_all = torch::log_softmax(hidden.matmul(weight.t()) / temperature, -1);
      torch::Tensor lp = logp_all.gather(1, targets.unsqueeze(1)).squeeze(1);
      torch::Tensor ref_loss = (lp * g1).sum();
      if (with_entropy) ref_loss = ref_loss - ((logp_all.exp() * logp_all).sum(-1) * g2).sum();
      auto ref = torch::autograd::grad({ref_loss}, {hidden, weight});

      EXPECT_LE(MaxDiff(r.logprobs, lp), 1e-5);
      EXPECT_LE(MaxDiff(grads[0], ref[0]), 1e-4) << "d hidden, entropy=" << with_entropy;
      EXPECT_LE(MaxDiff(grads[1], ref[1]), 1e-4) << "d weight, entropy=" << with_entropy;
    }
  }
}

TEST(CausalLMTest, TokenLogprobsBackpropagateIntoTheModel) {
  auto lm = MakeModel(SmallQwen2Config(false), 12);
  torch::Tensor ids = torch::tensor({1, 2, 3, 4, 5, 6}).view({1, 6});
  torch::Tensor mask = torch::ones({1, 6}, torch::kInt64);
  lm->module().zero_grad();
  torch::Tensor lp = lm->TokenLogprobs(ids, mask);
  EXPECT_TRUE(lp.requires_grad());
  lp.sum().backward();
  for (auto& [name, p] : lm->NamedParameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    // A key bias shifts all of a query's scores equally: softmax makes its gradient zero.
    if (absl::EndsWith(name, "k_proj.bias")) continue;
    EXPECT_GT(p.grad().abs().sum().item<double>(), 0.0) << name;
  }
  // The same gradient as plain autograd through Forward for the head weight.
  torch::Tensor head_grad = lm->NamedParameters().back().second.grad().clone();
  lm->module().zero_grad();
  torch::Tensor logp = torch::log_softmax(lm->Forward(ids, mask), -1);
  logp.narrow(1, 0, 5).gather(2, ids.narrow(1, 1, 5).unsqueeze(2)).sum().backward();
  EXPECT_LE(MaxDiff(lm->NamedParameters().back().second.grad(), head_grad), 1e-5);
}

}  // namespace
}  // namespace chord::model
