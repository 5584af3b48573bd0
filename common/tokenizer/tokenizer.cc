#include "common/tokenizer/tokenizer.h"

#include <algorithm>
#include <deque>
#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/files/file_io.h"
#include "common/status/status_macros.h"
#include "common/tokenizer/added_tokens.h"
#include "common/tokenizer/bpe_model.h"
#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/json_fields.h"
#include "common/tokenizer/pre_tokenizer.h"
#include "common/tokenizer/unicode_nfc.h"

namespace chord::tokenizer {
namespace internal {

// Fills a Tokenizer from parsed tokenizer.json. Kept out of the public header so that nlohmann
// stays an implementation detail.
class TokenizerLoader {
 public:
  TokenizerLoader(Tokenizer* tokenizer, std::string source)
      : t_(tokenizer), root_(std::move(source)) {}

  absl::Status Load(const Json& json) {
    if (!json.is_object()) return root_.Error("expected a JSON object");
    RETURN_IF_ERROR(LoadNormalizer(Field(json, "normalizer"), root_.Key("normalizer"), 0));
    ASSIGN_OR_RETURN(t_->pre_tokenizer_, PreTokenizer::FromJson(Field(json, "pre_tokenizer"),
                                                                root_.Key("pre_tokenizer")));
    const Json* model = FindField(json, "model");
    if (model == nullptr || !model->is_object()) {
      return root_.Key("model").Error("missing (expected an object)");
    }
    RETURN_IF_ERROR(LoadModel(*model, root_.Key("model")));
    RETURN_IF_ERROR(LoadAddedTokens(Field(json, "added_tokens"), root_.Key("added_tokens")));
    RETURN_IF_ERROR(LoadDecoder(Field(json, "decoder"), root_.Key("decoder")));
    RETURN_IF_ERROR(BuildIdTables());
    // The post-processor may name any token, so it is read once every id is known.
    RETURN_IF_ERROR(
        LoadPostProcessor(Field(json, "post_processor"), root_.Key("post_processor"), 0));
    return absl::OkStatus();
  }

 private:
  // `object[key]`, or null when absent.
  const Json& Field(const Json& object, absl::string_view key) const {
    const Json* value = FindField(object, key);
    return value == nullptr ? null_ : *value;
  }

  // `depth`: the Sequences `spec` is inside of.
  absl::Status LoadNormalizer(const Json& spec, const JsonPath& at, int depth) {
    if (spec.is_null()) return absl::OkStatus();
    ASSIGN_OR_RETURN(std::string type, GetType(spec, at));
    if (type == "NFC") {
      t_->nfc_ = true;
      return absl::OkStatus();
    }
    if (type == "Sequence") {
      if (depth >= kMaxSequenceDepth) return SequenceTooDeep(at);
      const Json* list = FindField(spec, "normalizers");
      if (list == nullptr || !list->is_array()) {
        return at.Key("normalizers").Error("expected an array");
      }
      for (size_t i = 0; i < list->size(); ++i) {
        RETURN_IF_ERROR(LoadNormalizer((*list)[i], at.Key("normalizers").Index(i), depth + 1));
      }
      return absl::OkStatus();
    }
    return Unsupported(at.Key("type"), type, "NFC, Sequence of NFC");
  }

  absl::Status LoadVocab(const Json& model, const JsonPath& at) {
    const Json* vocab = FindField(model, "vocab");
    const JsonPath vocab_at = at.Key("vocab");
    if (vocab == nullptr || !vocab->is_object()) {
      return vocab_at.Error("expected an object {token: id}");
    }
    t_->vocab_.reserve(vocab->size());
    for (auto it = vocab->begin(); it != vocab->end(); ++it) {
      ASSIGN_OR_RETURN(int32_t id, GetTokenId(it.value(), vocab_at.Key(it.key())));
      t_->vocab_.emplace(it.key(), id);
    }
    // Two tokens with one id would make decoding ambiguous.
    int32_t max_id = -1;
    for (const auto& [token, id] : t_->vocab_) max_id = std::max(max_id, id);
    std::vector<const std::string*> by_id(static_cast<size_t>(max_id) + 1, nullptr);
    for (const auto& [token, id] : t_->vocab_) {
      const std::string*& slot = by_id[static_cast<size_t>(id)];
      if (slot != nullptr) {
        const std::string& a = std::min(token, *slot);
        const std::string& b = std::max(token, *slot);
        return vocab_at.Error(
            absl::StrCat("id ", id, " is used by both \"", a, "\" and \"", b, "\""));
      }
      slot = &token;
    }
    return absl::OkStatus();
  }

