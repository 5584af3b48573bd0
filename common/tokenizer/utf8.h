#pragma once

// Minimal UTF-8 helpers for the tokenizer. Invalid input is never an error here: callers decide
// what an invalid byte means (the byte-level pipeline keeps it as a raw byte).

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace chord::tokenizer::internal {

// Decodes the code point starting at text[pos]. Returns its length in bytes (1..4) and sets
// *code_point, or returns 0 when the bytes at `pos` are not a valid, shortest-form UTF-8 sequence
// of a Unicode scalar value (surrogates and values above U+10FFFF are invalid).
// Precondition: pos < text.size().
int DecodeUtf8(absl::string_view text, size_t pos, char32_t* code_point);

// Appends the UTF-8 encoding of `code_point` (a Unicode scalar value) to *out.
void AppendUtf8(char32_t code_point, std::string* out);

// Length of the character at text[pos]: the valid sequence's length, or 1 for an invalid byte.
inline size_t CharLength(absl::string_view text, size_t pos) {
  char32_t unused;
  int n = DecodeUtf8(text, pos, &unused);
  return n == 0 ? 1 : static_cast<size_t>(n);
}

// True for the code points with the Unicode White_Space property (as Rust's char::is_whitespace).
bool IsUnicodeWhitespace(char32_t code_point);

}  // namespace chord::tokenizer::internal
