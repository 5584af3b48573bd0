#include "services/reward/tool_call_verifier.h"

#include <exception>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "services/reward/reason_text.h"

namespace chord::reward {
namespace {

using nlohmann::json;

constexpr int kMaxJsonDepth = 32;
constexpr size_t kMaxCalls = 128;
constexpr size_t kMaxExtractedBytes = 1024;
constexpr size_t kMaxReasonParts = 4;
constexpr absl::string_view kOpenTag = "<tool_call>";
constexpr absl::string_view kCloseTag = "</tool_call>";

struct Call {
  std::string name;
  json arguments;
};

struct ParsedCalls {
  std::vector<Call> calls;
  // Where they were found: "<tool_call> tags", "JSON", or "" when the text holds neither.
  std::string source;
};

// True when brackets outside JSON strings nest deeper than kMaxJsonDepth (checked before
// parsing, so that nothing recursive ever sees a deeper value).
bool TooDeep(absl::string_view text) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

absl::StatusOr<json> ParseJson(absl::string_view text) {
  if (TooDeep(text)) {
    return absl::InvalidArgumentError(
        absl::StrCat("JSON nested deeper than ", kMaxJsonDepth, " levels"));
  }
  try {
    return json::parse(text.begin(), text.end());
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid JSON: ", e.what()));
  }
}

std::string Dump(const json& value, size_t max_bytes = 120) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > max_bytes) {
    text = absl::StrCat(std::string(Utf8Prefix(text, max_bytes)), "...");
  }
  return text;
}

absl::Status AppendCall(const json& value, std::vector<Call>* calls) {
  if (!value.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("a tool call must be a JSON object, not ", value.type_name()));
  }
  const json* call = &value;
  auto function = value.find("function");
  if (function != value.end() && function->is_object()) call = &*function;
  auto name = call->find("name");
  if (name == call->end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tool call ", Dump(value, 60), " has no \"name\" string"));
  }
  Call parsed;
  parsed.name = name->get<std::string>();
  auto arguments = call->find("arguments");
  if (arguments == call->end()) arguments = call->find("parameters");
  if (arguments == call->end() || arguments->is_null()) {
    parsed.arguments = json::object();
  } else if (arguments->is_string()) {
    absl::StatusOr<json> inner = ParseJson(arguments->get_ref<const std::string&>());
    if (!inner.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("arguments of ", parsed.name,
                                                     " are a string that is not JSON (",
                                                     inner.status().message(), ")"));
    }
    parsed.arguments = std::move(*inner);
  } else {
    parsed.arguments = *arguments;
  }
  if (calls->size() >= kMaxCalls) {
    return absl::InvalidArgumentError(absl::StrCat("more than ", kMaxCalls, " tool calls"));
  }
  calls->push_back(std::move(parsed));
  return absl::OkStatus();
}

absl::Status AppendCalls(const json& value, std::vector<Call>* calls) {
  if (value.is_array()) {
    for (const json& element : value) {
      absl::Status status = AppendCall(element, calls);
      if (!status.ok()) return status;
    }
    return absl::OkStatus();
  }
  return AppendCall(value, calls);
}

absl::StatusOr<ParsedCalls> ParseToolCalls(absl::string_view text) {
  size_t think_end = text.rfind("</think>");
  if (think_end != absl::string_view::npos) text = text.substr(think_end + 8);
  ParsedCalls parsed;
  if (absl::StrContains(text, kOpenTag)) {
    parsed.source = "<tool_call> tags";
    size_t pos = 0;
    int tag = 0;
    while ((pos = text.find(kOpenTag, pos)) != absl::string_view::npos) {
      ++tag;
      size_t close = text.find(kCloseTag, pos + kOpenTag.size());
      if (close == absl::string_view::npos) {
        return absl::InvalidArgumentError(absl::StrCat("<tool_call> ", tag, " is not closed"));
      }
      absl::string_view content =
          TrimWhitespace(text.substr(pos + kOpenTag.size(), close - pos - kOpenTag.size()));
      absl::StatusOr<json> value = ParseJson(content);
      absl::Status status = value.ok() ? AppendCalls(*value, &parsed.calls) : value.status();
      if (!status.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("<tool_call> ", tag, ": ", status.message()));
      }
      pos = close + kCloseTag.size();
    }
    return parsed;
  }
  std::vector<absl::string_view> candidates;
  absl::string_view trimmed = TrimWhitespace(text);
  if (trimmed.empty()) return parsed;
  candidates.push_back(trimmed);
  size_t fence = text.find("```");
  if (fence != absl::string_view::npos) {
    size_t line_end = text.find('\n', fence);
    size_t fence_end = line_end == absl::string_view::npos ? line_end : text.find("```", line_end);
    if (fence_end != absl::string_view::npos) {
      candidates.push_back(TrimWhitespace(text.substr(line_end, fence_end - line_end)));
    }
  }
  for (auto [open, close] : {std::pair<char, char>{'[', ']'}, std::pair<char, char>{'{', '}'}}) {
    size_t first = text.find(open);
    size_t last = text.rfind(close);
    if (first != absl::string_view::npos && last != absl::string_view::npos && last > first) {
      candidates.push_back(text.substr(first, last - first + 1));
    }
  }
  absl::Status first_error = absl::OkStatus();
  for (absl::string_view candidate : candidates) {
    absl::StatusOr<json> value = ParseJson(candidate);
    if (!value.ok()) {
      if (first_error.ok()) first_error = value.status();
      continue;
    }
    if (!value->is_array() && !value->is_object()) continue;
    parsed.source = "JSON";
    absl::Status status = AppendCalls(*value, &parsed.calls);
    if (!status.ok()) return status;
    return parsed;
  }
  if (absl::StrContains(text, "\"name\"")) {
    return first_error.ok() ? absl::InvalidArgumentError("no JSON tool call could be parsed")
                            : first_error;
  }
  return parsed;  // no calls
}