  absl::Status LoadModel(const Json& model, const JsonPath& at) {
    std::string type;
    if (FindField(model, "type") == nullptr && FindField(model, "merges") != nullptr) {
      type = "BPE";  // files written before models carried a type
    } else {
      ASSIGN_OR_RETURN(type, GetType(model, at));
    }
    if (type == "BPE") {
      if (!t_->pre_tokenizer_->byte_level()) {
        return root_.Key("pre_tokenizer")
            .Error(
                "a BPE model needs a ByteLevel pre-tokenizer (only byte-level BPE is "
                "supported)");
      }
      RETURN_IF_ERROR(LoadVocab(model, at));
      ASSIGN_OR_RETURN(t_->bpe_, BpeModel::Create(model, at, t_->vocab_));
    } else if (type == "WordLevel") {
      RETURN_IF_ERROR(LoadVocab(model, at));
      ASSIGN_OR_RETURN(absl::optional<std::string> unk, GetOptionalString(model, at, "unk_token"));
      const std::string unk_token = unk.value_or("<unk>");  // Hugging Face's default
      auto it = t_->vocab_.find(unk_token);
      if (it == t_->vocab_.end()) {
        return at.Key("unk_token").Error(absl::StrCat("\"", unk_token, "\" is not in model.vocab"));
      }
      t_->word_level_unk_id_ = it->second;
    } else {
      return Unsupported(at.Key("type"), type, "BPE, WordLevel");
    }
    t_->model_type_ = type;
    return absl::OkStatus();
  }

  absl::Status LoadAddedTokens(const Json& list, const JsonPath& at) {
    if (list.is_null()) return absl::OkStatus();
    if (!list.is_array()) return at.Error("expected an array");
    std::vector<std::pair<std::string, const AddedToken*>> raw, normalized;
    for (size_t i = 0; i < list.size(); ++i) {
      const Json& spec = list[i];
      const JsonPath spec_at = at.Index(i);
      if (!spec.is_object()) return spec_at.Error("expected an object");
      auto token = std::make_unique<AddedToken>();
      const Json* id = FindField(spec, "id");
      if (id == nullptr) return spec_at.Key("id").Error("missing");
      ASSIGN_OR_RETURN(token->id, GetTokenId(*id, spec_at.Key("id")));
      ASSIGN_OR_RETURN(token->content, GetString(spec, spec_at, "content"));
      if (token->content.empty()) return spec_at.Key("content").Error("empty");
      ASSIGN_OR_RETURN(token->special, GetBool(spec, spec_at, "special", false));
      ASSIGN_OR_RETURN(token->single_word, GetBool(spec, spec_at, "single_word", false));
      ASSIGN_OR_RETURN(token->lstrip, GetBool(spec, spec_at, "lstrip", false));
      ASSIGN_OR_RETURN(token->rstrip, GetBool(spec, spec_at, "rstrip", false));
      ASSIGN_OR_RETURN(token->normalized, GetBool(spec, spec_at, "normalized", !token->special));
      // Hugging Face's tokenizers do not take an added token's id from the file: a token already
      // in the vocabulary keeps that id, any other takes the next id after the model vocabulary
      // and the added tokens before it. A file that says otherwise would be encoded differently
      // by Hugging Face than it reads, so it is refused.
      const int32_t expected = ExpectedAddedTokenId(token->content);
      if (token->id != expected) {
        return spec_at.Key("id").Error(absl::StrCat(
            "the file gives \"", token->content, "\" id ", token->id,
            " but Hugging Face's tokenizers would give it id ", expected,
            " (an added token not in model.vocab takes the next id after model.vocab (",
            t_->vocab_.size(), " entries) and the added tokens before it)"));
      }
      t_->added_token_ids_.emplace(token->content, token->id);
      if (token->normalized) {
        normalized.emplace_back(t_->nfc_ ? NormalizeNfc(token->content) : token->content,
                                token.get());
      } else {
        raw.emplace_back(token->content, token.get());
      }
      t_->added_tokens_.push_back(std::move(token));
    }
    t_->raw_added_ = std::make_unique<AddedTokenMatcher>(raw);
    t_->normalized_added_ = std::make_unique<AddedTokenMatcher>(normalized);
    return absl::OkStatus();
  }

