#include "common/dataset/dataset.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <limits>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/dataset/json_line.h"
#include "common/files/file_io.h"
#include "common/status/status_macros.h"

namespace chord::dataset {
namespace {

using chord::v1::ChatMessage;
using chord::v1::ExpertSample;
using chord::v1::Task;

constexpr absl::string_view kRoles = "system, user, assistant, tool";

absl::Status FieldError(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

// `text` quoted and escaped for an error message, cut after 48 bytes.
std::string Quote(absl::string_view text) {
  constexpr size_t kMax = 48;
  if (text.size() <= kMax) return absl::StrCat("\"", absl::CHexEscape(text), "\"");
  return absl::StrCat("\"", absl::CHexEscape(text.substr(0, kMax)), "\"...");
}

absl::Status TypeError(absl::string_view field, absl::string_view expected,
                       const JsonValue& value) {
  return FieldError(field,
                    absl::StrCat("must be ", expected, " (got ", JsonTypeName(value.type()), ")"));
}

bool IsAbsent(const JsonValue* value) { return value == nullptr || value->is_null(); }

// Points found[i] at the member named keys[i] (nullptr when absent), in one pass over `object`.
// Returns the index of a key that appears twice, or -1.
template <size_t N>
int PickMembers(JsonValue* object, const std::array<absl::string_view, N>& keys,
                std::array<JsonValue*, N>* found) {
  found->fill(nullptr);
  for (JsonValue::Member& member : *object->mutable_members()) {
    for (size_t i = 0; i < N; ++i) {
      if (member.first == keys[i]) {
        if ((*found)[i] != nullptr) return static_cast<int>(i);
        (*found)[i] = &member.second;
        break;
      }
    }
  }
  return -1;
}

bool IsRole(absl::string_view role) {
  return role == "assistant" || role == "user" || role == "system" || role == "tool";
}

// Moves a required non-empty string out of `value`.
absl::Status TakeNonEmptyString(JsonValue* value, absl::string_view field, std::string* out) {
  if (value == nullptr) return FieldError(field, "missing");
  if (!value->is_string()) return TypeError(field, "a non-empty string", *value);
  if (value->string().empty()) return FieldError(field, "must be a non-empty string");
  *out = std::move(*value->mutable_string());
  return absl::OkStatus();
}

// The record's id: `id` when given (string, or an integer kept as its text), else the default.
absl::Status TakeId(JsonValue* value, absl::string_view default_id, std::string* out) {
  if (IsAbsent(value)) {
    out->assign(default_id.data(), default_id.size());
    return absl::OkStatus();
  }
  if (value->is_number()) {
    absl::string_view raw = value->raw();
    if (raw.find_first_of(".eE") != absl::string_view::npos) {
      return FieldError("id", absl::StrCat("must be a string or an integer (got ", raw, ")"));
    }
    out->assign(raw.data(), raw.size());
    return absl::OkStatus();
  }
  if (!value->is_string()) return TypeError("id", "a string", *value);
  if (value->string().empty()) return FieldError("id", "must be a non-empty string");
  *out = std::move(*value->mutable_string());
  return absl::OkStatus();
}

// Parses a chat (`field` is its path, e.g. "messages") into `out`. Checks every message's shape;
// the caller checks how the chat must end.
absl::Status TakeChat(JsonValue* value, absl::string_view field,
                      google::protobuf::RepeatedPtrField<ChatMessage>* out) {
  if (!value->is_array()) return TypeError(field, "an array of messages", *value);
  std::vector<JsonValue>& items = *value->mutable_items();
  if (items.empty()) return FieldError(field, "must not be empty");
  out->Reserve(static_cast<int>(items.size()));
  static constexpr std::array<absl::string_view, 3> kKeys = {"role", "content", "name"};
  for (size_t i = 0; i < items.size(); ++i) {
    auto path = [&](absl::string_view sub) { return absl::StrCat(field, "[", i, "]", sub); };
    JsonValue& item = items[i];
    if (!item.is_object()) return TypeError(path(""), "an object", item);
    std::array<JsonValue*, 3> found;
    int duplicate = PickMembers(&item, kKeys, &found);
    if (duplicate >= 0)
      return FieldError(path(absl::StrCat(".", kKeys[duplicate])), "duplicate key");
    auto [role, content, name] = found;
    if (role == nullptr) return FieldError(path(".role"), "missing");
    if (!role->is_string()) return TypeError(path(".role"), "a string", *role);
    if (!IsRole(role->string())) {
      return FieldError(path(".role"), absl::StrCat("must be one of ", kRoles, " (got ",
                                                    Quote(role->string()), ")"));
    }
    ChatMessage* message = out->Add();
    message->set_role(std::move(*role->mutable_string()));
    if (!IsAbsent(content)) {
      if (!content->is_string()) return TypeError(path(".content"), "a string", *content);
      message->set_content(std::move(*content->mutable_string()));
    }
    if (!IsAbsent(name)) {
      if (!name->is_string()) return TypeError(path(".name"), "a string", *name);
      message->set_name(std::move(*name->mutable_string()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<JsonValue> ParseObjectLine(absl::string_view line) {
  ASSIGN_OR_RETURN(JsonValue root, ParseJsonLine(line));
  if (!root.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the line must be a JSON object (got ", JsonTypeName(root.type()), ")"));
  }
  return root;
}

absl::Status ParseExpertInto(absl::string_view line, absl::string_view default_id,
                             ExpertSample* out) {
  ASSIGN_OR_RETURN(JsonValue root, ParseObjectLine(line));
  static constexpr std::array<absl::string_view, 4> kKeys = {"messages", "prompt", "response",
                                                             "id"};
  std::array<JsonValue*, 4> found;
  int duplicate = PickMembers(&root, kKeys, &found);
  if (duplicate >= 0) return FieldError(kKeys[duplicate], "duplicate key");
  auto [messages, prompt, response, id] = found;
  RETURN_IF_ERROR(TakeId(id, default_id, out->mutable_id()));
  if (!IsAbsent(messages)) {
    if (!IsAbsent(prompt) || !IsAbsent(response)) {
      return FieldError("messages", "give either messages, or prompt and response, not both");
    }
    RETURN_IF_ERROR(TakeChat(messages, "messages", out->mutable_messages()));
    int last = out->messages_size() - 1;
    const ChatMessage& target = out->messages(last);
    if (target.role() != "assistant") {
      return FieldError(absl::StrCat("messages[", last, "].role"),
                        absl::StrCat("the last message must be the assistant's (the supervised "
                                     "target), got ",
                                     Quote(target.role())));
    }
    if (target.content().empty()) {
      return FieldError(absl::StrCat("messages[", last, "].content"),
                        "must not be empty (the last assistant message is the supervised target)");
    }
    return absl::OkStatus();
  }
  if (IsAbsent(prompt) && IsAbsent(response)) {
    return FieldError("messages",
                      "missing (an expert record needs messages, or prompt and response)");
  }
  std::string prompt_text, response_text;
  RETURN_IF_ERROR(TakeNonEmptyString(prompt, "prompt", &prompt_text));
  RETURN_IF_ERROR(TakeNonEmptyString(response, "response", &response_text));
  ChatMessage* user = out->add_messages();
  user->set_role("user");
  user->set_content(std::move(prompt_text));
  ChatMessage* assistant = out->add_messages();
  assistant->set_role("assistant");
  assistant->set_content(std::move(response_text));
  return absl::OkStatus();
}

absl::Status ParseTaskInto(absl::string_view line, absl::string_view default_id, Task* out) {
  ASSIGN_OR_RETURN(JsonValue root, ParseObjectLine(line));
  static constexpr std::array<absl::string_view, 7> kKeys = {
      "prompt", "question", "messages", "answer", "kind", "meta", "id"};
  std::array<JsonValue*, 7> found;
  int duplicate = PickMembers(&root, kKeys, &found);
  if (duplicate >= 0) return FieldError(kKeys[duplicate], "duplicate key");
  auto [prompt, question, messages, answer, kind, meta, id] = found;
  RETURN_IF_ERROR(TakeId(id, default_id, out->mutable_id()));

  std::vector<absl::string_view> given;
  if (!IsAbsent(prompt)) given.push_back("prompt");
  if (!IsAbsent(question)) given.push_back("question");
  if (!IsAbsent(messages)) given.push_back("messages");
  if (given.empty()) {
    return FieldError("prompt", "missing (a task needs one of prompt, question, messages)");
  }
  if (given.size() > 1) {
    return FieldError(given[0], absl::StrCat("give exactly one of prompt, question, messages (got ",
                                             given[0], " and ", given[1], ")"));
  }
  if (!IsAbsent(prompt)) {
    RETURN_IF_ERROR(TakeNonEmptyString(prompt, "prompt", out->mutable_prompt()));
  } else if (!IsAbsent(question)) {
    RETURN_IF_ERROR(TakeNonEmptyString(question, "question", out->mutable_prompt()));
  } else {
    RETURN_IF_ERROR(TakeChat(messages, "messages", out->mutable_messages()));
    int last = out->messages_size() - 1;
    if (out->messages(last).role() == "assistant") {
      return FieldError(absl::StrCat("messages[", last, "].role"),
                        "a task's chat must end before the assistant's turn (got \"assistant\")");
    }
  }

  if (answer == nullptr) return FieldError("answer", "missing");
  if (answer->is_string()) {
    out->set_answer(std::move(*answer->mutable_string()));
  } else if (answer->is_number()) {
    out->set_answer(std::string(answer->raw()));
  } else {
    return TypeError("answer", "a string or a number", *answer);
  }

  if (!IsAbsent(kind)) {
    if (!kind->is_string()) return TypeError("kind", "a string (a verifier name)", *kind);
    out->set_kind(std::move(*kind->mutable_string()));
  }
  if (!IsAbsent(meta)) {
    if (!meta->is_object()) return TypeError("meta", "an object", *meta);
    AppendCompactJson(*meta, out->mutable_meta_json());
  }
  return absl::OkStatus();
}

// One non-blank line of the input.
struct LineRef {
  size_t offset;
  size_t length;
  int64_t line;
};

bool IsBlank(const char* p, size_t length) {
  for (size_t i = 0; i < length; ++i) {
    if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r') return false;
  }
  return true;
}

// Non-blank lines of `text` (line breaks "\n" or "\r\n"; a leading UTF-8 BOM skipped).
std::vector<LineRef> SplitLines(absl::string_view text) {
  std::vector<LineRef> lines;
  size_t pos = absl::StartsWith(text, "\xEF\xBB\xBF") ? 3 : 0;
  int64_t line = 0;
  while (pos < text.size()) {
    ++line;
    const void* newline = std::memchr(text.data() + pos, '\n', text.size() - pos);
    size_t end = newline == nullptr
                     ? text.size()
                     : static_cast<size_t>(static_cast<const char*>(newline) - text.data());
    size_t length = end - pos;
    if (length > 0 && text[pos + length - 1] == '\r') --length;
    if (!IsBlank(text.data() + pos, length)) lines.push_back({pos, length, line});
    pos = end + 1;
  }
  return lines;
}

int ThreadsFor(const ParseOptions& options, size_t bytes, size_t lines) {
  int threads =
      options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(threads, 1);
  // A thread is worth starting for about 256 KiB or 256 lines of work.
  size_t useful = std::max<size_t>(1, std::min(bytes / (256u << 10), lines / 256));
  return static_cast<int>(std::min<size_t>(static_cast<size_t>(threads), useful));
}

}  // namespace

absl::string_view DatasetKindName(DatasetKind kind) {
  return kind == DatasetKind::kExpert ? "expert" : "tasks";
}

absl::StatusOr<DatasetKind> ParseDatasetKind(absl::string_view name) {
  if (name == "expert") return DatasetKind::kExpert;
  if (name == "tasks") return DatasetKind::kTasks;
  return absl::InvalidArgumentError(
      absl::StrCat("dataset kind must be expert or tasks (got ", Quote(name), ")"));
}

absl::StatusOr<ExpertSample> ParseExpertRecord(absl::string_view line,
                                               absl::string_view default_id) {
  ExpertSample sample;
  RETURN_IF_ERROR(ParseExpertInto(line, default_id, &sample));
  return sample;
}

absl::StatusOr<Task> ParseTaskRecord(absl::string_view line, absl::string_view default_id) {
  Task task;
  RETURN_IF_ERROR(ParseTaskInto(line, default_id, &task));
  return task;
}

absl::StatusOr<Records> ParseJsonl(DatasetKind kind, absl::string_view text,
                                   const ParseOptions& options) {
  std::vector<LineRef> lines = SplitLines(text);
  if (lines.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.source, ": no records (the dataset is empty)"));
  }
  const size_t count = lines.size();
  Records records;
  records.kind = kind;
  records.lines.resize(count);
  if (kind == DatasetKind::kExpert) {
    records.expert.resize(count);
  } else {
    records.tasks.resize(count);
  }

  // Contiguous ranges of about equal bytes, one per thread.
  const int threads = ThreadsFor(options, text.size(), count);
  std::vector<size_t> bounds = {0};
  {
    size_t target = text.size() / static_cast<size_t>(threads) + 1;
    size_t bytes = 0;
    for (size_t i = 0; i < count && bounds.size() < static_cast<size_t>(threads); ++i) {
      bytes += lines[i].length + 1;
      if (bytes >= target * bounds.size()) bounds.push_back(i + 1);
    }
    bounds.push_back(count);
  }
  const size_t ranges = bounds.size() - 1;

  // Each range stops at its first error; ranges after the earliest failing record stop early.
  std::vector<absl::Status> errors(ranges);
  std::atomic<size_t> first_error{std::numeric_limits<size_t>::max()};
  auto parse_range = [&](size_t range) {
    std::string default_id;
    for (size_t i = bounds[range]; i < bounds[range + 1]; ++i) {
      if (i > first_error.load(std::memory_order_relaxed)) return;
      const LineRef& ref = lines[i];
      records.lines[i] = ref.line;
      absl::Status status;
      if (ref.length > options.max_line_bytes) {
        status = absl::InvalidArgumentError(absl::StrCat("line is ", ref.length,
                                                         " bytes, longer than the limit of ",
                                                         options.max_line_bytes, " bytes"));
      } else {
        absl::string_view line = text.substr(ref.offset, ref.length);
        default_id = absl::StrCat(options.dataset_name, ":", ref.line);
        status = kind == DatasetKind::kExpert
                     ? ParseExpertInto(line, default_id, &records.expert[i])
                     : ParseTaskInto(line, default_id, &records.tasks[i]);
      }
      if (!status.ok()) {
        errors[range] = absl::InvalidArgumentError(
            absl::StrCat(options.source, ":", ref.line, ": ", status.message()));
        size_t seen = first_error.load(std::memory_order_relaxed);
        while (i < seen && !first_error.compare_exchange_weak(seen, i)) {
        }
        return;
      }
    }
  };
  std::vector<std::thread> workers;
  workers.reserve(ranges - 1);
  for (size_t r = 1; r < ranges; ++r) workers.emplace_back(parse_range, r);
  parse_range(0);
  for (std::thread& worker : workers) worker.join();
  for (const absl::Status& error : errors) {
    if (!error.ok()) return error;
  }

  // Ids must be unique.
  absl::flat_hash_map<absl::string_view, int64_t> seen;
  seen.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const std::string& id =
        kind == DatasetKind::kExpert ? records.expert[i].id() : records.tasks[i].id();
    auto [it, inserted] = seen.emplace(id, records.lines[i]);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(options.source, ":", records.lines[i],
                                                     ": id: duplicate ", Quote(id),
                                                     " (first at line ", it->second, ")"));
    }
  }
  return records;
}

absl::StatusOr<std::vector<ExpertSample>> ParseExpertJsonl(absl::string_view text,
                                                           const ParseOptions& options) {
  ASSIGN_OR_RETURN(Records records, ParseJsonl(DatasetKind::kExpert, text, options));
  return std::move(records.expert);
}

absl::StatusOr<std::vector<Task>> ParseTasksJsonl(absl::string_view text,
                                                  const ParseOptions& options) {
  ASSIGN_OR_RETURN(Records records, ParseJsonl(DatasetKind::kTasks, text, options));
  return std::move(records.tasks);
}

absl::StatusOr<std::vector<ExpertSample>> ReadExpertFile(const std::string& path,
                                                         const ParseOptions& options) {
  ASSIGN_OR_RETURN(std::string text, files::ReadFile(path));
  ParseOptions with_source = options;
  with_source.source = path;
  return ParseExpertJsonl(text, with_source);
}

absl::StatusOr<std::vector<Task>> ReadTasksFile(const std::string& path,
                                                const ParseOptions& options) {
  ASSIGN_OR_RETURN(std::string text, files::ReadFile(path));
  ParseOptions with_source = options;
  with_source.source = path;
  return ParseTasksJsonl(text, with_source);
}

}  // namespace chord::dataset
