#include "services/expert_buffer/sampler.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "services/expert_buffer/fingerprint.h"

namespace chord::expert_buffer {
namespace {

constexpr absl::string_view kCursorMagic = "ebc1";
// Seed of the cursor checksum (any constant; changing it invalidates every issued cursor).
constexpr uint64_t kCursorChecksumSeed = 0x63686f7264656231ULL;  // "chordeb1"

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Murmur3's 64-bit finalizer: a strong bijective mixer.
uint64_t Mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

}  // namespace

EpochPermutation::EpochPermutation(uint64_t seed, uint64_t epoch, uint64_t size) : size_(size) {
  int bits = 0;
  while (bits < 64 && (uint64_t{1} << bits) < size) ++bits;
  half_bits_ = bits <= 2 ? 1 : (bits + 1) / 2;
  half_mask_ = (uint64_t{1} << half_bits_) - 1;
  uint64_t state = SplitMix64(SplitMix64(seed) ^ Mix64(epoch + 0x5851f42d4c957f2dULL));
  for (int r = 0; r < kRounds; ++r) {
    state = SplitMix64(state);
    keys_[r] = state;
  }
}

uint64_t EpochPermutation::Encrypt(uint64_t x) const {
  uint64_t left = x >> half_bits_;
  uint64_t right = x & half_mask_;
  for (int r = 0; r < kRounds; ++r) {
    uint64_t next = left ^ (Mix64(right ^ keys_[r]) & half_mask_);
    left = right;
    right = next;
  }
  return (left << half_bits_) | right;
}

uint64_t EpochPermutation::operator()(uint64_t position) const {
  if (size_ <= 1) return 0;
  // Cycle walking: the Feistel network permutes [0, 4^half_bits); following the cycle from
  // `position` until it lands inside [0, size) restricts it to a permutation of [0, size).
  // The domain is < 4 * size, so this takes fewer than 4 steps on average.
  uint64_t x = position;
  do {
    x = Encrypt(x);
  } while (x >= size_);
  return x;
}

std::string EncodeCursor(const Cursor& cursor) {
  std::string body = absl::StrCat(kCursorMagic, ":", cursor.dataset, ":", ToHex16(cursor.version),
                                  ":", cursor.seed, ":", cursor.epoch, ":", cursor.position);
  return absl::StrCat(body, ":", ToHex16(Fingerprint64(body, kCursorChecksumSeed)));
}

absl::StatusOr<Cursor> DecodeCursor(absl::string_view text) {
  auto malformed = [](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cursor: ", what, " (pass the next_cursor of a previous response unchanged, or none)"));
  };
  size_t last = text.rfind(':');
  if (last == absl::string_view::npos) return malformed("malformed");
  uint64_t checksum;
  if (!ParseHex16(text.substr(last + 1), &checksum)) return malformed("malformed checksum");
  absl::string_view body = text.substr(0, last);
  std::vector<absl::string_view> parts = absl::StrSplit(body, ':');
  if (parts.size() != 6 || parts[0] != kCursorMagic) return malformed("malformed");
  if (Fingerprint64(body, kCursorChecksumSeed) != checksum) {
    return malformed("checksum mismatch: corrupted or not issued by this service");
  }
  Cursor cursor;
  cursor.dataset = std::string(parts[1]);
  if (!ParseHex16(parts[2], &cursor.version) || !absl::SimpleAtoi(parts[3], &cursor.seed) ||
      !absl::SimpleAtoi(parts[4], &cursor.epoch) || !absl::SimpleAtoi(parts[5], &cursor.position)) {
    return malformed("malformed");
  }
  if (cursor.epoch < 0 || cursor.position < 0) return malformed("negative epoch or position");
  if (cursor.epoch > (int64_t{1} << 62)) return malformed("epoch out of range");
  return cursor;
}

void DrawIndices(uint64_t size, int64_t n, Cursor* cursor, std::vector<int64_t>* out) {
  if (n <= 0) return;
  out->reserve(out->size() + static_cast<size_t>(n));
  while (n > 0) {
    EpochPermutation order(cursor->seed, static_cast<uint64_t>(cursor->epoch), size);
    uint64_t position = static_cast<uint64_t>(cursor->position);
    while (n > 0 && position < size) {
      out->push_back(static_cast<int64_t>(order(position)));
      ++position;
      --n;
    }
    if (position == size) {
      ++cursor->epoch;
      cursor->position = 0;
    } else {
      cursor->position = static_cast<int64_t>(position);
    }
  }
}

}  // namespace chord::expert_buffer
