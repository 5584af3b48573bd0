#include "common/tokenizer/bpe_model.h"

#include <queue>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "common/status/status_macros.h"
#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/utf8.h"

namespace chord::tokenizer::internal {

WordCache::WordCache(size_t capacity) : shard_capacity_(std::max<size_t>(1, capacity / kShards)) {}

size_t WordCache::ShardIndex(absl::string_view word) {
  return absl::Hash<absl::string_view>()(word) % kShards;
}

bool WordCache::Lookup(absl::string_view word, std::vector<int32_t>* ids) const {
  if (word.size() > kMaxWordBytes) return false;
  const Shard& shard = shards_[ShardIndex(word)];
  absl::ReaderMutexLock lock(&shard.mu);
  auto it = shard.words.find(word);
  if (it == shard.words.end()) return false;
  ids->insert(ids->end(), it->second.begin(), it->second.end());
  return true;
}

void WordCache::Insert(absl::string_view word, absl::Span<const int32_t> ids) {
  if (word.size() > kMaxWordBytes) return;
  Shard& shard = shards_[ShardIndex(word)];
  absl::MutexLock lock(&shard.mu);
  if (shard.words.size() >= shard_capacity_) shard.words.clear();
  shard.words.emplace(std::string(word), std::vector<int32_t>(ids.begin(), ids.end()));
}

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::Create(
    const Json& model, const JsonPath& at, const absl::flat_hash_map<std::string, int32_t>& vocab) {
  std::unique_ptr<BpeModel> bpe(new BpeModel());

  if (const Json* dropout = FindField(model, "dropout");
      dropout != nullptr && !dropout->is_null()) {
    if (!dropout->is_number()) return at.Key("dropout").Error("expected a number or null");
    if (dropout->get<double>() > 0.0) {
      return at.Key("dropout").Error("BPE dropout is not supported (it makes encoding random)");
    }
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    ASSIGN_OR_RETURN(absl::optional<std::string> affix, GetOptionalString(model, at, key));
    if (affix.has_value() && !affix->empty()) {
      return at.Key(key).Error(
          absl::StrCat("unsupported \"", *affix, "\" (only byte-level BPE without affixes)"));
    }
  }
  ASSIGN_OR_RETURN(bool byte_fallback, GetBool(model, at, "byte_fallback", false));
  if (byte_fallback) {
    return at.Key("byte_fallback").Error("unsupported true (only byte-level BPE is supported)");
  }
  ASSIGN_OR_RETURN(bpe->ignore_merges_, GetBool(model, at, "ignore_merges", false));
  ASSIGN_OR_RETURN(bpe->fuse_unk_, GetBool(model, at, "fuse_unk", false));
  ASSIGN_OR_RETURN(absl::optional<std::string> unk, GetOptionalString(model, at, "unk_token"));
  if (unk.has_value()) {
    auto it = vocab.find(*unk);
    if (it == vocab.end()) {
      return at.Key("unk_token").Error(absl::StrCat("\"", *unk, "\" is not in model.vocab"));
    }
    bpe->unk_id_ = it->second;
  }

  for (int b = 0; b < 256; ++b) {
    std::string symbol;
    AppendUtf8(ByteToCodePoint(static_cast<uint8_t>(b)), &symbol);
    auto it = vocab.find(symbol);
    bpe->byte_ids_[static_cast<size_t>(b)] = it == vocab.end() ? -1 : it->second;
  }
  if (bpe->ignore_merges_) {
    bpe->raw_vocab_.reserve(vocab.size());
    for (const auto& [token, id] : vocab) {
      if (absl::optional<std::string> bytes = ByteLevelToBytes(token); bytes.has_value()) {
        bpe->raw_vocab_.emplace(std::move(*bytes), id);
      }
    }
  }

  const Json* merges = FindField(model, "merges");
  const JsonPath merges_at = at.Key("merges");
  if (merges == nullptr || merges->is_null()) return bpe;  // a BPE without merges is legal
  if (!merges->is_array()) return merges_at.Error("expected an array");
  bpe->merges_.reserve(merges->size());
  int32_t rank = 0;
  for (size_t i = 0; i < merges->size(); ++i) {
    const Json& entry = (*merges)[i];
    const JsonPath entry_at = merges_at.Index(i);
    std::string left, right;
    if (entry.is_string()) {
      const std::string& line = entry.get_ref<const std::string&>();
      if (line.rfind("#version", 0) == 0) continue;  // a header line of old merges.txt files
      const size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
        return entry_at.Error(
            absl::StrCat("expected \"left right\" (one space), got \"", line, "\""));
      }
      left = line.substr(0, space);
      right = line.substr(space + 1);
    } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() &&
               entry[1].is_string()) {
      left = entry[0].get<std::string>();
      right = entry[1].get<std::string>();
    } else {
      return entry_at.Error("expected \"left right\" or [\"left\", \"right\"]");
    }
    auto left_it = vocab.find(left);
    if (left_it == vocab.end()) {
      return entry_at.Error(absl::StrCat("\"", left, "\" is not in model.vocab"));
    }
    auto right_it = vocab.find(right);
    if (right_it == vocab.end()) {
      return entry_at.Error(absl::StrCat("\"", right, "\" is not in model.vocab"));
    }
    auto merged_it = vocab.find(absl::StrCat(left, right));
    if (merged_it == vocab.end()) {
      return entry_at.Error(
          absl::StrCat("the merged token \"", left, right, "\" is not in model.vocab"));
    }
    // A repeated pair takes its last rank, as Hugging Face's map insertion does.
    bpe->merges_[PairKey(left_it->second, right_it->second)] = Merge{rank, merged_it->second};
    ++rank;
  }
  return bpe;
}

