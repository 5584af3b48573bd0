#pragma once

// Dataset records and their JSONL form: parsing and validation of expert demonstrations and RL
// task sets. A library: the expert buffer service loads datasets with it, and other code (chordctl,
// the learner's evaluation) reads task and expert files with the same rules.
//
// One JSON object per line; blank lines are skipped; a UTF-8 byte order mark at the start is
// ignored; keys other than those below are ignored. Field by field (docs/expert-buffer.md has
// examples):
//
//   expert:  {"messages": [{"role": "system|user|assistant|tool", "content": "...",
//                            "name": "..."}, ...]}
//              non-empty; `content` is a string (null or absent reads as ""); the last message
//              must be the assistant's, with non-empty content: it is the supervised target.
//            or {"prompt": "...", "response": "..."}: both non-empty strings; becomes
//              [user: prompt, assistant: response].
//   tasks:   exactly one of `prompt` or `question` (non-empty string) or `messages` (a chat as
//              above that does not end with an assistant message);
//            `answer`: a string, or a number kept as its JSON text (42 -> "42");
//            `kind` (optional string: the verifier's name); `meta` (optional object, kept as
//              compact JSON text in Task.meta_json).
//   both:    optional `id` (non-empty string, or an integer kept as its text); default
//              "<dataset_name>:<line>" with the 1-based line number. Ids must be unique.
//
// Errors are INVALID_ARGUMENT "<source>:<line>: <field path>: <what>", e.g.
//   data/expert.jsonl:17: messages[2].role: must be one of system, user, assistant, tool (got
//   "bot") tasks.jsonl:3: answer: missing x.jsonl:5: invalid JSON: expected ',' or '}' in an object
//   at column 40
// A dataset with no record, duplicate ids (both lines named) or a line longer than
// `max_line_bytes` is an error too. The first error in file order is reported.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "chord/v1/common.pb.h"

namespace chord::dataset {

enum class DatasetKind {
  // Expert demonstrations (chord.v1.ExpertSample).
  kExpert = 1,
  // RL tasks (chord.v1.Task).
  kTasks = 2,
};

// "expert" or "tasks".
absl::string_view DatasetKindName(DatasetKind kind);

// Parses "expert" or "tasks". INVALID_ARGUMENT otherwise.
absl::StatusOr<DatasetKind> ParseDatasetKind(absl::string_view name);

struct ParseOptions {
  // Dataset name: default record ids are "<dataset_name>:<line>".
  std::string dataset_name = "dataset";
  // What errors call the text: its path, or "<inline:NAME>" for content sent inline.
  std::string source = "<inline>";
  // Threads that parse lines in parallel; 0 means std::thread::hardware_concurrency(). Small
  // inputs use fewer threads than asked.
  int threads = 0;
  // Longest line accepted, in bytes (without its line break).
  size_t max_line_bytes = 16u << 20;
};

// The records of one dataset, in file order. Exactly one vector is filled, per `kind`.
struct Records {
  DatasetKind kind = DatasetKind::kExpert;
  std::vector<chord::v1::ExpertSample> expert;
  std::vector<chord::v1::Task> tasks;
  // Line number (1-based) each record came from, parallel to the filled vector.
  std::vector<int64_t> lines;

  int64_t size() const {
    return static_cast<int64_t>(kind == DatasetKind::kExpert ? expert.size() : tasks.size());
  }
};

// Validates one record (one JSON line, no line break) of the given form. Errors are
// INVALID_ARGUMENT "<field path>: <what>" (no source or line: the caller adds them).
absl::StatusOr<chord::v1::ExpertSample> ParseExpertRecord(absl::string_view line,
                                                          absl::string_view default_id);
absl::StatusOr<chord::v1::Task> ParseTaskRecord(absl::string_view line,
                                                absl::string_view default_id);

// Parses and validates a whole JSONL text (see the file comment for the rules and errors).
absl::StatusOr<Records> ParseJsonl(DatasetKind kind, absl::string_view text,
                                   const ParseOptions& options);

// Typed conveniences over ParseJsonl.
absl::StatusOr<std::vector<chord::v1::ExpertSample>> ParseExpertJsonl(absl::string_view text,
                                                                      const ParseOptions& options);
absl::StatusOr<std::vector<chord::v1::Task>> ParseTasksJsonl(absl::string_view text,
                                                             const ParseOptions& options);

// Reads the file at `path` and parses it; errors name the path (`options.source` is ignored).
// NOT_FOUND when the file does not exist.
absl::StatusOr<std::vector<chord::v1::ExpertSample>> ReadExpertFile(const std::string& path,
                                                                    const ParseOptions& options);
absl::StatusOr<std::vector<chord::v1::Task>> ReadTasksFile(const std::string& path,
                                                           const ParseOptions& options);

}  // namespace chord::dataset
