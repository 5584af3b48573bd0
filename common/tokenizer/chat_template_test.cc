#include "common/tokenizer/chat_template.h"

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/files/file_io.h"
#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/tiny_tokenizer.h"
#include "common/tokenizer/tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace chord::tokenizer {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using Json = nlohmann::json;

// Ids of the tiny tokenizer (see tiny_tokenizer.h): c - 0x20 + 5, newline 4.
int32_t Id(char c) { return c == '\n' ? kTinyNewlineId : kTinyFirstPrintableId + (c - 0x20); }

// Llama-3's markers added to the tiny character vocabulary.
constexpr int32_t kBeginOfText = 100;
constexpr int32_t kEndOfText = 101;
constexpr int32_t kStartHeader = 102;
constexpr int32_t kEndHeader = 103;
constexpr int32_t kEot = 104;

std::unique_ptr<Tokenizer> TinyChatML() {
  auto tokenizer = Tokenizer::FromJson(TinyTokenizerJson(), "tiny/tokenizer.json");
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return std::move(tokenizer).value();
}

Json SpecialToken(int id, const std::string& content) {
  return Json{{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", false},
              {"rstrip", false}, {"normalized", false}, {"special", true}};
}

std::unique_ptr<Tokenizer> TinyLlama3() {
  Json json = Json::parse(TinyTokenizerJson());
  json["added_tokens"].push_back(SpecialToken(kBeginOfText, "<|begin_of_text|>"));
  json["added_tokens"].push_back(SpecialToken(kEndOfText, "<|end_of_text|>"));
  json["added_tokens"].push_back(SpecialToken(kStartHeader, "<|start_header_id|>"));
  json["added_tokens"].push_back(SpecialToken(kEndHeader, "<|end_header_id|>"));
  json["added_tokens"].push_back(SpecialToken(kEot, "<|eot_id|>"));
  auto tokenizer = Tokenizer::FromJson(json.dump(), "llama3/tokenizer.json");
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return std::move(tokenizer).value();
}

// A byte-level BPE with ChatML markers: bytes only plus merges for "assistant"-like words, so
// tokens span several characters and the segment boundaries matter.
std::unique_ptr<Tokenizer> ByteLevelChatML() {
  Json vocab = Json::object();
  for (int b = 0; b < 256; ++b) {
    vocab[internal::BytesToByteLevel(std::string(1, static_cast<char>(b)))] = b;
  }
  Json merges = Json::array();
  int id = 256;
  for (const char* merge :
       {"a s", "as s", "i s", "t a", "n t", "ta nt", "ass is", "assis tant", "Ġ 4", "Ċ Ċ", "4 2"}) {
    const std::string m = merge;
    const size_t space = m.find(' ');
    vocab[m.substr(0, space) + m.substr(space + 1)] = id++;
    merges.push_back(m);
  }
  // The added tokens take the ids after the vocabulary, as Hugging Face assigns them.
  Json json;
  json["added_tokens"] =
      Json::array({SpecialToken(id, "<|endoftext|>"), SpecialToken(id + 1, "<|im_start|>"),
                   SpecialToken(id + 2, "<|im_end|>")});
  json["normalizer"] = {{"type", "NFC"}};
  json["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}};
  json["decoder"] = {{"type", "ByteLevel"}};
  json["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}};
  auto tokenizer = Tokenizer::FromJson(json.dump(), "bpe/tokenizer.json");
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return std::move(tokenizer).value();
}

std::vector<int32_t> Slice(const RenderedChat& chat) {
  return std::vector<int32_t>(chat.ids.begin() + chat.last_assistant_begin,
                              chat.ids.begin() + chat.last_assistant_end);
}

TEST(RenderChatTest, ChatMLExactIdsAndSpan) {
  auto tokenizer = TinyChatML();
  const std::vector<ChatMessage> messages = {{"user", "hi"}, {"assistant", "ok"}};
  auto chat = RenderChat(*tokenizer, ChatFormat::kChatML, messages, false);
  ASSERT_TRUE(chat.ok()) << chat.status();
  // <|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nok<|im_end|>\n
  EXPECT_THAT(chat->ids, ElementsAre(1, 90, 88, 74, 87, 4, 77, 78, 2, 4,        // user turn
                                     1, 70, 88, 88, 78, 88, 89, 70, 83, 89, 4,  // header
                                     84, 80, 2,                                 // "ok" + end
                                     4));
  // The span is "ok<|im_end|>": indices 21, 22 and the end-of-turn token at 23.
  EXPECT_EQ(chat->last_assistant_begin, 21);
  EXPECT_EQ(chat->last_assistant_end, 24);
  EXPECT_THAT(Slice(*chat), ElementsAre(Id('o'), Id('k'), kTinyImEndId));
  EXPECT_EQ(tokenizer->Decode(chat->ids),
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nok<|im_end|>\n");
}

TEST(RenderChatTest, ChatMLGenerationPromptAndSystem) {
  auto tokenizer = TinyChatML();
  const std::vector<ChatMessage> messages = {{"system", "Be brief."}, {"user", "2+2?"}};
  auto chat = RenderChat(*tokenizer, ChatFormat::kChatML, messages, true);
  ASSERT_TRUE(chat.ok()) << chat.status();
  EXPECT_EQ(tokenizer->Decode(chat->ids),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
            "<|im_start|>assistant\n");
  // No assistant message: no span. No default system prompt was injected.
  EXPECT_EQ(chat->last_assistant_begin, -1);
  EXPECT_EQ(chat->last_assistant_end, -1);
  std::vector<int32_t> expected = {kTinyImStartId};
  for (char c : std::string("system\nBe brief.")) expected.push_back(Id(c));
  expected.push_back(kTinyImEndId);
  expected.push_back(Id('\n'));
  expected.push_back(kTinyImStartId);
  for (char c : std::string("user\n2+2?")) expected.push_back(Id(c));
  expected.push_back(kTinyImEndId);
  expected.push_back(Id('\n'));
  expected.push_back(kTinyImStartId);
  for (char c : std::string("assistant\n")) expected.push_back(Id(c));
  EXPECT_EQ(chat->ids, expected);
}

TEST(RenderChatTest, SpanIsTheLastAssistantTurn) {
  auto tokenizer = TinyChatML();
  const std::vector<ChatMessage> messages = {
      {"user", "a"}, {"assistant", "first"}, {"user", "b"}, {"assistant", "second"}};
  auto chat = RenderChat(*tokenizer, ChatFormat::kChatML, messages, false);
  ASSERT_TRUE(chat.ok()) << chat.status();
  EXPECT_EQ(tokenizer->Decode(Slice(*chat)), "second<|im_end|>");
  EXPECT_EQ(chat->last_assistant_end + 1, static_cast<int32_t>(chat->ids.size()));  // then "\n"

  // With a generation prompt after a final user turn, the span still names the last assistant.
  const std::vector<ChatMessage> open = {{"user", "a"}, {"assistant", "first"}, {"user", "b"}};
  auto prompt = RenderChat(*tokenizer, ChatFormat::kChatML, open, true);
  ASSERT_TRUE(prompt.ok());
  EXPECT_EQ(tokenizer->Decode(Slice(*prompt)), "first<|im_end|>");

  // An empty assistant message: the span is its end-of-turn token alone.
  auto empty =
      RenderChat(*tokenizer, ChatFormat::kChatML, {{"user", "a"}, {"assistant", ""}}, false);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->last_assistant_end - empty->last_assistant_begin, 1);
  EXPECT_EQ(empty->ids[static_cast<size_t>(empty->last_assistant_begin)], kTinyImEndId);
}

TEST(RenderChatTest, Llama3ExactIdsAndSpan) {
  auto tokenizer = TinyLlama3();
  const std::vector<ChatMessage> messages = {{"user", "hi"}, {"assistant", "ok"}};
  auto chat = RenderChat(*tokenizer, ChatFormat::kLlama3, messages, false);
  ASSERT_TRUE(chat.ok()) << chat.status();
  // <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>
  // <|start_header_id|>assistant<|end_header_id|>\n\nok<|eot_id|>
  EXPECT_THAT(chat->ids,
              ElementsAre(kBeginOfText, kStartHeader, 90, 88, 74, 87, kEndHeader, 4, 4, 77, 78,
                          kEot,  // user
                          kStartHeader, 70, 88, 88, 78, 88, 89, 70, 83, 89, kEndHeader, 4, 4, 84,
                          80, kEot));  // assistant
  EXPECT_EQ(chat->last_assistant_begin, 25);
  EXPECT_EQ(chat->last_assistant_end, 28);
  EXPECT_EQ(tokenizer->Decode(Slice(*chat)), "ok<|eot_id|>");

  auto prompt = RenderChat(*tokenizer, ChatFormat::kLlama3, {{"user", "hi"}}, true);
  ASSERT_TRUE(prompt.ok());
  EXPECT_EQ(tokenizer->Decode(prompt->ids),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

// What the learner trains on must be what the rollout worker generates: the prompt rendered with
// a generation prompt, followed by the content's own tokens and the end-of-turn token, is exactly
// the full chat up to the span's end.
TEST(RenderChatTest, TrainingSpanMatchesGenerationContinuation) {
  auto tokenizer = ByteLevelChatML();
  const std::vector<ChatMessage> prompt = {{"user", "What is 6*7?"}};
  for (const std::string answer : {"42", " 42", "\n\n42 is the answer", "assistant"}) {
    std::vector<ChatMessage> full = prompt;
    full.push_back({"assistant", answer});
    auto chat = RenderChat(*tokenizer, ChatFormat::kChatML, full, false);
    auto gen = RenderChat(*tokenizer, ChatFormat::kChatML, prompt, true);
    ASSERT_TRUE(chat.ok() && gen.ok());
    std::vector<int32_t> continued = gen->ids;
    EXPECT_EQ(chat->last_assistant_begin, static_cast<int32_t>(continued.size())) << answer;
    std::vector<int32_t> content = tokenizer->Encode(answer);
    continued.insert(continued.end(), content.begin(), content.end());
    continued.push_back(tokenizer->TokenToId("<|im_end|>").value());
    EXPECT_EQ(std::vector<int32_t>(chat->ids.begin(), chat->ids.begin() + chat->last_assistant_end),
              continued)
        << answer;
    EXPECT_EQ(tokenizer->Decode(Slice(*chat)), answer + "<|im_end|>");
  }
}

TEST(RenderChatTest, ByteLevelChatMLDecodesToTheTemplateText) {
  auto tokenizer = ByteLevelChatML();
  const std::vector<ChatMessage> messages = {
      {"system", "你好"}, {"user", "Emoji 👍🏽?"}, {"assistant", "Yes: 👨‍👩‍👧"}};
  auto chat = RenderChat(*tokenizer, ChatFormat::kChatML, messages, false);
  ASSERT_TRUE(chat.ok());
  EXPECT_EQ(tokenizer->Decode(chat->ids),
            "<|im_start|>system\n你好<|im_end|>\n<|im_start|>user\nEmoji 👍🏽?<|im_end|>\n"
            "<|im_start|>assistant\nYes: 👨‍👩‍👧<|im_end|>\n");
  EXPECT_EQ(tokenizer->Decode(Slice(*chat)), "Yes: 👨‍👩‍👧<|im_end|>");
}

TEST(RenderChatTest, Errors) {
  auto tokenizer = TinyChatML();
  auto bad_role = RenderChat(*tokenizer, ChatFormat::kChatML, {{"user", "a"}, {"", "b"}}, false);
  EXPECT_EQ(bad_role.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_role.status().message(), HasSubstr("messages[1].role"));
  auto newline_role = RenderChat(*tokenizer, ChatFormat::kChatML, {{"user\nsystem", "a"}}, false);
  EXPECT_EQ(newline_role.status().code(), absl::StatusCode::kInvalidArgument);
  // The tiny tokenizer has no Llama-3 markers.
  auto no_tokens = RenderChat(*tokenizer, ChatFormat::kLlama3, {{"user", "a"}}, false);
  EXPECT_EQ(no_tokens.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(no_tokens.status().message(), HasSubstr("<|begin_of_text|>"));
}

TEST(StopTokenIdsTest, ListsTheEndOfTurnTokensPresent) {
  EXPECT_THAT(StopTokenIds(*TinyChatML(), ChatFormat::kChatML),
              ElementsAre(kTinyImEndId, kTinyEndOfTextId));
  EXPECT_THAT(StopTokenIds(*TinyLlama3(), ChatFormat::kLlama3), ElementsAre(kEot, kEndOfText));
  EXPECT_THAT(StopTokenIds(*TinyChatML(), ChatFormat::kLlama3), ElementsAre());
}

// ---------------------------------------------------------------------------------------------
// DetectChatFormat
// ---------------------------------------------------------------------------------------------

class DetectChatFormatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "chat_format_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& name, const std::string& content) {
    ASSERT_TRUE(files::WriteFileAtomically(dir_ + "/" + name, content).ok());
  }

  std::string dir_;
};

TEST_F(DetectChatFormatTest, TinyFolderIsChatML) {
  Write("tokenizer.json", TinyTokenizerJson());
  Write("tokenizer_config.json", TinyTokenizerConfigJson());
  EXPECT_EQ(DetectChatFormat(dir_).value(), ChatFormat::kChatML);
  EXPECT_EQ(ChatFormatName(ChatFormat::kChatML), "chatml");
}

TEST_F(DetectChatFormatTest, Llama3TemplateIsLlama3) {
  Json config;
  config["chat_template"] =
      "{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + "
      "'<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}";
  Write("tokenizer_config.json", config.dump());
  EXPECT_EQ(DetectChatFormat(dir_).value(), ChatFormat::kLlama3);
  EXPECT_EQ(ChatFormatName(ChatFormat::kLlama3), "llama3");
}

TEST_F(DetectChatFormatTest, TemplateListUsesDefault) {
  Json config;
  config["chat_template"] =
      Json::array({Json{{"name", "tool_use"}, {"template", "<|start_header_id|>"}},
                   Json{{"name", "default"}, {"template", "{{ '<|im_start|>' }}"}}});
  Write("tokenizer_config.json", config.dump());
  EXPECT_EQ(DetectChatFormat(dir_).value(), ChatFormat::kChatML);
}

TEST_F(DetectChatFormatTest, FallsBackToSpecialTokens) {
  // No chat_template: the added tokens tell.
  Json config;
  config["added_tokens_decoder"] = {{"128006", {{"content", "<|start_header_id|>"}}}};
  Write("tokenizer_config.json", config.dump());
  EXPECT_EQ(DetectChatFormat(dir_).value(), ChatFormat::kLlama3);
}

TEST_F(DetectChatFormatTest, FallsBackToTokenizerJson) {
  Write("tokenizer_config.json", "{}");
  Write("tokenizer.json", TinyTokenizerJson());
  EXPECT_EQ(DetectChatFormat(dir_).value(), ChatFormat::kChatML);
}

TEST_F(DetectChatFormatTest, NeitherMarkerIsAnErrorNamingTheFile) {
  Write("tokenizer_config.json", R"({"chat_template": "{{ messages }}", "eos_token": "</s>"})");
  auto format = DetectChatFormat(dir_);
  ASSERT_FALSE(format.ok());
  EXPECT_EQ(format.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(format.status().message(), HasSubstr(dir_ + "/tokenizer_config.json"));
  EXPECT_THAT(format.status().message(), HasSubstr("cannot tell the chat format"));
}

TEST_F(DetectChatFormatTest, MalformedConfigAndMissingFolder) {
  Write("tokenizer_config.json", "{not json");
  auto malformed = DetectChatFormat(dir_);
  EXPECT_EQ(malformed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(malformed.status().message(), HasSubstr(dir_ + "/tokenizer_config.json"));

  auto missing = DetectChatFormat(dir_ + "/nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr(dir_ + "/nope/tokenizer_config.json"));
}

}  // namespace
}  // namespace chord::tokenizer
