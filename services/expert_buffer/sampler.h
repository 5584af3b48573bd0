#pragma once

// Deterministic, resumable sampling without replacement.
//
// Epoch e of a dataset of N records visits the records in the order of a pseudo-random
// permutation of [0, N) that depends only on (seed, e): a keyed Feistel network over the
// smallest even power of two >= N, with cycle walking into [0, N). Computed on the fly, so a
// cursor needs no O(N) state, and the same (seed, epoch, position) gives the same record in every
// process, on every run. Draws continue into epoch e + 1 (a fresh permutation) when epoch e runs
// out, so every record appears exactly once per epoch.
//
// A cursor names the next draw: (dataset, version, seed, epoch, position). Its encoding is opaque
// text, "ebc1:<dataset>:<version>:<seed>:<epoch>:<position>:<checksum>", the checksum (XXH64)
// catching corrupted or hand-edited cursors. It is not a security token.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace chord::expert_buffer {

// The order of one epoch: a bijection of [0, size). Cheap to build (a few hashes); thread-safe.
class EpochPermutation {
 public:
  // `size` >= 1.
  EpochPermutation(uint64_t seed, uint64_t epoch, uint64_t size);

  // The record drawn at `position` (in [0, size)) of this epoch.
  uint64_t operator()(uint64_t position) const;

 private:
  uint64_t Encrypt(uint64_t x) const;

  static constexpr int kRounds = 6;
  uint64_t size_;
  int half_bits_;
  uint64_t half_mask_;
  uint64_t keys_[kRounds];
};

// Where a sampling sequence stands: the next draw is record EpochPermutation(seed, epoch,
// size)(position) of dataset `dataset` at `version`.
struct Cursor {
  std::string dataset;
  uint64_t version = 0;
  uint64_t seed = 0;
  int64_t epoch = 0;
  int64_t position = 0;

  bool operator==(const Cursor& other) const {
    return dataset == other.dataset && version == other.version && seed == other.seed &&
           epoch == other.epoch && position == other.position;
  }
};

// The opaque text form of `cursor` (see the file comment).
std::string EncodeCursor(const Cursor& cursor);

// Parses EncodeCursor's output. INVALID_ARGUMENT "cursor: ..." when the text is malformed, its
// checksum does not match, or epoch/position are negative.
absl::StatusOr<Cursor> DecodeCursor(absl::string_view text);

// Draws `n` record indices of a dataset of `size` records (size >= 1) starting at `*cursor`,
// appends them to `out` and advances the cursor past them (into later epochs as needed).
// Precondition: 0 <= cursor->position < size.
void DrawIndices(uint64_t size, int64_t n, Cursor* cursor, std::vector<int64_t>* out);

}  // namespace chord::expert_buffer
