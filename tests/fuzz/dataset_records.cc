// Record validation of the JSONL dataset format (common/dataset/dataset.h): each line of
// the input is validated as an expert record and as a task record, and the whole input as a JSONL
// dataset of each kind, single-threaded and with 3 threads. Refusals are INVALID_ARGUMENT naming
// the field (or the line); accepted records keep the documented invariants; the threaded parse
// gives exactly the single-threaded result.

#include <google/protobuf/util/message_differencer.h>

#include "absl/strings/str_split.h"
#include "common/dataset/dataset.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using chord::dataset::DatasetKind;

void CheckRefusal(const absl::Status& status) {
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument, status.ToString());
  FUZZ_CHECK(!status.message().empty(), "empty message");
}

void CheckExpert(const chord::v1::ExpertSample& sample) {
  FUZZ_CHECK(!sample.id().empty(), sample.DebugString());
  FUZZ_CHECK(sample.messages_size() > 0, sample.DebugString());
  const chord::v1::ChatMessage& last = sample.messages(sample.messages_size() - 1);
  FUZZ_CHECK(last.role() == "assistant" && !last.content().empty(), sample.DebugString());
  for (const chord::v1::ChatMessage& m : sample.messages()) {
    FUZZ_CHECK(
        m.role() == "system" || m.role() == "user" || m.role() == "assistant" || m.role() == "tool",
        sample.DebugString());
  }
}

void CheckTask(const chord::v1::Task& task) {
  FUZZ_CHECK(!task.id().empty(), task.DebugString());
  FUZZ_CHECK(task.prompt().empty() != (task.messages_size() == 0), task.DebugString());
  if (task.messages_size() > 0) {
    FUZZ_CHECK(task.messages(task.messages_size() - 1).role() != "assistant", task.DebugString());
  }
}

template <typename T>
bool SameMessages(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!google::protobuf::util::MessageDifferencer::Equals(a[i], b[i])) return false;
  }
  return true;
}

void CheckDataset(DatasetKind kind, absl::string_view text) {
  chord::dataset::ParseOptions options;
  options.dataset_name = "fuzz";
  options.source = "fuzz.jsonl";
  options.max_line_bytes = 4096;
  options.threads = 1;
  absl::StatusOr<chord::dataset::Records> one = ParseJsonl(kind, text, options);
  options.threads = 3;
  absl::StatusOr<chord::dataset::Records> three = ParseJsonl(kind, text, options);
  FUZZ_CHECK(one.ok() == three.ok(), "threads changed the verdict");
  if (!one.ok()) {
    CheckRefusal(one.status());
    FUZZ_CHECK(one.status() == three.status(),
               absl::StrCat(one.status().ToString(), " vs ", three.status().ToString()));
    FUZZ_CHECK(absl::StartsWith(one.status().message(), "fuzz.jsonl"), one.status().ToString());
    return;
  }
  FUZZ_CHECK(one->size() > 0, "an accepted dataset with no record");
  FUZZ_CHECK(one->lines == three->lines, "threads changed the line numbers");
  FUZZ_CHECK(SameMessages(one->expert, three->expert) && SameMessages(one->tasks, three->tasks),
             "threads changed the records");
  for (const auto& sample : one->expert) CheckExpert(sample);
  for (const auto& task : one->tasks) CheckTask(task);
}

}  // namespace

CHORD_FUZZ_TARGET(dataset_records) {
  const absl::string_view text = chord::fuzz::AsText(data, size);
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    absl::StatusOr<chord::v1::ExpertSample> expert =
        chord::dataset::ParseExpertRecord(line, "fuzz:1");
    if (expert.ok()) {
      CheckExpert(*expert);
    } else {
      CheckRefusal(expert.status());
    }
    absl::StatusOr<chord::v1::Task> task = chord::dataset::ParseTaskRecord(line, "fuzz:1");
    if (task.ok()) {
      CheckTask(*task);
    } else {
      CheckRefusal(task.status());
    }
  }
  CheckDataset(DatasetKind::kExpert, text);
  CheckDataset(DatasetKind::kTasks, text);
}
