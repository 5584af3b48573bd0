#include "common/tokenizer/added_tokens.h"

#include "common/tokenizer/utf8.h"

namespace chord::tokenizer::internal {
namespace {

// Rust regex's Unicode \w, which Hugging Face uses to tell whether a single_word token touches a
// word.
constexpr char kWordCharPattern[] = R"([\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\x{200C}\x{200D}])";

// The code point that ends `text` (U+FFFD for an invalid byte); false when empty.
bool LastCodePoint(absl::string_view text, char32_t* cp) {
  if (text.empty()) return false;
  size_t start = text.size() - 1;
  while (start > 0 && text.size() - start < 4 &&
         (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) {
    --start;
  }
  if (DecodeUtf8(text, start, cp) == static_cast<int>(text.size() - start)) return true;
  *cp = 0xFFFD;
  return true;
}

// The code point that starts `text` (U+FFFD for an invalid byte); false when empty.
bool FirstCodePoint(absl::string_view text, char32_t* cp) {
  if (text.empty()) return false;
  if (DecodeUtf8(text, 0, cp) == 0) *cp = 0xFFFD;
  return true;
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(
    const std::vector<std::pair<std::string, const AddedToken*>>& patterns)
    : nodes_(1) {
  for (const auto& [pattern, token] : patterns) {
    if (pattern.empty()) continue;
    int32_t node = 0;
    for (char c : pattern) {
      const uint8_t byte = static_cast<uint8_t>(c);
      int32_t child = Child(node, byte);
      if (child < 0) {
        child = static_cast<int32_t>(nodes_.size());
        nodes_[static_cast<size_t>(node)].children.emplace_back(byte, child);
        nodes_.emplace_back();
      }
      node = child;
    }
    // The first token listed with a given content wins.
    if (nodes_[static_cast<size_t>(node)].token == nullptr) {
      nodes_[static_cast<size_t>(node)].token = token;
    }
    first_byte_[static_cast<uint8_t>(pattern[0])] = true;
    if (token->single_word && word_char_ == nullptr) {
      // A constant pattern: it compiles (else single_word falls back to ASCII letters/digits).
      auto regex = Regex::Compile(kWordCharPattern);
      if (regex.ok()) word_char_ = std::move(regex).value();
    }
  }
}

bool AddedTokenMatcher::IsWordChar(char32_t cp) const {
  if (cp < 0x80) {
    return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
           cp == '_';
  }
  if (word_char_ == nullptr || cp > 0x10FFFF) return false;
  std::string text;
  AppendUtf8(cp, &text);
  std::vector<std::pair<size_t, size_t>> matches;
  word_char_->FindAll(text, &matches);
  return !matches.empty();
}

int32_t AddedTokenMatcher::Child(int32_t node, uint8_t byte) const {
  for (const auto& [b, child] : nodes_[static_cast<size_t>(node)].children) {
    if (b == byte) return child;
  }
  return -1;
}

void AddedTokenMatcher::Split(absl::string_view text, std::vector<TextSegment>* out) const {
  size_t plain_start = 0;  // where the pending plain text begins
  size_t pos = 0;
  while (pos < text.size()) {
    if (!first_byte_[static_cast<uint8_t>(text[pos])]) {
      ++pos;
      continue;
    }
    // Longest pattern starting at `pos`.
    const AddedToken* token = nullptr;
    size_t end = 0;
    int32_t node = 0;
    for (size_t i = pos; i < text.size(); ++i) {
      node = Child(node, static_cast<uint8_t>(text[i]));
      if (node < 0) break;
      if (nodes_[static_cast<size_t>(node)].token != nullptr) {
        token = nodes_[static_cast<size_t>(node)].token;
        end = i + 1;
      }
    }
    if (token == nullptr) {
      ++pos;
      continue;
    }
    size_t start = pos;
    if (token->single_word) {
      char32_t cp;
      const bool word_before = LastCodePoint(text.substr(0, start), &cp) && IsWordChar(cp);
      const bool word_after = FirstCodePoint(text.substr(end), &cp) && IsWordChar(cp);
      if (word_before || word_after) {
        pos = end;  // the match is discarded, its text stays plain
        continue;
      }
    }
    if (token->lstrip) {
      while (start > plain_start) {
        char32_t cp;
        size_t char_start = start - 1;
        while (char_start > plain_start && start - char_start < 4 &&
               (static_cast<uint8_t>(text[char_start]) & 0xC0) == 0x80) {
          --char_start;
        }
        if (DecodeUtf8(text, char_start, &cp) != static_cast<int>(start - char_start) ||
            !IsUnicodeWhitespace(cp)) {
          break;
        }
        start = char_start;
      }
    }
    if (token->rstrip) {
      while (end < text.size()) {
        char32_t cp;
        const int n = DecodeUtf8(text, end, &cp);
        if (n == 0 || !IsUnicodeWhitespace(cp)) break;
        end += static_cast<size_t>(n);
      }
    }
    if (start > plain_start) out->push_back({text.substr(plain_start, start - plain_start), -1});
    out->push_back({text.substr(start, end - start), token->id});
    plain_start = end;
    pos = end;
  }
  if (plain_start < text.size()) out->push_back({text.substr(plain_start), -1});
}

}  // namespace chord::tokenizer::internal
