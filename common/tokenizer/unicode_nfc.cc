#include "common/tokenizer/unicode_nfc.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <vector>

#include "common/tokenizer/utf8.h"

namespace chord::tokenizer::internal {
namespace {

struct CombiningClassRange {
  char32_t first;
  char32_t last;
  uint8_t combining_class;
};

struct Decomposition {
  char32_t code_point;
  uint16_t offset;
  uint8_t length;
};

struct Composition {
  char32_t first;
  char32_t second;
  char32_t composite;
};

struct CodePointRange {
  char32_t first;
  char32_t last;
};

#include "common/tokenizer/unicode_nfc_data.inc"

// Hangul syllable arithmetic (Unicode chapter 3.12).
constexpr char32_t kSBase = 0xAC00;
constexpr char32_t kLBase = 0x1100;
constexpr char32_t kVBase = 0x1161;
constexpr char32_t kTBase = 0x11A7;
constexpr char32_t kLCount = 19;
constexpr char32_t kVCount = 21;
constexpr char32_t kTCount = 28;
constexpr char32_t kNCount = kVCount * kTCount;
constexpr char32_t kSCount = kLCount * kNCount;

// An invalid UTF-8 byte travels through the algorithm as this marker | byte: above every code
// point, combining class 0, composes with nothing.
constexpr char32_t kRawByteMarker = 0x80000000u;

int CombiningClass(char32_t cp) {
  if (cp < 0x300 || cp >= kRawByteMarker) return 0;
  auto it = std::upper_bound(std::begin(kCombiningClass), std::end(kCombiningClass), cp,
                             [](char32_t v, const CombiningClassRange& r) { return v < r.first; });
  if (it == std::begin(kCombiningClass)) return 0;
  --it;
  return cp <= it->last ? it->combining_class : 0;
}

bool IsUnstable(char32_t cp) {
  auto it = std::upper_bound(std::begin(kNfcUnstable), std::end(kNfcUnstable), cp,
                             [](char32_t v, const CodePointRange& r) { return v < r.first; });
  if (it == std::begin(kNfcUnstable)) return false;
  --it;
  return cp <= it->last;
}

void Decompose(char32_t cp, std::vector<char32_t>* out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const char32_t s = cp - kSBase;
    out->push_back(kLBase + s / kNCount);
    out->push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out->push_back(kTBase + s % kTCount);
    return;
  }
  auto it = std::lower_bound(std::begin(kDecomposition), std::end(kDecomposition), cp,
                             [](const Decomposition& d, char32_t v) { return d.code_point < v; });
  if (it != std::end(kDecomposition) && it->code_point == cp) {
    out->insert(out->end(), kDecompositionData + it->offset,
                kDecompositionData + it->offset + it->length);
    return;
  }
  out->push_back(cp);
}

// The primary composite of (first, second), or 0 when there is none.
char32_t Compose(char32_t first, char32_t second) {
  if (first >= kLBase && first < kLBase + kLCount && second >= kVBase &&
      second < kVBase + kVCount) {
    return kSBase + ((first - kLBase) * kVCount + (second - kVBase)) * kTCount;
  }
  if (first >= kSBase && first < kSBase + kSCount && (first - kSBase) % kTCount == 0 &&
      second > kTBase && second < kTBase + kTCount) {
    return first + (second - kTBase);
  }
  auto it = std::lower_bound(std::begin(kComposition), std::end(kComposition),
                             std::make_pair(first, second),
                             [](const Composition& c, const std::pair<char32_t, char32_t>& v) {
                               return c.first != v.first ? c.first < v.first : c.second < v.second;
                             });
  if (it != std::end(kComposition) && it->first == first && it->second == second) {
    return it->composite;
  }
  return 0;
}

}  // namespace

bool IsNfcQuickYes(absl::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    const uint8_t b = static_cast<uint8_t>(text[pos]);
    // Every code point below U+0300 is stable; their UTF-8 lead bytes are below 0xCC.
    if (b < 0xCC) {
      ++pos;
      continue;
    }
    char32_t cp;
    const int n = DecodeUtf8(text, pos, &cp);
    if (n == 0) {
      ++pos;
      continue;
    }
    if (IsUnstable(cp)) return false;
    pos += static_cast<size_t>(n);
  }
  return true;
}

std::string NormalizeNfc(absl::string_view text) {
  if (IsNfcQuickYes(text)) return std::string(text);

  // 1. Full canonical decomposition.
  std::vector<char32_t> units;
  units.reserve(text.size() + 8);
  for (size_t pos = 0; pos < text.size();) {
    char32_t cp;
    const int n = DecodeUtf8(text, pos, &cp);
    if (n == 0) {
      units.push_back(kRawByteMarker | static_cast<uint8_t>(text[pos]));
      ++pos;
      continue;
    }
    Decompose(cp, &units);
    pos += static_cast<size_t>(n);
  }

  // 2. Canonical ordering: a stable sort by combining class of every run of non-starters.
  std::vector<int> classes(units.size());
  for (size_t i = 0; i < units.size(); ++i) classes[i] = CombiningClass(units[i]);
  for (size_t i = 1; i < units.size(); ++i) {
    if (classes[i] == 0) continue;
    for (size_t j = i; j > 0 && classes[j - 1] > classes[j]; --j) {
      std::swap(units[j - 1], units[j]);
      std::swap(classes[j - 1], classes[j]);
    }
  }

  // 3. Canonical composition (the reference algorithm of UAX #15).
  if (!units.empty()) {
    size_t starter_pos = 0;
    char32_t starter = units[0];
    int last_class = classes[0] == 0 ? 0 : 256;  // a leading non-starter blocks composition
    size_t write = 1;
    for (size_t read = 1; read < units.size(); ++read) {
      const char32_t ch = units[read];
      const int ch_class = classes[read];
      const char32_t composite =
          (starter >= kRawByteMarker || ch >= kRawByteMarker) ? 0 : Compose(starter, ch);
      if (composite != 0 && (last_class < ch_class || last_class == 0)) {
        units[starter_pos] = composite;
        starter = composite;
      } else {
        if (ch_class == 0) {
          starter_pos = write;
          starter = ch;
        }
        last_class = ch_class;
        units[write++] = ch;
      }
    }
    units.resize(write);
  }

  std::string out;
  out.reserve(text.size());
  for (char32_t u : units) {
    if (u >= kRawByteMarker) {
      out.push_back(static_cast<char>(u & 0xFF));
    } else {
      AppendUtf8(u, &out);
    }
  }
  return out;
}

absl::string_view UnicodeVersionForNfc() { return kUnicodeVersion; }

}  // namespace chord::tokenizer::internal