void BpeModel::Encode(absl::string_view word, std::vector<int32_t>* ids) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (auto it = raw_vocab_.find(word); it != raw_vocab_.end()) {
      ids->push_back(it->second);
      return;
    }
  }
  if (word.size() == 1 && byte_ids_[static_cast<uint8_t>(word[0])] >= 0) {
    ids->push_back(byte_ids_[static_cast<uint8_t>(word[0])]);
    return;
  }
  if (cache_.Lookup(word, ids)) return;
  const size_t first = ids->size();
  MergeWord(word, ids);
  cache_.Insert(word, absl::MakeConstSpan(ids->data() + first, ids->size() - first));
}

void BpeModel::MergeWord(absl::string_view word, std::vector<int32_t>* ids) const {
  // A port of Hugging Face's Word::merge_all: a doubly linked list of symbols and a min-heap of
  // candidate merges ordered by (rank, position); stale candidates are skipped when popped.
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    bool alive;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  bool pending_unk = false;
  const auto add = [&symbols](int32_t id) {
    const int32_t index = static_cast<int32_t>(symbols.size());
    if (!symbols.empty()) symbols.back().next = index;
    symbols.push_back(Symbol{id, index - 1, -1, true});
  };
  for (char c : word) {
    const int32_t id = byte_ids_[static_cast<uint8_t>(c)];
    if (id >= 0) {
      if (pending_unk) add(unk_id_);
      pending_unk = false;
      add(id);
    } else if (unk_id_ >= 0) {
      // Unknown bytes become unk (consecutive ones fused into one with fuse_unk); without an unk
      // token they are dropped, as Hugging Face does.
      if (pending_unk && !fuse_unk_) add(unk_id_);
      pending_unk = true;
    }
  }
  if (pending_unk) add(unk_id_);

  struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t new_id;
  };
  const auto later = [](const Candidate& a, const Candidate& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  };
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(later)> queue(later);
  const auto find_merge = [this](int32_t left, int32_t right) -> const Merge* {
    auto it = merges_.find(PairKey(left, right));
    return it == merges_.end() ? nullptr : &it->second;
  };
  for (size_t i = 0; i + 1 < symbols.size(); ++i) {
    if (const Merge* m = find_merge(symbols[i].id, symbols[i + 1].id)) {
      queue.push(Candidate{m->rank, static_cast<int32_t>(i), m->new_id});
    }
  }
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& current = symbols[static_cast<size_t>(top.pos)];
    if (!current.alive || current.next == -1) continue;
    const int32_t next_pos = current.next;
    const Symbol right = symbols[static_cast<size_t>(next_pos)];
    const Merge* still = find_merge(current.id, right.id);
    if (still == nullptr || still->new_id != top.new_id) continue;  // a stale candidate

    current.id = top.new_id;
    current.next = right.next;
    symbols[static_cast<size_t>(next_pos)].alive = false;
    if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = top.pos;

    if (current.prev >= 0) {
      const Symbol& prev = symbols[static_cast<size_t>(current.prev)];
      if (const Merge* m = find_merge(prev.id, current.id)) {
        queue.push(Candidate{m->rank, current.prev, m->new_id});
      }
    }
    if (current.next >= 0) {
      const Symbol& next = symbols[static_cast<size_t>(current.next)];
      if (const Merge* m = find_merge(current.id, next.id)) {
        queue.push(Candidate{m->rank, top.pos, m->new_id});
      }
    }
  }
  for (const Symbol& s : symbols) {
    if (s.alive) ids->push_back(s.id);
  }
}

}  // namespace chord::tokenizer::internal
