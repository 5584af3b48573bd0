#include "services/reward/reason_text.h"

#include "absl/strings/ascii.h"

namespace chord::reward {
namespace {

bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Length of the valid UTF-8 sequence starting at text[i], or 0 when invalid there.
size_t Utf8SequenceLength(absl::string_view text, size_t i) {
  unsigned char c = static_cast<unsigned char>(text[i]);
  if (c < 0x80) return 1;
  size_t len;
  uint32_t min_code;
  uint32_t code;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    min_code = 0x80;
    code = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    min_code = 0x800;
    code = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    min_code = 0x10000;
    code = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > text.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    unsigned char next = static_cast<unsigned char>(text[i + k]);
    if (!IsContinuation(next)) return 0;
    code = (code << 6) | (next & 0x3F);
  }
  if (code < min_code || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
  return len;
}

}  // namespace

absl::string_view Utf8Prefix(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t end = max_bytes;
  while (end > 0 && IsContinuation(static_cast<unsigned char>(text[end]))) --end;
  return text.substr(0, end);
}

absl::string_view Utf8Suffix(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t start = text.size() - max_bytes;
  // At most 3 continuation bytes belong to the character that the cut splits.
  for (int k = 0;
       k < 3 && start < text.size() && IsContinuation(static_cast<unsigned char>(text[start]));
       ++k) {
    ++start;
  }
  return text.substr(start);
}

std::string Quote(absl::string_view text, size_t max_bytes) {
  absl::string_view shown = Utf8Prefix(text, max_bytes);
  std::string out;
  out.reserve(shown.size() + 8);
  out.push_back('"');
  for (char c : shown) {
    switch (c) {
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      case '"':
        out += "\\\"";
        break;
      default:
        out.push_back(c);
    }
  }
  if (shown.size() < text.size()) out += "...";
  out.push_back('"');
  return out;
}

bool IsValidUtf8(absl::string_view text) {
  for (size_t i = 0; i < text.size();) {
    size_t len = Utf8SequenceLength(text, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string SanitizeUtf8(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    size_t len = Utf8SequenceLength(text, i);
    if (len == 0) {
      out.push_back('?');
      ++i;
    } else {
      out.append(text.data() + i, len);
      i += len;
    }
  }
  return out;
}

absl::string_view TrimWhitespace(absl::string_view text) {
  return absl::StripAsciiWhitespace(text);
}

}  // namespace chord::reward
