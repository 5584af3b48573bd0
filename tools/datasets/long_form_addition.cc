#include "tools/datasets/long_form_addition.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/files/file_io.h"
#include "common/status/status_macros.h"

namespace chord::datasets {
namespace {

constexpr const char* kColumnNames[] = {"units", "tens", "hundreds", "thousands"};
constexpr int kNamedColumns = 4;

std::string ColumnName(int index) {
  return index < kNamedColumns ? kColumnNames[index] : absl::StrCat("column ", index + 1);
}

std::vector<int> DigitsOf(int64_t v) {  // least significant first
  std::vector<int> digits;
  do {
    digits.push_back(static_cast<int>(v % 10));
    v /= 10;
  } while (v > 0);
  return digits;
}

// "47+85=?" -> the problem; false for anything else.
bool ParseAdditionPrompt(absl::string_view prompt, ArithmeticProblem* problem) {
  if (!absl::ConsumeSuffix(&prompt, "=?")) return false;
  std::vector<absl::string_view> operands = absl::StrSplit(prompt, '+');
  return operands.size() == 2 && absl::SimpleAtoi(operands[0], &problem->a) &&
         absl::SimpleAtoi(operands[1], &problem->b) && problem->a >= 0 && problem->b >= 0 &&
         (problem->op = '+', true);
}

}  // namespace

std::string LongFormSolution(const ArithmeticProblem& p) {
  if (p.op != '+') return ArithmeticWorkedSolution(p);
  std::vector<int> a = DigitsOf(p.a);
  std::vector<int> b = DigitsOf(p.b);
  size_t n = std::max(a.size(), b.size());
  a.resize(n, 0);
  b.resize(n, 0);
  std::vector<std::string> lines;
  int carry = 0;
  for (size_t i = 0; i < n; ++i) {
    int sum = a[i] + b[i] + carry;
    lines.push_back(absl::StrCat(ColumnName(static_cast<int>(i)), " ", a[i], "+", b[i],
                                 carry > 0 ? "+1" : "", "=", sum, sum >= 10 ? " carry 1" : ""));
    carry = sum / 10;
  }
  if (carry > 0) lines.push_back(absl::StrCat(ColumnName(static_cast<int>(n)), " 1"));
  lines.push_back(absl::StrCat("\\boxed{", ArithmeticAnswer(p), "}"));
  return absl::StrJoin(lines, "\n");
}

bool IsLongForm(absl::string_view response) {
  for (absl::string_view line : absl::StrSplit(response, '\n')) {
    line = absl::StripLeadingAsciiWhitespace(line);
    for (const char* name : kColumnNames) {
      if (absl::StartsWith(line, absl::StrCat(name, " "))) return true;
    }
    if (absl::StartsWith(line, "column ")) return true;
  }
  return false;
}

absl::StatusOr<DatasetFiles> WriteLongFormAdditionDatasets(const std::string& out_dir,
                                                           const LongFormAdditionOptions& options) {
  // The problems are those of the quickstart's generator for the same options (its checks and
  // its held-out pool included); only the demonstrations' text is rewritten.
  ArithmeticOptions arithmetic;
  arithmetic.num_tasks = options.num_tasks;
  arithmetic.num_expert = options.num_expert;
  arithmetic.num_eval = options.num_eval;
  arithmetic.min_digits = options.min_digits;
  arithmetic.max_digits = options.max_digits;
  arithmetic.ops = "+";
  arithmetic.seed = options.seed;
  ASSIGN_OR_RETURN(DatasetFiles files, WriteArithmeticDatasets(out_dir, arithmetic));
  ASSIGN_OR_RETURN(std::string expert, files::ReadFile(files.expert));
  std::string rewritten;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(expert, '\n', absl::SkipEmpty())) {
    ++line_number;
    nlohmann::json record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ArithmeticProblem problem;
    if (record.is_discarded() || !record.contains("messages") || record["messages"].size() != 2 ||
        !record["messages"][0]["content"].is_string() ||
        !ParseAdditionPrompt(record["messages"][0]["content"].get<std::string>(), &problem)) {
      return absl::InternalError(absl::StrCat(files.expert, ":", line_number,
                                              ": messages: not an addition demonstration"));
    }
    record["messages"][1]["content"] = LongFormSolution(problem);
    absl::StrAppend(&rewritten, record.dump(), "\n");
  }
  RETURN_IF_ERROR(files::WriteFileAtomically(files.expert, rewritten));
  return files;
}

}  // namespace chord::datasets
