#include "common/tokenizer/tokenizer.h"

#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/pre_tokenizer.h"
#include "common/tokenizer/tiny_tokenizer.h"
#include "common/tokenizer/unicode_nfc.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace chord::tokenizer {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using Json = nlohmann::json;
using std::string_literals::operator""s;

// ---------------------------------------------------------------------------------------------
// A hand-built byte-level BPE tokenizer.json.
//
// Base vocabulary: byte b has id b (0..255); its token string is GPT-2's printable stand-in for
// the byte (written out independently of the library below), e.g. ' ' (0x20) is "Ġ" (U+0120).
// Merges, in rank order; the merged token gets id 256 + rank:
//   rank 0  "Ġ h"        -> "Ġh"      256
//   rank 1  "h e"        -> "he"      257
//   rank 2  "l l"        -> "ll"      258
//   rank 3  "he ll"      -> "hell"    259
//   rank 4  "hell o"     -> "hello"   260
//   rank 5  "Ġh e"       -> "Ġhe"     261
//   rank 6  "Ġhe ll"     -> "Ġhell"   262
//   rank 7  "Ġhell o"    -> "Ġhello"  263
//   rank 8  "Ġ w"        -> "Ġw"      264
//   rank 9  "o r"        -> "or"      265
//   rank 10 "Ġw or"      -> "Ġwor"    266
//   rank 11 "l d"        -> "ld"      267
//   rank 12 "Ġwor ld"    -> "Ġworld"  268
//   rank 13 "Ã ©"        -> "Ã©"      269   (é is the bytes C3 A9, shown as Ã ©)
//   rank 14 "l o"        -> "lo"      270
//   rank 15 "2 0"        -> "20"      271
//   rank 16 "2 4"        -> "24"      272
//   rank 17 "20 24"      -> "2024"    273
// One more vocabulary entry that no merge produces: "xyz" 274 (for ignore_merges).
// Added tokens: <|endoftext|> 275, <|im_start|> 276, <|im_end|> 277 (special), <think> 278 (not
// special), so vocab_size() is 279. (Hugging Face gives an added token outside the vocabulary the
// next free id whatever the file says, so the file must list them so.)
// ---------------------------------------------------------------------------------------------