  // The id AddedVocabulary::add_tokens gives `content` after the tokens added so far.
  int32_t ExpectedAddedTokenId(const std::string& content) const {
    if (auto it = t_->added_token_ids_.find(content); it != t_->added_token_ids_.end()) {
      return it->second;
    }
    if (auto it = t_->vocab_.find(content); it != t_->vocab_.end()) return it->second;
    const int32_t model_size = static_cast<int32_t>(t_->vocab_.size());
    if (t_->added_tokens_.empty()) return model_size;
    int32_t max_added = 0;
    for (const auto& token : t_->added_tokens_) max_added = std::max(max_added, token->id);
    return (max_added >= model_size || model_size == 0) ? max_added + 1 : model_size;
  }

  absl::Status LoadDecoder(const Json& spec, const JsonPath& at) {
    bool byte_level = false;
    bool any = false;
    RETURN_IF_ERROR(CollectDecoders(spec, at, 0, &byte_level, &any));
    if (!any) {
      t_->decoder_ = Tokenizer::DecoderKind::kJoinWithSpace;
    } else {
      t_->decoder_ =
          byte_level ? Tokenizer::DecoderKind::kByteLevel : Tokenizer::DecoderKind::kFuse;
    }
    if (t_->bpe_ != nullptr && t_->decoder_ != Tokenizer::DecoderKind::kByteLevel) {
      return at.Error("a byte-level BPE model needs a ByteLevel decoder");
    }
    return absl::OkStatus();
  }

  absl::Status CollectDecoders(const Json& spec, const JsonPath& at, int depth, bool* byte_level,
                               bool* any) {
    if (spec.is_null()) return absl::OkStatus();
    ASSIGN_OR_RETURN(std::string type, GetType(spec, at));
    *any = true;
    if (type == "ByteLevel") {
      *byte_level = true;
      return absl::OkStatus();
    }
    if (type == "Fuse") return absl::OkStatus();
    if (type == "Sequence") {
      if (depth >= kMaxSequenceDepth) return SequenceTooDeep(at);
      const Json* list = FindField(spec, "decoders");
      if (list == nullptr || !list->is_array()) {
        return at.Key("decoders").Error("expected an array");
      }
      for (size_t i = 0; i < list->size(); ++i) {
        RETURN_IF_ERROR(
            CollectDecoders((*list)[i], at.Key("decoders").Index(i), depth + 1, byte_level, any));
      }
      return absl::OkStatus();
    }
    return Unsupported(at.Key("type"), type, "ByteLevel, Fuse, Sequence");
  }

  // The id of a token named by the post-processor.
  absl::StatusOr<int32_t> NamedTokenId(const std::string& token, const JsonPath& at) {
    if (absl::optional<int32_t> id = t_->TokenToId(token); id.has_value()) return *id;
    return at.Error(absl::StrCat("token \"", token, "\" is not in the vocabulary"));
  }

  // An id the post-processor inserts: one the vocabulary or the added tokens define (the model
  // has no embedding row for any other).
  absl::StatusOr<int32_t> KnownTokenId(const Json& value, const JsonPath& at) {
    ASSIGN_OR_RETURN(int32_t id, GetTokenId(value, at));
    if (id >= t_->vocab_size_ || !t_->id_known_[static_cast<size_t>(id)]) {
      return at.Error(absl::StrCat("token id ", id, " is not in the vocabulary"));
    }
    return id;
  }

  // A [token, id] pair of BertProcessing / RobertaProcessing.
  absl::StatusOr<int32_t> TokenPairId(const Json& spec, const JsonPath& at, const char* key) {
    const Json* pair = FindField(spec, key);
    if (pair == nullptr || !pair->is_array() || pair->size() != 2 || !(*pair)[0].is_string()) {
      return at.Key(key).Error("expected [\"token\", id]");
    }
    return KnownTokenId((*pair)[1], at.Key(key).Index(1));
  }

  absl::Status LoadPostProcessor(const Json& spec, const JsonPath& at, int depth) {
    if (spec.is_null()) return absl::OkStatus();
    ASSIGN_OR_RETURN(std::string type, GetType(spec, at));
    std::vector<int32_t> prefix, suffix;
    if (type == "ByteLevel") return absl::OkStatus();  // offsets only
    if (type == "Sequence") {
      if (depth >= kMaxSequenceDepth) return SequenceTooDeep(at);
      const Json* list = FindField(spec, "processors");
      if (list == nullptr || !list->is_array()) {
        return at.Key("processors").Error("expected an array");
      }
      for (size_t i = 0; i < list->size(); ++i) {
        RETURN_IF_ERROR(LoadPostProcessor((*list)[i], at.Key("processors").Index(i), depth + 1));
      }
      return absl::OkStatus();
    }
    if (type == "BertProcessing" || type == "RobertaProcessing") {
      ASSIGN_OR_RETURN(int32_t cls, TokenPairId(spec, at, "cls"));
      ASSIGN_OR_RETURN(int32_t sep, TokenPairId(spec, at, "sep"));
      prefix.push_back(cls);
      suffix.push_back(sep);
    } else if (type == "TemplateProcessing") {
      RETURN_IF_ERROR(ParseTemplate(spec, at, &prefix, &suffix));
    } else {
      return Unsupported(at.Key("type"), type,
                         "ByteLevel, TemplateProcessing, BertProcessing, RobertaProcessing, "
                         "Sequence");
    }
    // A later processor wraps what the earlier ones produced.
    t_->template_prefix_.insert(t_->template_prefix_.begin(), prefix.begin(), prefix.end());
    t_->template_suffix_.insert(t_->template_suffix_.end(), suffix.begin(), suffix.end());
    return absl::OkStatus();
  }