std::string Describe(const Call& call) { return absl::StrCat(call.name, Dump(call.arguments, 80)); }

std::string DumpCalls(const std::vector<Call>& calls) {
  json list = json::array();
  for (const Call& call : calls)
    list.push_back({{"name", call.name}, {"arguments", call.arguments}});
  std::string text = list.dump(-1, ' ', false, json::error_handler_t::replace);
  return std::string(Utf8Prefix(text, kMaxExtractedBytes));
}

VerifierResult ScoreImpl(const ScoreInput& input) {
  VerifierResult result;
  absl::StatusOr<ParsedCalls> reference = ParseToolCalls(input.reference);
  if (!reference.ok() || reference->source.empty()) {
    result.reason =
        absl::StrCat("reference: ", reference.ok() ? "no tool calls (use [] to expect none)"
                                                   : reference.status().message());
    return result;
  }
  absl::StatusOr<ParsedCalls> response = ParseToolCalls(input.response);
  if (!response.ok()) {
    result.reason = absl::StrCat("malformed tool calls: ", response.status().message());
    return result;
  }
  result.extracted = DumpCalls(response->calls);
  const std::vector<Call>& got = response->calls;
  const std::vector<Call>& want = reference->calls;
  std::vector<bool> matched(want.size(), false);
  std::vector<const Call*> extra;
  for (const Call& call : got) {
    bool found = false;
    for (size_t k = 0; k < want.size() && !found; ++k) {
      if (!matched[k] && want[k].name == call.name && want[k].arguments == call.arguments) {
        matched[k] = true;
        found = true;
      }
    }
    if (!found) extra.push_back(&call);
  }
  std::vector<std::string> problems;
  std::vector<bool> explained(want.size(), false);
  for (const Call* call : extra) {
    std::string problem = absl::StrCat("extra call ", Describe(*call));
    for (size_t k = 0; k < want.size(); ++k) {
      if (!matched[k] && !explained[k] && want[k].name == call->name) {
        explained[k] = true;
        problem = absl::StrCat("call ", call->name, " has arguments ", Dump(call->arguments, 80),
                               ", the reference has ", Dump(want[k].arguments, 80));
        break;
      }
    }
    problems.push_back(std::move(problem));
  }
  for (size_t k = 0; k < want.size(); ++k) {
    if (!matched[k] && !explained[k]) problems.push_back("missing call " + Describe(want[k]));
  }
  if (problems.empty()) {
    result.correct = true;
    result.score = 1.0;
    std::vector<std::string> names;
    for (const Call& call : got) names.push_back(call.name);
    result.reason = got.empty()
                        ? "no calls, as the reference expects"
                        : absl::StrCat(got.size(), " call(s) from ", response->source,
                                       " match the reference: ", absl::StrJoin(names, ", "));
    return result;
  }
  size_t total = problems.size();
  if (problems.size() > kMaxReasonParts) problems.resize(kMaxReasonParts);
  result.reason = absl::StrCat(
      got.size(), " call(s) vs ", want.size(), " in the reference: ", absl::StrJoin(problems, "; "),
      total > kMaxReasonParts ? absl::StrCat("; and ", total - kMaxReasonParts, " more") : "");
  return result;
}

}  // namespace

absl::Status ToolCallVerifier::ValidateTask(const ScoreInput& input) const {
  absl::StatusOr<ParsedCalls> reference = ParseToolCalls(input.reference);
  if (!reference.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("reference: ", reference.status().message()));
  }
  if (reference->source.empty()) {
    return absl::InvalidArgumentError(
        "reference: no tool calls found (use [] when no call is expected)");
  }
  return absl::OkStatus();
}

VerifierResult ToolCallVerifier::Score(const ScoreInput& input) const {
  try {
    return ScoreImpl(input);
  } catch (const std::exception& e) {
    VerifierResult result;
    result.reason = absl::StrCat("internal error while reading tool calls: ", e.what());
    return result;
  }
}

}  // namespace chord::reward
