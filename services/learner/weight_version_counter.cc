#include "services/learner/weight_version_counter.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/files/file_io.h"
#include "common/status/status_macros.h"

namespace chord::learner {

absl::StatusOr<std::unique_ptr<WeightVersionCounter>> WeightVersionCounter::Open(
    const std::string& path) {
  int64_t last = 0;
  auto text = files::ReadFile(path);
  if (text.ok()) {
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &last) || last < 0) {
      return absl::DataLossError(absl::StrCat(path, ": not a weight version counter"));
    }
  } else if (text.status().code() != absl::StatusCode::kNotFound) {
    return text.status();
  }
  return std::unique_ptr<WeightVersionCounter>(new WeightVersionCounter(path, last));
}

absl::StatusOr<int64_t> WeightVersionCounter::Next() {
  RETURN_IF_ERROR(files::WriteFileAtomically(path_, absl::StrCat(last_ + 1, "\n")));
  return ++last_;
}

}  // namespace chord::learner
