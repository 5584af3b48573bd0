#include "common/model/tiny_preset.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "common/files/file_io.h"
#include "common/model/causal_lm.h"
#include "common/model/generation.h"
#include "common/model/model_test_util.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/tokenizer.h"

namespace chord::model {
namespace {

using test::ScratchDir;
using ::testing::HasSubstr;

const char* const kFiles[] = {"config.json", "model.safetensors", "tokenizer.json",
                              "tokenizer_config.json", "generation_config.json"};

std::string Read(const std::string& path) {
  auto content = files::ReadFile(path);
  EXPECT_TRUE(content.ok()) << content.status();
  return content.ok() ? *content : "";
}

TEST(TinyPresetTest, IsDeterministicForASeed) {
  ScratchDir a, b, c;
  ASSERT_TRUE(WriteTinyModel(a.path()).ok());
  ASSERT_TRUE(WriteTinyModel(b.path()).ok());
  TinyPresetOptions other;
  other.seed = 2;
  ASSERT_TRUE(WriteTinyModel(c.path(), other).ok());
  for (const char* name : kFiles) {
    ASSERT_TRUE(std::filesystem::exists(a.File(name))) << name;
    EXPECT_EQ(Read(a.File(name)), Read(b.File(name))) << name << " differs for the same seed";
  }
  EXPECT_NE(Read(a.File("model.safetensors")), Read(c.File("model.safetensors")));
  EXPECT_EQ(Read(a.File("config.json")), Read(c.File("config.json")));
}

TEST(TinyPresetTest, LoadsWithItsTokenizerAndHasAFewHundredThousandParameters) {
  ScratchDir dir;
  ASSERT_TRUE(WriteTinyModel(dir.path()).ok());
  auto lm = CausalLM::Load(dir.path());
  ASSERT_TRUE(lm.ok()) << lm.status();
  const ModelConfig& config = (*lm)->config();
  EXPECT_EQ(config.model_type, "qwen2");
  EXPECT_TRUE(config.tie_word_embeddings);
  int64_t params = 0;
  for (const auto& [name, t] : (*lm)->NamedParameters()) params += t.numel();
  EXPECT_EQ(params, config.NumParameters());
  EXPECT_GE(params, 200'000);
  EXPECT_LE(params, 5'000'000);

  auto tok = tokenizer::Tokenizer::FromFile(dir.File("tokenizer.json"));
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->vocab_size(), config.vocab_size);
  EXPECT_EQ(config.eos_token_ids, (std::vector<int64_t>{*(*tok)->TokenToId("<|im_end|>")}));
  auto format = tokenizer::DetectChatFormat(dir.path());
  ASSERT_TRUE(format.ok()) << format.status();
  EXPECT_EQ(*format, tokenizer::ChatFormat::kChatML);

  // The whole path the rollout worker takes: chat template, generation with stop tokens, decode.
  auto chat = tokenizer::RenderChat(**tok, *format, {{"user", "What is 2+3?"}}, true);
  ASSERT_TRUE(chat.ok()) << chat.status();
  SamplingOptions s;
  s.max_new_tokens = 24;
  s.seed = 3;
  s.stop_token_ids = tokenizer::StopTokenIds(**tok, *format);
  s.stop_strings = {"\n\n"};
  auto out = Generate(**lm, {chat->ids}, 4, s, {},
                      [&](const std::vector<int32_t>& ids) { return (*tok)->Decode(ids); });
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 4u);
  for (const auto& seq : *out) {
    EXPECT_FALSE(seq.tokens.empty());
    EXPECT_THAT(std::vector<std::string>({"stop", "stop_string", "length"}),
                ::testing::Contains(seq.finish_reason));
  }
}

TEST(TinyPresetTest, RefusesANonEmptyFolderUnlessOverwriting) {
  ScratchDir dir;
  ASSERT_TRUE(files::WriteFileAtomically(dir.File("notes.txt"), "keep me").ok());
  absl::Status s = WriteTinyModel(dir.path());
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr(dir.path()));
  EXPECT_FALSE(std::filesystem::exists(dir.File("model.safetensors")));

  TinyPresetOptions overwrite;
  overwrite.overwrite = true;
  ASSERT_TRUE(WriteTinyModel(dir.path(), overwrite).ok());
  EXPECT_TRUE(std::filesystem::exists(dir.File("model.safetensors")));
  EXPECT_EQ(Read(dir.File("notes.txt")), "keep me");
  // A missing folder is created.
  EXPECT_TRUE(WriteTinyModel(dir.File("nested/new")).ok());
}

TEST(TinyPresetTest, RefusesBadSizes) {
  TinyPresetOptions bad;
  bad.num_kv_heads = 3;
  auto config = TinyModelConfig(bad);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("num_key_value_heads"));
}

}  // namespace
}  // namespace chord::model
