#include "tests/fuzz/fuzz_support.h"

#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/tiny_tokenizer.h"
#include "nlohmann/json.hpp"

namespace chord::fuzz {

const std::string& ScratchDir() {
  static const std::string* dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/chord-fuzz-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    // Removed at exit; a crash leaves it behind (it is under $TMPDIR).
    static const std::string removed_at_exit = pattern;
    std::atexit([] {
      std::error_code error;
      std::filesystem::remove_all(removed_at_exit, error);
    });
    return new std::string(pattern);
  }();
  return *dir;
}

void WriteFileOrDie(const std::string& path, absl::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  out.close();
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    std::abort();
  }
}

namespace {

using Json = nlohmann::json;

constexpr const char* kMarkers[] = {"<|endoftext|>",     "<|im_start|>",    "<|im_end|>",
                                    "<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                                    "<|end_header_id|>", "<|eot_id|>",      "<|eom_id|>"};

Json SpecialToken(int id, const std::string& content) {
  return Json{{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", false},
              {"rstrip", false}, {"normalized", false}, {"special", true}};
}

std::unique_ptr<tokenizer::Tokenizer> LoadOrDie(const Json& json, const char* name) {
  auto loaded = tokenizer::Tokenizer::FromJson(json.dump(), name);
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s\n", loaded.status().ToString().c_str());
    std::abort();
  }
  return std::move(loaded).value();
}

Json ByteLevelBpeJson() {
  Json vocab = Json::object();
  for (int b = 0; b < 256; ++b) {
    vocab[tokenizer::internal::BytesToByteLevel(std::string(1, static_cast<char>(b)))] = b;
  }
  Json merges = Json::array();
  int id = 256;
  for (const char* merge : {"a s", "as s", "i s", "t a", "n t", "ta nt", "ass is", "assis tant",
                            "Ġ 4", "Ċ Ċ", "4 2", "u s", "us e", "Ġ t", "h e", "Ġt he"}) {
    const std::string m = merge;
    const size_t space = m.find(' ');
    vocab[m.substr(0, space) + m.substr(space + 1)] = id++;
    merges.push_back(m);
  }
  Json json;
  json["added_tokens"] = Json::array();
  for (const char* marker : kMarkers) json["added_tokens"].push_back(SpecialToken(id++, marker));
  json["normalizer"] = nullptr;
  json["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}};
  json["decoder"] = {{"type", "ByteLevel"}};
  json["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}};
  return json;
}

}  // namespace

const tokenizer::Tokenizer& Gpt2StyleTokenizer() {
  static const tokenizer::Tokenizer* t = LoadOrDie(ByteLevelBpeJson(), "gpt2-style").release();
  return *t;
}

const tokenizer::Tokenizer& Qwen2StyleTokenizer() {
  static const tokenizer::Tokenizer* t = [] {
    Json json = ByteLevelBpeJson();
    json["normalizer"] = {{"type", "NFC"}};
    json["pre_tokenizer"] = {
        {"type", "Sequence"},
        {"pretokenizers",
         Json::array(
             {Json{
                  {"type", "Split"},
                  {"pattern",
                   {{"Regex",
                     R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}}},
                  {"behavior", "Isolated"},
                  {"invert", false}},
              Json{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}};
    return LoadOrDie(json, "qwen2-style").release();
  }();
  return *t;
}

const tokenizer::Tokenizer& TinyTokenizer() {
  static const tokenizer::Tokenizer* t = [] {
    Json json = Json::parse(tokenizer::TinyTokenizerJson());
    int id = tokenizer::kTinyVocabSize;
    for (const char* marker : kMarkers) {
      const std::string content = marker;
      if (content == "<|endoftext|>" || content == "<|im_start|>" || content == "<|im_end|>") {
        continue;  // the tiny vocabulary has them
      }
      json["added_tokens"].push_back(SpecialToken(id++, content));
    }
    return LoadOrDie(json, "tiny").release();
  }();
  return *t;
}

bool IsValidUtf8(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    size_t length;
    uint32_t code;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
      code = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      code = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      code = c & 0x07;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      const auto b = static_cast<unsigned char>(text[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      code = (code << 6) | (b & 0x3F);
    }
    if ((length == 3 && code < 0x800) || (length == 4 && (code < 0x10000 || code > 0x10FFFF)) ||
        (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    i += length;
  }
  return true;
}

}  // namespace chord::fuzz
