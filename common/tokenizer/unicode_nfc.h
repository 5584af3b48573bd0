#pragma once

// Unicode Normalization Form C (canonical decomposition, canonical ordering, canonical
// composition; UAX #15), as Hugging Face's `NFC` normalizer applies it. The tables are generated
// from Python's unicodedata (gen_unicode_nfc_data.py; the version is UnicodeVersionForNfc()).

#include <string>

#include "absl/strings/string_view.h"

namespace chord::tokenizer::internal {

// True when `text` is certainly unchanged by NFC: it holds no code point that may take part in
// a decomposition, reordering or composition. Cheap; pure ASCII and most CJK text pass.
bool IsNfcQuickYes(absl::string_view text);

// Returns the NFC form of `text`. Bytes that are not valid UTF-8 are copied through unchanged and
// act as boundaries (nothing composes across them), so the function is total on any byte string.
std::string NormalizeNfc(absl::string_view text);

// The Unicode version of the generated tables, e.g. "14.0.0".
absl::string_view UnicodeVersionForNfc();

}  // namespace chord::tokenizer::internal
