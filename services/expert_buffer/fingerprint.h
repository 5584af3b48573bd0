#pragma once

// Stable 64-bit content fingerprints: the same bytes give the same value in every process, on
// every run and build (unlike absl::Hash, which is seeded per process). Dataset versions and
// cursor checksums are built on it.

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace chord::expert_buffer {

// XXH64 of `data` with `seed` (the published xxHash64 algorithm; ~10 GB/s). Not cryptographic:
// it detects accidental changes and corruption, not deliberate forgery.
uint64_t Fingerprint64(absl::string_view data, uint64_t seed = 0);

// `value` as exactly 16 lower-case hex digits.
std::string ToHex16(uint64_t value);

// Parses exactly 16 hex digits (either case). False on anything else.
bool ParseHex16(absl::string_view text, uint64_t* value);

}  // namespace chord::expert_buffer