// GPT-2's bytes_to_unicode(), as in its encoder.py.
std::string ByteToken(int b) {
  char32_t cp;
  if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
    cp = static_cast<char32_t>(b);
  } else {
    int n = 0;
    for (int other = 0; other < b; ++other) {
      if (!((other >= '!' && other <= '~') || (other >= 0xA1 && other <= 0xAC) ||
            (other >= 0xAE && other <= 0xFF))) {
        ++n;
      }
    }
    cp = static_cast<char32_t>(256 + n);
  }
  std::string out;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> TestMerges() {
  return {{"Ġ", "h"},     {"h", "e"},     {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {"Ġh", "e"},
          {"Ġhe", "ll"},  {"Ġhell", "o"}, {"Ġ", "w"}, {"o", "r"},   {"Ġw", "or"},  {"l", "d"},
          {"Ġwor", "ld"}, {"Ã", "©"},     {"l", "o"}, {"2", "0"},   {"2", "4"},    {"20", "24"}};
}

Json AddedToken(int id, const std::string& content, bool special) {
  return Json{{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", false},
              {"rstrip", false}, {"normalized", false}, {"special", special}};
}

// The test tokenizer with GPT-2's ByteLevel pre-tokenizer. `merges_as_pairs` writes merges as
// ["a", "b"] (the newer form) instead of "a b".
Json TestBpeJson(bool merges_as_pairs = false) {
  Json vocab = Json::object();
  for (int b = 0; b < 256; ++b) vocab[ByteToken(b)] = b;
  Json merges = Json::array();
  int id = 256;
  for (const auto& [left, right] : TestMerges()) {
    vocab[left + right] = id++;
    if (merges_as_pairs) {
      merges.push_back(Json::array({left, right}));
    } else {
      merges.push_back(left + " " + right);
    }
  }
  vocab["xyz"] = 274;
  Json json;
  json["version"] = "1.0";
  json["added_tokens"] =
      Json::array({AddedToken(275, "<|endoftext|>", true), AddedToken(276, "<|im_start|>", true),
                   AddedToken(277, "<|im_end|>", true), AddedToken(278, "<think>", false)});
  json["normalizer"] = nullptr;
  json["pre_tokenizer"] = {{"type", "ByteLevel"},
                           {"add_prefix_space", false},
                           {"trim_offsets", true},
                           {"use_regex", true}};
  json["post_processor"] = {{"type", "ByteLevel"}};
  json["decoder"] = {{"type", "ByteLevel"}};
  json["model"] = {{"type", "BPE"},
                   {"dropout", nullptr},
                   {"unk_token", nullptr},
                   {"continuing_subword_prefix", ""},
                   {"end_of_word_suffix", ""},
                   {"fuse_unk", false},
                   {"byte_fallback", false},
                   {"ignore_merges", false},
                   {"vocab", vocab},
                   {"merges", merges}};
  return json;
}

// Qwen2's pre-tokenizer: a Split with Qwen2's pattern, then ByteLevel without its own regex.
constexpr char kQwen2Pattern[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

Json Qwen2PreTokenizer() {
  return {{"type", "Sequence"},
          {"pretokenizers", Json::array({Json{{"type", "Split"},
                                              {"pattern", {{"Regex", kQwen2Pattern}}},
                                              {"behavior", "Isolated"},
                                              {"invert", false}},
                                         Json{{"type", "ByteLevel"},
                                              {"add_prefix_space", false},
                                              {"trim_offsets", false},
                                              {"use_regex", false}}})}};
}

std::unique_ptr<Tokenizer> Load(const Json& json) {
  auto tokenizer = Tokenizer::FromJson(json.dump(), "tokenizer.json");
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return tokenizer.ok() ? std::move(tokenizer).value() : nullptr;
}

std::string LoadError(const Json& json) {
  auto tokenizer = Tokenizer::FromJson(json.dump(), "tokenizer.json");
  EXPECT_FALSE(tokenizer.ok());
  EXPECT_EQ(tokenizer.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(tokenizer.status().message());
}

// ---------------------------------------------------------------------------------------------
// Exact ids on the hand-built byte-level BPE.
// ---------------------------------------------------------------------------------------------

TEST(ByteLevelBpeTest, ExactIdsForHandDerivedStrings) {
  auto tokenizer = Load(TestBpeJson());
  ASSERT_NE(tokenizer, nullptr);

  // GPT-2's pattern splits "hello world" into the words "hello" and " world".
  // "hello" = h e l l o. Candidate pairs: (h,e) rank 1, (l,l) 2, (l,o) 14. Lowest rank first:
  //   he; ll; then the new pair (he,ll) rank 3 -> hell; (hell,o) rank 4 -> hello = 260.
  // " world" = Ġ w o r l d: (Ġ,w) 8 -> Ġw; (o,r) 9 -> or; (Ġw,or) 10 -> Ġwor; (l,d) 11 -> ld;
  //   (Ġwor,ld) 12 -> Ġworld = 268.
  EXPECT_THAT(tokenizer->Encode("hello world"), ElementsAre(260, 268));
  // " hello" is one word: Ġ h e l l o. (Ġ,h) rank 0 wins over (h,e) rank 1, which goes stale;
  //   then ll (2), (Ġh,e) 5 -> Ġhe, (Ġhe,ll) 6 -> Ġhell, (Ġhell,o) 7 -> Ġhello = 263.
  EXPECT_THAT(tokenizer->Encode(" hello"), ElementsAre(263));
  // "héllo" = h C3 A9 l l o = h Ã © l l o. Pairs: (Ã,©) rank 13, (l,l) 2, (l,o) 14. ll goes
  //   first, then Ã©; (l,o) is stale. No merge joins h with Ã©: h Ã© ll o.
  EXPECT_THAT(tokenizer->Encode("héllo"), ElementsAre('h', 269, 258, 'o'));
  // Digits: "2024" is one word (\p{N}+): (2,0) 15 -> 20, (2,4) 16 -> 24, (20,24) 17 -> 2024.
  EXPECT_THAT(tokenizer->Encode("2024"), ElementsAre(273));
  // "2025": (2,0) -> 20; no merge joins 20, 2 or 5.
  EXPECT_THAT(tokenizer->Encode("2025"), ElementsAre(271, '2', '5'));
  // A special token in the middle is cut out first; the text on each side is encoded alone.
  EXPECT_THAT(tokenizer->Encode("hello<|endoftext|> world"), ElementsAre(260, 275, 268));
  // "hello " ends its piece, so the space stays alone (\s+(?!\S) at the end) = byte id 32;
  // "world" without its space has no Ġw merge: w, (o,r) -> or, (l,d) -> ld.
  EXPECT_THAT(tokenizer->Encode("hello <|im_start|>world"),
              ElementsAre(260, ' ', 276, 'w', 265, 267));
  // A non-special added token is matched too.
  EXPECT_THAT(tokenizer->Encode("<think>hello"), ElementsAre(278, 260));
  // Newline is byte 0x0A (token "Ċ"), id 10.
  EXPECT_THAT(tokenizer->Encode("\n"), ElementsAre(10));
  EXPECT_THAT(tokenizer->Encode(""), ElementsAre());
}

TEST(ByteLevelBpeTest, MergesAsPairsGiveTheSameIds) {
  auto strings = Load(TestBpeJson(false));
  auto pairs = Load(TestBpeJson(true));
  ASSERT_NE(strings, nullptr);
  ASSERT_NE(pairs, nullptr);
  for (absl::string_view text : {"hello world", " hello héllo", "2024 2025", "lo ll"}) {
    EXPECT_EQ(strings->Encode(text), pairs->Encode(text)) << text;
  }
}

TEST(ByteLevelBpeTest, VocabularyQueries) {
  auto tokenizer = Load(TestBpeJson());
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->vocab_size(), 279);
  EXPECT_EQ(tokenizer->model_type(), "BPE");
  EXPECT_EQ(tokenizer->TokenToId("Ġworld"), 268);
  EXPECT_EQ(tokenizer->TokenToId("Ġ"), 32);
  EXPECT_EQ(tokenizer->TokenToId("<|im_end|>"), 277);
  EXPECT_EQ(tokenizer->TokenToId("nope"), absl::nullopt);
  EXPECT_EQ(tokenizer->IdToToken(268), "Ġworld");
  EXPECT_EQ(tokenizer->IdToToken(276), "<|im_start|>");
  EXPECT_EQ(tokenizer->IdToToken(-1), "");
  EXPECT_EQ(tokenizer->IdToToken(1000), "");
  EXPECT_TRUE(tokenizer->IsSpecial(275));
  EXPECT_FALSE(tokenizer->IsSpecial(278));  // <think> is added but not special
  EXPECT_FALSE(tokenizer->IsSpecial(260));
  EXPECT_FALSE(tokenizer->IsSpecial(9999));
}

TEST(ByteLevelBpeTest, DecodeSkipsSpecialTokensOnRequest) {
  auto tokenizer = Load(TestBpeJson());
  ASSERT_NE(tokenizer, nullptr);
  const std::vector<int32_t> ids = {276, 260, 268, 277, 278};
  EXPECT_EQ(tokenizer->Decode(ids), "<|im_start|>hello world<|im_end|><think>");
  EXPECT_EQ(tokenizer->Decode(ids, /*skip_special_tokens=*/true), "hello world<think>");
  // Unknown ids are skipped.
  EXPECT_EQ(tokenizer->Decode({260, -5, 100000}), "hello");
}

// Round trip of arbitrary text: Decode(Encode(x)) == x, byte for byte.
TEST(ByteLevelBpeTest, RoundTripsMultilingualTextEmojiAndInvalidUtf8) {
  auto gpt2 = Load(TestBpeJson());
  Json qwen_json = TestBpeJson();
  qwen_json["pre_tokenizer"] = Qwen2PreTokenizer();
  qwen_json["normalizer"] = {{"type", "NFC"}};
  auto qwen = Load(qwen_json);
  ASSERT_NE(gpt2, nullptr);
  ASSERT_NE(qwen, nullptr);
  const std::vector<std::string> texts = {
      "hello world",
      "你好，世界！我们今天学习分词器。",
      "مرحبا بالعالم، كيف حالك؟",
      "Привет, мир! Съешь же ещё этих мягких французских булок.",
      "नमस्ते दुनिया, यह एक परीक्षण है।",
      "日本語のテキスト、カタカナとひらがな。",
      "한국어 텍스트",
      "Emoji: 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🧑🏿‍💻 ❤️‍🔥 "
      "🇫🇷",
      "   leading and trailing spaces   \n\n\ttabs\r\n",
      "The answer is \\boxed{42}. 3.14159 + 2 = 5.14159; x^2 - 4x + 4 = 0",
      "it's they're I'M we've you'll he'd",
      "mixed<|im_start|>special<|im_end|>\n<think>tokens</think>",
      "bytes \xff\xfe invalid \xc3\x28 utf8 \xe2\x82 end \x80"s,
      "\0nul\0inside"s,
  };
  for (const std::string& text : texts) {
    EXPECT_EQ(gpt2->Decode(gpt2->Encode(text)), text) << "gpt2 pattern: " << text;
    // Already-NFC text (every string above except the invalid bytes, which NFC passes through)
    // comes back unchanged through the NFC normalizer too.
    EXPECT_EQ(qwen->Decode(qwen->Encode(text)), text) << "qwen2 pattern: " << text;
  }
  // Every byte value, in every position.
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  EXPECT_EQ(gpt2->Decode(gpt2->Encode(all_bytes)), all_bytes);
  EXPECT_EQ(qwen->Decode(qwen->Encode(all_bytes)), all_bytes);
  // Decoding token by token and joining gives the same bytes (streaming decode).
  std::string joined;
  for (int32_t id : gpt2->Encode(texts[7])) joined += gpt2->Decode({id});
  EXPECT_EQ(joined, texts[7]);
}

TEST(ByteLevelBpeTest, CombiningMarksAreNormalizedToNfcWhenTheFileAsksForIt) {
  Json plain_json = TestBpeJson();
  Json nfc_json = TestBpeJson();
  nfc_json["normalizer"] = {{"type", "NFC"}};
  auto plain = Load(plain_json);
  auto nfc = Load(nfc_json);
  ASSERT_NE(plain, nullptr);
  ASSERT_NE(nfc, nullptr);
  const std::string decomposed = "he\xcc\x81llo";  // e + U+0301 COMBINING ACUTE ACCENT
  // Without a normalizer the combining mark stays two bytes (CC 81 = ids 204, 129): he, CC, 81,
  // ll, o.
  EXPECT_THAT(plain->Encode(decomposed), ElementsAre(257, 204, 129, 258, 'o'));
  EXPECT_EQ(plain->Decode(plain->Encode(decomposed)), decomposed);
  // With NFC it becomes "héllo" first.
  EXPECT_THAT(nfc->Encode(decomposed), ElementsAre('h', 269, 258, 'o'));
  EXPECT_EQ(nfc->Decode(nfc->Encode(decomposed)), "héllo");
}

TEST(ByteLevelBpeTest, Qwen2SplitSequenceIsolatesDigits) {
  Json json = TestBpeJson();
  json["pre_tokenizer"] = Qwen2PreTokenizer();
  auto tokenizer = Load(json);
  ASSERT_NE(tokenizer, nullptr);
  // Qwen2's pattern takes one digit per word (\p{N}), so "2024" never merges; GPT-2's gives 273.
  EXPECT_THAT(tokenizer->Encode("2024"), ElementsAre('2', '0', '2', '4'));
  // Letters keep one leading non-letter: "hello", " world".
  EXPECT_THAT(tokenizer->Encode("hello world"), ElementsAre(260, 268));
  // Case-insensitive contractions: "'S" is one word under Qwen2's (?i:...), the ids are bytes.
  EXPECT_THAT(tokenizer->Encode("it'S"), ElementsAre('i', 't', '\'', 'S'));
  // \s*[\r\n]+ keeps "\n\n" together; the word then has no merge, so two newline bytes.
  EXPECT_THAT(tokenizer->Encode("\n\nhello"), ElementsAre(10, 10, 260));
}

TEST(ByteLevelBpeTest, IgnoreMergesTakesWholeWordsFromTheVocabulary) {
  Json json = TestBpeJson();
  auto without = Load(json);
  json["model"]["ignore_merges"] = true;
  auto with = Load(json);
  ASSERT_NE(without, nullptr);
  ASSERT_NE(with, nullptr);
  // "xyz" is in the vocabulary but no merge builds it.
  EXPECT_THAT(without->Encode("xyz"), ElementsAre('x', 'y', 'z'));
  EXPECT_THAT(with->Encode("xyz"), ElementsAre(274));
  // Other words merge as before.
  EXPECT_EQ(with->Encode("hello world héllo"), without->Encode("hello world héllo"));
}

TEST(ByteLevelBpeTest, AddPrefixSpace) {
  Json json = TestBpeJson();
  json["pre_tokenizer"]["add_prefix_space"] = true;
  auto tokenizer = Load(json);
  ASSERT_NE(tokenizer, nullptr);
  // "hello" becomes " hello" = Ġhello.
  EXPECT_THAT(tokenizer->Encode("hello"), ElementsAre(263));
  EXPECT_THAT(tokenizer->Encode(" hello"), ElementsAre(263));
}

TEST(ByteLevelBpeTest, PostProcessorTemplateAddsBosOnlyOnRequest) {
  Json json = TestBpeJson();
  json["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", Json::array({Json{{"SpecialToken", {{"id", "<|im_start|>"}, {"type_id", 0}}}},
                              Json{{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                              Json{{"SpecialToken", {{"id", "<|im_end|>"}, {"type_id", 0}}}}})},
      {"pair", Json::array()},
      {"special_tokens",
       {{"<|im_start|>", {{"id", "<|im_start|>"}, {"ids", {276}}, {"tokens", {"<|im_start|>"}}}}}}};
  auto tokenizer = Load(json);
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_THAT(tokenizer->Encode("hello"), ElementsAre(260));
  // <|im_start|> from special_tokens, <|im_end|> (not listed there) from the vocabulary.
  EXPECT_THAT(tokenizer->EncodeWithSpecialTokens("hello"), ElementsAre(276, 260, 277));
}

// The ids a post-processor inserts must be ids of the tokenizer: the model has no embedding row
// for any other (found by fuzz_tokenizer_json).
TEST(ByteLevelBpeTest, PostProcessorIdsOutsideTheVocabularyAreRefused) {
  Json json = TestBpeJson();
  json["post_processor"] = {
      {"type", "BertProcessing"}, {"cls", {"<|im_start|>", 100000}}, {"sep", {"<|im_end|>", 277}}};
  EXPECT_THAT(LoadError(json),
              HasSubstr("post_processor.cls[1]: token id 100000 is not in the vocabulary"));
  json["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", Json::array({Json{{"SpecialToken", {{"id", "<|im_start|>"}, {"type_id", 0}}}},
                              Json{{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
      {"special_tokens", {{"<|im_start|>", {{"id", "<|im_start|>"}, {"ids", {276, 100000}}}}}}};
  EXPECT_THAT(LoadError(json), HasSubstr("ids[1]: token id 100000 is not in the vocabulary"));
}

TEST(ByteLevelBpeTest, ConcurrentEncodeMatchesSerial) {
  auto tokenizer = Load(TestBpeJson());
  ASSERT_NE(tokenizer, nullptr);
  std::vector<std::string> texts;
  for (int i = 0; i < 64; ++i) {
    texts.push_back(
        absl::StrCat("hello world ", i, " héllo 你好 👍🏽 ", std::string(i, 'l')));
  }
  std::vector<std::vector<int32_t>> expected;
  for (const auto& text : texts) expected.push_back(tokenizer->Encode(text));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        for (size_t i = 0; i < texts.size(); ++i) {
          if (tokenizer->Encode(texts[i]) != expected[i]) ++mismatches[static_cast<size_t>(t)];
          if (tokenizer->Decode(expected[i]) != texts[i]) ++mismatches[static_cast<size_t>(t)];
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_THAT(mismatches, ElementsAre(0, 0, 0, 0));
}

TEST(ByteLevelBpeTest, AddedTokenOptionsLstripRstripSingleWord) {
  Json json = TestBpeJson();
  Json mask = AddedToken(279, "<mask>", true);
  mask["lstrip"] = true;  // swallows the whitespace before it
  Json x = AddedToken(280, "[X]", false);
  x["rstrip"] = true;  // swallows the whitespace after it
  Json cat = AddedToken(281, "cat", false);
  cat["single_word"] = true;  // only when no word character touches it
  Json both = AddedToken(282, "<both>", true);
  both["lstrip"] = true;
  both["rstrip"] = true;
  for (const Json& token : {mask, x, cat, both}) json["added_tokens"].push_back(token);
  auto tokenizer = Load(json);
  ASSERT_NE(tokenizer, nullptr);
  // The expected ids are those of Hugging Face's tokenizers on the same file.
  EXPECT_THAT(tokenizer->Encode("hello  <mask> world"), ElementsAre(260, 279, 268));
  EXPECT_THAT(tokenizer->Encode("hello <mask><mask>"), ElementsAre(260, 279, 279));
  EXPECT_THAT(tokenizer->Encode("[X]   hello"), ElementsAre(280, 260));
  EXPECT_THAT(tokenizer->Encode("a [X]\n\nb"), ElementsAre('a', ' ', 280, 'b'));
  EXPECT_THAT(tokenizer->Encode("cat"), ElementsAre(281));
  EXPECT_THAT(tokenizer->Encode("concat"), ElementsAre('c', 'o', 'n', 'c', 'a', 't'));
  EXPECT_THAT(tokenizer->Encode("cat!"), ElementsAre(281, '!'));
  EXPECT_THAT(tokenizer->Encode("the cat sat"),
              ElementsAre('t', 257, ' ', 281, ' ', 's', 'a', 't'));
  EXPECT_THAT(tokenizer->Encode("cats"), ElementsAre('c', 'a', 't', 's'));
  EXPECT_THAT(tokenizer->Encode("_cat"), ElementsAre('_', 'c', 'a', 't'));
  EXPECT_THAT(tokenizer->Encode("écat"), ElementsAre(269, 'c', 'a', 't'));
  EXPECT_THAT(tokenizer->Encode("cat\u0301"), ElementsAre('c', 'a', 't', 204, 129));  // a mark
  EXPECT_THAT(tokenizer->Encode("x <both>  y"), ElementsAre('x', 282, 'y'));
  EXPECT_THAT(tokenizer->Encode(" \t<both>\u3000z"), ElementsAre(282, 'z'));
}

TEST(ByteLevelBpeTest, VeryLongRunsRoundTrip) {
  Json json = TestBpeJson();
  json["pre_tokenizer"] = Qwen2PreTokenizer();
  auto tokenizer = Load(json);
  ASSERT_NE(tokenizer, nullptr);
  for (const std::string& text :
       {std::string(200000, ' '), std::string(200000, 'l'), std::string(100000, '\n'),
        absl::StrCat(std::string(50000, ' '), "x", std::string(50000, '\t'))}) {
    EXPECT_EQ(tokenizer->Decode(tokenizer->Encode(text)), text);
  }
}

// ---------------------------------------------------------------------------------------------
// WordLevel and the tiny default.
// ---------------------------------------------------------------------------------------------

int32_t TinyId(char c) { return kTinyFirstPrintableId + (c - 0x20); }

TEST(TinyTokenizerTest, IsDeterministicAndHasTheDocumentedVocabulary) {
  EXPECT_EQ(TinyTokenizerJson(), TinyTokenizerJson());
  EXPECT_EQ(TinyTokenizerConfigJson(), TinyTokenizerConfigJson());
  auto tokenizer = Tokenizer::FromJson(TinyTokenizerJson(), "tiny/tokenizer.json");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  const Tokenizer& t = **tokenizer;
  EXPECT_EQ(t.model_type(), "WordLevel");
  EXPECT_EQ(t.vocab_size(), kTinyVocabSize);
  EXPECT_EQ(t.TokenToId("<|endoftext|>"), kTinyEndOfTextId);
  EXPECT_EQ(t.TokenToId("<|im_start|>"), kTinyImStartId);
  EXPECT_EQ(t.TokenToId("<|im_end|>"), kTinyImEndId);
  EXPECT_EQ(t.TokenToId("<|unk|>"), kTinyUnkId);
  EXPECT_EQ(t.TokenToId("\n"), kTinyNewlineId);
  for (int id = 0; id < 4; ++id) EXPECT_TRUE(t.IsSpecial(id)) << id;
  for (int id = 4; id < kTinyVocabSize; ++id) EXPECT_FALSE(t.IsSpecial(id)) << id;
  // Every printable ASCII character, at id c - 0x20 + 5: digits, operators, letters, \ { }.
  for (char c = 0x20; c <= 0x7E; ++c) {
    EXPECT_EQ(t.TokenToId(std::string(1, c)), TinyId(c)) << c;
    EXPECT_EQ(t.IdToToken(TinyId(c)), std::string(1, c));
  }
  for (char c : std::string("0123456789+-*/=()<>^%.,:;azAZ\\{}")) {
    EXPECT_TRUE(t.TokenToId(std::string(1, c)).has_value()) << c;
  }
  EXPECT_EQ(TinyId('0'), 21);
  EXPECT_EQ(TinyId('a'), 70);
  EXPECT_EQ(TinyId('~'), 99);
  // The config names ChatML and the eos/pad tokens.
  const Json config = Json::parse(TinyTokenizerConfigJson());
  EXPECT_THAT(config["chat_template"].get<std::string>(), HasSubstr("<|im_start|>"));
  EXPECT_EQ(config["eos_token"], "<|im_end|>");
  EXPECT_EQ(config["pad_token"], "<|endoftext|>");
}

TEST(TinyTokenizerTest, WordLevelRoundTripsAsciiAndMapsTheRestToUnk) {
  auto tokenizer = Tokenizer::FromJson(TinyTokenizerJson(), "tiny/tokenizer.json");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  const Tokenizer& t = **tokenizer;
  const std::string text = "Compute 12*(3+4) = 84.\nThe answer is \\boxed{84}.";
  const std::vector<int32_t> ids = t.Encode(text);
  ASSERT_EQ(ids.size(), text.size());  // one id per character
  for (size_t i = 0; i < text.size(); ++i) {
    EXPECT_EQ(ids[i], text[i] == '\n' ? kTinyNewlineId : TinyId(text[i])) << i;
  }
  EXPECT_EQ(t.Decode(ids), text);
  // Every printable character and newline round-trips.
  std::string all = "\n";
  for (char c = 0x20; c <= 0x7E; ++c) all.push_back(c);
  EXPECT_EQ(t.Decode(t.Encode(all)), all);
  // Markers written in the text are matched whole.
  EXPECT_THAT(t.Encode("<|im_start|>ab<|im_end|>"),
              ElementsAre(kTinyImStartId, TinyId('a'), TinyId('b'), kTinyImEndId));
  // A tab, an accented letter and an emoji are one character each, each unknown.
  EXPECT_THAT(t.Encode("a\té👍b"),
              ElementsAre(TinyId('a'), kTinyUnkId, kTinyUnkId, kTinyUnkId, TinyId('b')));
  EXPECT_EQ(t.Decode(t.Encode("a\tb")), "a<|unk|>b");
  EXPECT_EQ(t.Decode(t.Encode("a\tb"), /*skip_special_tokens=*/true), "ab");
}

// ---------------------------------------------------------------------------------------------
// Pre-tokenizer behaviours, NFC, refusals.
// ---------------------------------------------------------------------------------------------

std::vector<std::string> SplitWith(const Json& spec, absl::string_view text) {
  auto pre = internal::PreTokenizer::FromJson(spec, internal::JsonPath("test"));
  EXPECT_TRUE(pre.ok()) << pre.status();
  if (!pre.ok()) return {};
  std::vector<absl::string_view> words;
  std::deque<std::string> storage;
  (*pre)->Split(text, &words, &storage);
  return std::vector<std::string>(words.begin(), words.end());
}

TEST(PreTokenizerTest, SplitBehavioursMatchHuggingFaceDocs) {
  // The examples of Hugging Face's SplitDelimiterBehavior documentation.
  const auto split = [](const char* behavior) {
    return Json{{"type", "Split"},
                {"pattern", {{"String", "-"}}},
                {"behavior", behavior},
                {"invert", false}};
  };
  const absl::string_view text = "the-final--countdown";
  EXPECT_THAT(SplitWith(split("Removed"), text), ElementsAre("the", "final", "countdown"));
  EXPECT_THAT(SplitWith(split("Isolated"), text),
              ElementsAre("the", "-", "final", "-", "-", "countdown"));
  EXPECT_THAT(SplitWith(split("MergedWithPrevious"), text),
              ElementsAre("the-", "final-", "-", "countdown"));
  EXPECT_THAT(SplitWith(split("MergedWithNext"), text),
              ElementsAre("the", "-final", "-", "-countdown"));
  EXPECT_THAT(SplitWith(split("Contiguous"), text),
              ElementsAre("the", "-", "final", "--", "countdown"));
  // invert: the pattern matches the words, the rest is the delimiter.
  EXPECT_THAT(SplitWith(Json{{"type", "Split"},
                             {"pattern", {{"Regex", "\\p{L}+"}}},
                             {"behavior", "Removed"},
                             {"invert", true}},
                        text),
              ElementsAre("the", "final", "countdown"));
}

TEST(PreTokenizerTest, Gpt2PatternWords) {
  const Json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}};
  EXPECT_THAT(SplitWith(byte_level, "Hello world, it's 2024!!  ok\n"),
              ElementsAre("Hello", " world", ",", " it", "'s", " 2024", "!!", " ", " ok", "\n"));
}

TEST(NfcTest, MatchesUnicodeReferenceVectors) {
  // Expected values from Python's unicodedata.normalize("NFC", ...).
  EXPECT_EQ(internal::NormalizeNfc("e\u0301"), "\u00e9");
  EXPECT_EQ(internal::NormalizeNfc("\u1100\u1161\u11a8"), "\uac01");  // Hangul L V T
  EXPECT_EQ(internal::NormalizeNfc("\uf900"), "\u8c48");              // CJK compatibility ideograph
  EXPECT_EQ(internal::NormalizeNfc("q\u0307\u0323"), "q\u0323\u0307");  // reordering only
  EXPECT_EQ(internal::NormalizeNfc("\u212b"), "\u00c5");                // Angstrom sign
  EXPECT_EQ(internal::NormalizeNfc("a\u0328\u0301"), "\u0105\u0301");
  EXPECT_EQ(internal::NormalizeNfc("\u0301a"), "\u0301a");  // leading mark
  EXPECT_EQ(internal::NormalizeNfc("\u1e9b\u0323"), "\u1e9b\u0323");
  EXPECT_EQ(internal::NormalizeNfc("\u0958"), "\u0915\u093c");  // composition exclusion
  EXPECT_EQ(internal::NormalizeNfc("\u3071\u309a"), "\u3071\u309a");
  EXPECT_EQ(internal::NormalizeNfc("한국어 中文 plain"), "한국어 中文 plain");
  // Invalid bytes pass through and block composition.
  EXPECT_EQ(internal::NormalizeNfc("e\xff\u0301"), "e\xff\u0301");
  EXPECT_TRUE(internal::IsNfcQuickYes("plain ASCII and 中文"));
  EXPECT_FALSE(internal::IsNfcQuickYes("e\u0301"));
}

TEST(LoadErrorTest, UnsupportedComponentsAreRefusedWithTheJsonPath) {
  Json json = TestBpeJson();
  json["model"]["type"] = "Unigram";
  EXPECT_THAT(LoadError(json), HasSubstr("tokenizer.json: model.type: unsupported \"Unigram\""));

  json = TestBpeJson();
  json["model"]["type"] = "WordPiece";
  EXPECT_THAT(LoadError(json), HasSubstr("model.type: unsupported \"WordPiece\""));

  json = TestBpeJson();
  json["normalizer"] = {{"type", "NFKC"}};
  EXPECT_THAT(LoadError(json), HasSubstr("normalizer.type: unsupported \"NFKC\""));

  json = TestBpeJson();
  json["normalizer"] = {
      {"type", "Sequence"},
      {"normalizers", Json::array({Json{{"type", "NFC"}}, Json{{"type", "Lowercase"}}})}};
  EXPECT_THAT(LoadError(json), HasSubstr("normalizer.normalizers[1].type: unsupported"));

  json = TestBpeJson();
  json["pre_tokenizer"] = {{"type", "Metaspace"}};
  EXPECT_THAT(LoadError(json), HasSubstr("pre_tokenizer.type: unsupported \"Metaspace\""));

  json = TestBpeJson();
  json["decoder"] = {{"type", "WordPiece"}};
  EXPECT_THAT(LoadError(json), HasSubstr("decoder.type: unsupported \"WordPiece\""));

  json = TestBpeJson();
  json["post_processor"] = {{"type", "Weird"}};
  EXPECT_THAT(LoadError(json), HasSubstr("post_processor.type: unsupported \"Weird\""));

  json = TestBpeJson();
  json["model"]["byte_fallback"] = true;
  EXPECT_THAT(LoadError(json), HasSubstr("model.byte_fallback"));

  json = TestBpeJson();
  json["model"]["dropout"] = 0.1;
  EXPECT_THAT(LoadError(json), HasSubstr("model.dropout"));

  // A BPE that is not byte-level.
  json = TestBpeJson();
  json["pre_tokenizer"] = {
      {"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "Removed"}};
  EXPECT_THAT(LoadError(json), HasSubstr("pre_tokenizer: a BPE model needs a ByteLevel"));

  // ByteLevel must come last.
  json = TestBpeJson();
  json["pre_tokenizer"] = Qwen2PreTokenizer();
  std::swap(json["pre_tokenizer"]["pretokenizers"][0], json["pre_tokenizer"]["pretokenizers"][1]);
  EXPECT_THAT(LoadError(json), HasSubstr("pre_tokenizer.pretokenizers[0]: a ByteLevel"));
}

TEST(LoadErrorTest, MalformedContentNamesTheFileAndPath) {
  Json json = TestBpeJson();
  json["model"]["merges"][12] = "Ġwor zzz";
  EXPECT_THAT(LoadError(json),
              HasSubstr("tokenizer.json: model.merges[12]: \"zzz\" is not in model.vocab"));

  json = TestBpeJson();
  json["model"]["merges"][3] = "hello";
  EXPECT_THAT(LoadError(json), HasSubstr("model.merges[3]: expected \"left right\""));

  json = TestBpeJson();
  json["model"]["merges"].push_back("x y");
  EXPECT_THAT(LoadError(json), HasSubstr("model.merges[18]: the merged token \"xy\""));

  json = TestBpeJson();
  json["model"]["vocab"]["hello"] = "five";
  EXPECT_THAT(LoadError(json), HasSubstr("model.vocab.hello: expected a token id"));

  json = TestBpeJson();
  json["model"]["vocab"]["dup"] = 5;
  EXPECT_THAT(LoadError(json), HasSubstr("model.vocab: id 5 is used by both"));

  // Hugging Face would give <|im_start|> id 276 (the next after <|endoftext|>), not 300.
  json = TestBpeJson();
  json["added_tokens"][1]["id"] = 300;
  EXPECT_THAT(LoadError(json),
              HasSubstr("added_tokens[1].id: the file gives \"<|im_start|>\" id 300 but Hugging "
                        "Face's tokenizers would give it id 276"));

  json = TestBpeJson();
  json["pre_tokenizer"] = Qwen2PreTokenizer();
  json["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
  EXPECT_THAT(LoadError(json),
              HasSubstr("pre_tokenizer.pretokenizers[0].pattern.Regex: regex does not compile"));

  json = TestBpeJson();
  json.erase("model");
  EXPECT_THAT(LoadError(json), HasSubstr("tokenizer.json: model: missing"));

  Json word_level = Json::parse(TinyTokenizerJson());
  word_level["model"]["unk_token"] = "<nope>";
  EXPECT_THAT(LoadError(word_level), HasSubstr("model.unk_token: \"<nope>\" is not in"));

  auto bad = Tokenizer::FromJson("{\"model\": [1, 2", "some/dir/tokenizer.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("some/dir/tokenizer.json: "));
  EXPECT_THAT(bad.status().message(), HasSubstr("parse error"));
}

// tokenizer.json text with `component` (e.g. "pre_tokenizer") replaced by `inner` wrapped in
// `levels` Sequences of it (built as text: nlohmann's dump() recurses once per level).
std::string NestedSequenceJson(const std::string& component, const std::string& list_key,
                               const std::string& inner, int levels) {
  Json json = TestBpeJson();
  json[component] = "@NESTED@";
  std::string text = json.dump();
  std::string nested;
  for (int i = 0; i < levels; ++i) {
    absl::StrAppend(&nested, R"({"type": "Sequence", ")", list_key, R"(": [)");
  }
  nested += inner;
  for (int i = 0; i < levels; ++i) nested += "]}";
  const size_t at = text.find("\"@NESTED@\"");
  EXPECT_NE(at, std::string::npos);
  return text.replace(at, 10, nested);
}

// Each Sequence level is one recursive call while loading: deep nesting is refused with the path
// instead of overflowing the stack (100000 levels crashed before the bound).
TEST(LoadErrorTest, DeeplyNestedSequencesAreRefused) {
  struct Case {
    std::string component, list_key, inner;
  };
  for (const Case& c : {Case{"normalizer", "normalizers", R"({"type": "NFC"})"},
                        Case{"pre_tokenizer", "pretokenizers",
                             R"({"type": "ByteLevel", "add_prefix_space": false})"},
                        Case{"post_processor", "processors", R"({"type": "ByteLevel"})"},
                        Case{"decoder", "decoders", R"({"type": "ByteLevel"})"}}) {
    SCOPED_TRACE(c.component);
    auto ok = Tokenizer::FromJson(NestedSequenceJson(c.component, c.list_key, c.inner, 16),
                                  "tokenizer.json");
    ASSERT_TRUE(ok.ok()) << ok.status();
    EXPECT_EQ((*ok)->Decode((*ok)->Encode("hello world")), "hello world");
    for (int levels : {17, 100000}) {
      auto deep = Tokenizer::FromJson(NestedSequenceJson(c.component, c.list_key, c.inner, levels),
                                      "tokenizer.json");
      ASSERT_FALSE(deep.ok());
      EXPECT_EQ(deep.status().code(), absl::StatusCode::kInvalidArgument);
      std::string path = c.component;
      for (int i = 0; i < 16; ++i) absl::StrAppend(&path, ".", c.list_key, "[0]");
      EXPECT_EQ(deep.status().message(),
                absl::StrCat("tokenizer.json: ", path, ": Sequence nested deeper than 16 levels"));
    }
  }
}

TEST(LoadErrorTest, MissingFileIsNotFound) {
  auto missing = Tokenizer::FromFile("/nonexistent/dir/tokenizer.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("/nonexistent/dir/tokenizer.json"));
}

TEST(ByteLevelTableTest, MatchesGpt2AndInverts) {
  for (int b = 0; b < 256; ++b) {
    const std::string token = ByteToken(b);
    EXPECT_EQ(internal::BytesToByteLevel(std::string(1, static_cast<char>(b))), token) << b;
    EXPECT_EQ(internal::ByteLevelToBytes(token), std::string(1, static_cast<char>(b))) << b;
  }
  EXPECT_EQ(internal::BytesToByteLevel(" hello\n"), "ĠhelloĊ");
  EXPECT_EQ(internal::ByteLevelToBytes("<|im_start|>"), "<|im_start|>");
  EXPECT_EQ(internal::ByteLevelToBytes(" "), absl::nullopt);  // a raw space is not in the table
}

}  // namespace
}  // namespace chord::tokenizer
