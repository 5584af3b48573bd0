#pragma once

// GPT-2's reversible map between the 256 byte values and 256 printable Unicode code points, as
// used by byte-level BPE vocabularies (GPT-2, Qwen2, Llama-3): printable Latin-1 bytes map to
// themselves, the other 68 bytes (controls, space, DEL, NBSP, soft hyphen ...) to U+0100..U+0143
// in byte order. So a vocabulary entry "Ġhello" is the bytes " hello".

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/optional.h"

namespace chord::tokenizer::internal {

// The code point that stands for byte `b`.
char32_t ByteToCodePoint(uint8_t b);

// The byte that code point `cp` stands for, or -1 when `cp` is not in the table.
int CodePointToByte(char32_t cp);

// Maps every byte of `bytes` to its code point, UTF-8 encoded ("\n" -> "Ċ").
std::string BytesToByteLevel(absl::string_view bytes);

// The inverse of BytesToByteLevel; nullopt when `text` is not valid UTF-8 or holds a code point
// outside the table.
absl::optional<std::string> ByteLevelToBytes(absl::string_view text);

}  // namespace chord::tokenizer::internal
