#pragma once

// The added-token stage of tokenizer.json (`added_tokens`): before normalisation and
// pre-tokenisation, occurrences of added tokens are cut out of the text and map straight to their
// ids, the rest is left for the model. Matching is leftmost-longest and non-overlapping, as in
// Hugging Face's AddedVocabulary; `lstrip` / `rstrip` swallow the whitespace beside a match and
// `single_word` only accepts a match with no word character (Unicode \w) on either side.
//
// Thread safety: immutable after construction; Split may be called concurrently.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/tokenizer/pre_tokenizer.h"

namespace chord::tokenizer::internal {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
};

// A piece of text: plain text (token_id == -1) or one added token's match.
struct TextSegment {
  absl::string_view text;
  int32_t token_id = -1;
};

class AddedTokenMatcher {
 public:
  // `tokens` with the string to look for (the content, normalised for normalized tokens). The
  // AddedToken objects must outlive the matcher. Empty patterns are ignored.
  explicit AddedTokenMatcher(
      const std::vector<std::pair<std::string, const AddedToken*>>& patterns);

  bool empty() const { return nodes_.size() == 1; }

  // Appends the segments of `text`, in order, to *out; plain segments are never empty.
  void Split(absl::string_view text, std::vector<TextSegment>* out) const;

 private:
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> children;  // byte -> node index
    const AddedToken* token = nullptr;                  // a pattern ends here
  };
  int32_t Child(int32_t node, uint8_t byte) const;
  bool IsWordChar(char32_t cp) const;

  std::vector<Node> nodes_;
  std::array<bool, 256> first_byte_{};
  std::unique_ptr<Regex> word_char_;  // only when a token is single_word
};

}  // namespace chord::tokenizer::internal
