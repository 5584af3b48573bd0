#include "common/tokenizer/tiny_tokenizer.h"

#include <utility>
#include <vector>

#include "nlohmann/json.hpp"

namespace chord::tokenizer {
namespace {

using OrderedJson = nlohmann::ordered_json;

// The special tokens, in id order.
constexpr const char* kSpecialTokens[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|unk|>"};

// Every token of the vocabulary, in id order.
std::vector<std::string> TinyVocabulary() {
  std::vector<std::string> tokens(std::begin(kSpecialTokens), std::end(kSpecialTokens));
  tokens.emplace_back("\n");
  for (char c = 0x20; c <= 0x7E; ++c) tokens.emplace_back(1, c);
  return tokens;
}

OrderedJson AddedTokenJson(int32_t id, const std::string& content) {
  OrderedJson token;
  token["id"] = id;
  token["content"] = content;
  token["single_word"] = false;
  token["lstrip"] = false;
  token["rstrip"] = false;
  token["normalized"] = false;
  token["special"] = true;
  return token;
}

}  // namespace

std::string TinyTokenizerJson() {
  const std::vector<std::string> vocabulary = TinyVocabulary();
  OrderedJson json;
  json["version"] = "1.0";
  json["truncation"] = nullptr;
  json["padding"] = nullptr;
  OrderedJson added = OrderedJson::array();
  for (int32_t id = 0; id < 4; ++id) added.push_back(AddedTokenJson(id, kSpecialTokens[id]));
  json["added_tokens"] = std::move(added);
  json["normalizer"] = nullptr;
  // One word per character; [\s\S] (not ".") matches newlines in PCRE2 and Oniguruma alike.
  json["pre_tokenizer"] = {{"type", "Split"},
                           {"pattern", {{"Regex", "[\\s\\S]"}}},
                           {"behavior", "Isolated"},
                           {"invert", false}};
  json["post_processor"] = nullptr;
  json["decoder"] = {{"type", "Fuse"}};
  OrderedJson vocab = OrderedJson::object();
  for (size_t id = 0; id < vocabulary.size(); ++id) vocab[vocabulary[id]] = id;
  json["model"] = {{"type", "WordLevel"}, {"vocab", std::move(vocab)}, {"unk_token", "<|unk|>"}};
  return json.dump(2) + "\n";
}

std::string TinyTokenizerConfigJson() {
  OrderedJson json;
  json["tokenizer_class"] = "PreTrainedTokenizerFast";
  OrderedJson decoder = OrderedJson::object();
  for (int32_t id = 0; id < 4; ++id) {
    OrderedJson token = AddedTokenJson(id, kSpecialTokens[id]);
    token.erase("id");
    decoder[std::to_string(id)] = std::move(token);
  }
  json["added_tokens_decoder"] = std::move(decoder);
  json["bos_token"] = nullptr;
  json["eos_token"] = "<|im_end|>";
  json["pad_token"] = "<|endoftext|>";
  json["unk_token"] = "<|unk|>";
  json["additional_special_tokens"] = {"<|im_start|>", "<|im_end|>"};
  json["clean_up_tokenization_spaces"] = false;
  // ChatML, as Qwen2 writes it, without Qwen2's default system prompt.
  json["chat_template"] =
      "{% for message in messages %}"
      "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
      "{% endfor %}"
      "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
  return json.dump(2) + "\n";
}

}  // namespace chord::tokenizer