  absl::Status ParseTemplate(const Json& spec, const JsonPath& at, std::vector<int32_t>* prefix,
                             std::vector<int32_t>* suffix) {
    const Json* single = FindField(spec, "single");
    const JsonPath single_at = at.Key("single");
    if (single == nullptr || !single->is_array()) return single_at.Error("expected an array");
    const Json* specials = FindField(spec, "special_tokens");
    bool seen_sequence = false;
    for (size_t i = 0; i < single->size(); ++i) {
      const Json& piece = (*single)[i];
      const JsonPath piece_at = single_at.Index(i);
      if (const Json* seq = FindField(piece, "Sequence"); seq != nullptr) {
        ASSIGN_OR_RETURN(std::string which, GetString(*seq, piece_at.Key("Sequence"), "id"));
        if (which != "A" || seen_sequence) {
          return piece_at.Error("the single template must hold sequence A exactly once");
        }
        seen_sequence = true;
        continue;
      }
      const Json* special = FindField(piece, "SpecialToken");
      if (special == nullptr) {
        return piece_at.Error("expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
      }
      const JsonPath special_at = piece_at.Key("SpecialToken");
      ASSIGN_OR_RETURN(std::string name, GetString(*special, special_at, "id"));
      std::vector<int32_t>* out = seen_sequence ? suffix : prefix;
      // The ids come from special_tokens[name].ids when listed, else from the vocabulary.
      const Json* entry = specials == nullptr ? nullptr : FindField(*specials, name);
      const Json* ids = entry == nullptr ? nullptr : FindField(*entry, "ids");
      if (ids != nullptr) {
        const JsonPath ids_at = at.Key("special_tokens").Key(name).Key("ids");
        if (!ids->is_array()) return ids_at.Error("expected an array");
        for (size_t j = 0; j < ids->size(); ++j) {
          ASSIGN_OR_RETURN(int32_t id, KnownTokenId((*ids)[j], ids_at.Index(j)));
          out->push_back(id);
        }
      } else {
        ASSIGN_OR_RETURN(int32_t id, NamedTokenId(name, special_at.Key("id")));
        out->push_back(id);
      }
    }
    if (!seen_sequence) return single_at.Error("the single template must hold sequence A");
    return absl::OkStatus();
  }

  // Fills the per-id tables. Ids are unique in model.vocab (LoadVocab); an added token may
  // share its id with the vocabulary entry of the same content.
  absl::Status BuildIdTables() {
    int32_t max_id = -1;
    for (const auto& [token, id] : t_->vocab_) max_id = std::max(max_id, id);
    for (const auto& token : t_->added_tokens_) max_id = std::max(max_id, token->id);
    const size_t size = static_cast<size_t>(max_id) + 1;
    t_->vocab_size_ = static_cast<int>(size);
    t_->id_to_token_.assign(size, std::string());
    t_->id_known_.assign(size, false);
    t_->special_.assign(size, false);
    for (const auto& [token, id] : t_->vocab_) {
      const size_t i = static_cast<size_t>(id);
      t_->id_to_token_[i] = token;
      t_->id_known_[i] = true;
    }
    for (const auto& token : t_->added_tokens_) {
      const size_t i = static_cast<size_t>(token->id);
      t_->id_to_token_[i] = token->content;
      t_->id_known_[i] = true;
      if (token->special) t_->special_[i] = true;
    }
    if (t_->decoder_ == Tokenizer::DecoderKind::kByteLevel) {
      // Hugging Face's ByteLevel decoder maps each token's characters back to bytes and keeps a
      // token with a character outside the table (e.g. an added token with a space) as it is.
      t_->id_to_text_.assign(size, std::string());
      for (size_t i = 0; i < size; ++i) {
        absl::optional<std::string> bytes = ByteLevelToBytes(t_->id_to_token_[i]);
        t_->id_to_text_[i] = bytes.has_value() ? std::move(*bytes) : t_->id_to_token_[i];
      }
    }
    return absl::OkStatus();
  }

  Tokenizer* t_;
  JsonPath root_;
  const Json null_;
};

}  // namespace internal

using internal::Json;

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromFile(
    const std::string& tokenizer_json_path) {
  ASSIGN_OR_RETURN(std::string text, files::ReadFile(tokenizer_json_path));
  return FromJson(text, tokenizer_json_path);
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(absl::string_view json,
                                                               absl::string_view source_name) {
  std::unique_ptr<Tokenizer> tokenizer(new Tokenizer());
  try {
    const Json parsed = Json::parse(json.begin(), json.end());
    internal::TokenizerLoader loader(tokenizer.get(), std::string(source_name));
    RETURN_IF_ERROR(loader.Load(parsed));
  } catch (const std::exception& e) {
    // nlohmann reports malformed JSON (with the byte offset) by throwing.
    return absl::InvalidArgumentError(absl::StrCat(source_name, ": ", e.what()));
  }
  return tokenizer;
}

std::vector<int32_t> Tokenizer::Encode(absl::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  if (raw_added_ == nullptr || raw_added_->empty()) {
    EncodePlain(text, &ids);
    return ids;
  }
  std::vector<internal::TextSegment> segments;
  raw_added_->Split(text, &segments);
  for (const internal::TextSegment& segment : segments) {
    if (segment.token_id >= 0) {
      ids.push_back(segment.token_id);
    } else {
      EncodePlain(segment.text, &ids);
    }
  }
  return ids;
}

std::vector<int32_t> Tokenizer::EncodeWithSpecialTokens(absl::string_view text) const {
  std::vector<int32_t> ids = template_prefix_;
  std::vector<int32_t> body = Encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  ids.insert(ids.end(), template_suffix_.begin(), template_suffix_.end());
  return ids;
}

void Tokenizer::EncodePlain(absl::string_view text, std::vector<int32_t>* ids) const {
  std::string normalized_storage;
  absl::string_view normalized = text;
  if (nfc_ && !internal::IsNfcQuickYes(text)) {
    normalized_storage = internal::NormalizeNfc(text);
    normalized = normalized_storage;
  }
  if (normalized_added_ == nullptr || normalized_added_->empty()) {
    EncodeWords(normalized, ids);
    return;
  }
  std::vector<internal::TextSegment> segments;
  normalized_added_->Split(normalized, &segments);
  for (const internal::TextSegment& segment : segments) {
    if (segment.token_id >= 0) {
      ids->push_back(segment.token_id);
    } else {
      EncodeWords(segment.text, ids);
    }
  }
}

void Tokenizer::EncodeWords(absl::string_view text, std::vector<int32_t>* ids) const {
  std::vector<absl::string_view> words;
  std::deque<std::string> storage;
  pre_tokenizer_->Split(text, &words, &storage);
  for (absl::string_view word : words) {
    if (bpe_ != nullptr) {
      bpe_->Encode(word, ids);
      continue;
    }
    auto it = pre_tokenizer_->byte_level() ? vocab_.find(internal::BytesToByteLevel(word))
                                           : vocab_.find(word);
    ids->push_back(it == vocab_.end() ? word_level_unk_id_ : it->second);
  }
}

std::string Tokenizer::Decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::string out;
  bool first = true;
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size_ || !id_known_[static_cast<size_t>(id)]) continue;
    const size_t i = static_cast<size_t>(id);
    if (skip_special_tokens && special_[i]) continue;
    switch (decoder_) {
      case DecoderKind::kByteLevel:
        out += id_to_text_[i];
        break;
      case DecoderKind::kFuse:
        out += id_to_token_[i];
        break;
      case DecoderKind::kJoinWithSpace:
        if (!first) out += ' ';
        out += id_to_token_[i];
        break;
    }
    first = false;
  }
  return out;
}

absl::optional<int32_t> Tokenizer::TokenToId(absl::string_view token) const {
  if (auto it = added_token_ids_.find(token); it != added_token_ids_.end()) return it->second;
  if (auto it = vocab_.find(token); it != vocab_.end()) return it->second;
  return absl::nullopt;
}

std::string Tokenizer::IdToToken(int32_t id) const {
  if (id < 0 || id >= vocab_size_) return std::string();
  return id_to_token_[static_cast<size_t>(id)];
}

bool Tokenizer::IsSpecial(int32_t id) const {
  return id >= 0 && id < vocab_size_ && special_[static_cast<size_t>(id)];
}

}  // namespace chord::tokenizer
