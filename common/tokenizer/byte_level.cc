#include "common/tokenizer/byte_level.h"

#include "common/tokenizer/utf8.h"

namespace chord::tokenizer::internal {
namespace {

// Bytes that GPT-2 keeps as themselves: '!'..'~', U+00A1..U+00AC, U+00AE..U+00FF.
constexpr bool IsSelfMapped(uint32_t b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

}  // namespace

char32_t ByteToCodePoint(uint8_t b) {
  if (IsSelfMapped(b)) return b;
  // The others, in byte order, take U+0100 onwards: 0x00..0x20 (33), 0x7F..0xA0 (34), 0xAD.
  if (b <= 0x20) return 0x100 + b;
  if (b <= 0xA0) return 0x100 + 33 + (b - 0x7F);
  return 0x100 + 33 + 34;  // 0xAD
}

int CodePointToByte(char32_t cp) {
  if (cp <= 0xFF) return IsSelfMapped(cp) ? static_cast<int>(cp) : -1;
  if (cp < 0x100 + 33) return static_cast<int>(cp - 0x100);
  if (cp < 0x100 + 33 + 34) return static_cast<int>(cp - 0x100 - 33 + 0x7F);
  if (cp == 0x100 + 33 + 34) return 0xAD;
  return -1;
}

std::string BytesToByteLevel(absl::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) AppendUtf8(ByteToCodePoint(static_cast<uint8_t>(c)), &out);
  return out;
}

absl::optional<std::string> ByteLevelToBytes(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    char32_t cp;
    const int n = DecodeUtf8(text, pos, &cp);
    if (n == 0) return absl::nullopt;
    const int b = CodePointToByte(cp);
    if (b < 0) return absl::nullopt;
    out.push_back(static_cast<char>(b));
    pos += static_cast<size_t>(n);
  }
  return out;
}

}  // namespace chord::tokenizer::internal
