#pragma once

// The byte-level BPE model of tokenizer.json (`"model": {"type": "BPE", ...}` behind a ByteLevel
// pre-tokenizer): a word's bytes start as one symbol each and are merged by merge rank exactly as
// Hugging Face's tokenizers do (lowest rank first, leftmost first among equal ranks).
//
// Thread safety: Encode may be called concurrently; the word cache is sharded behind mutexes.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "common/tokenizer/json_fields.h"

namespace chord::tokenizer::internal {

// A bounded, sharded map from a word to its ids. A full shard is emptied before an insert.
class WordCache {
 public:
  // Words longer than this are not cached.
  static constexpr size_t kMaxWordBytes = 256;

  explicit WordCache(size_t capacity);

  // Appends the cached ids of `word` to *ids and returns true, or returns false.
  bool Lookup(absl::string_view word, std::vector<int32_t>* ids) const;
  void Insert(absl::string_view word, absl::Span<const int32_t> ids);

 private:
  static constexpr size_t kShards = 16;
  struct Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<std::string, std::vector<int32_t>> words ABSL_GUARDED_BY(mu);
  };
  static size_t ShardIndex(absl::string_view word);

  size_t shard_capacity_;
  std::array<Shard, kShards> shards_;
};

class BpeModel {
 public:
  // `model` is tokenizer.json's `model` object (type BPE); `vocab` maps its byte-level token
  // strings to ids (already parsed and validated by the caller). Errors name the JSON path of
  // the offending merge or option. Refused: dropout > 0, byte_fallback, a non-empty
  // continuing_subword_prefix or end_of_word_suffix.
  static absl::StatusOr<std::unique_ptr<BpeModel>> Create(
      const Json& model, const JsonPath& at,
      const absl::flat_hash_map<std::string, int32_t>& vocab);

  // Appends the ids of `word` (raw bytes, one pre-tokenized word) to *ids.
  void Encode(absl::string_view word, std::vector<int32_t>* ids) const;

  size_t num_merges() const { return merges_.size(); }

 private:
  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  static uint64_t PairKey(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
  BpeModel() : cache_(1 << 16) {}
  void MergeWord(absl::string_view word, std::vector<int32_t>* ids) const;

  std::array<int32_t, 256> byte_ids_{};                  // -1: the byte is not in the vocab
  absl::flat_hash_map<uint64_t, Merge> merges_;          // (left, right) -> rank, merged id
  absl::flat_hash_map<std::string, int32_t> raw_vocab_;  // bytes -> id, only for ignore_merges
  bool ignore_merges_ = false;
  int32_t unk_id_ = -1;
  bool fuse_unk_ = false;
  mutable WordCache cache_;
};

}  // namespace chord::tokenizer::internal
