#include "common/config/yaml_reader.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace chord::config {

absl::StatusOr<YAML::Node> ParseYaml(const std::string& text, const std::string& source) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ":", e.mark.line + 1, ": invalid YAML: ", e.msg));
  }
}

YamlReader::YamlReader(YAML::Node node, std::string source, std::vector<std::string>* problems,
                       std::string path)
    : node_(node), source_(std::move(source)), problems_(problems), path_(std::move(path)) {
  if (node_.IsDefined() && !node_.IsNull() && !node_.IsMap()) {
    problems_->push_back(absl::StrCat(source_, ":", node_.Mark().line + 1, ": ",
                                      path_.empty() ? "document" : path_,
                                      ": expected a mapping of keys to values"));
    node_ = YAML::Node();
  }
}

std::string YamlReader::PathOf(const std::string& key) const {
  return path_.empty() ? key : absl::StrCat(path_, ".", key);
}

std::string YamlReader::Where(const std::string& key) const {
  if (node_.IsMap()) {
    for (const auto& entry : node_) {
      if (entry.first.Scalar() == key) {
        return absl::StrCat(source_, ":", entry.first.Mark().line + 1, ": ", PathOf(key));
      }
    }
  }
  return absl::StrCat(source_, ": ", PathOf(key));
}

void YamlReader::Problem(const std::string& key, const std::string& message) {
  problems_->push_back(absl::StrCat(Where(key), ": ", message));
}

bool YamlReader::Has(const std::string& key) const {
  return node_.IsMap() && node_[key].IsDefined() && !node_[key].IsNull();
}

bool YamlReader::Lookup(const std::string& key, bool required, YAML::Node* value) {
  read_.push_back(key);
  if (!Has(key)) {
    if (required) problems_->push_back(absl::StrCat(source_, ": ", PathOf(key), ": required"));
    return false;
  }
  *value = node_[key];
  return true;
}

YAML::Node YamlReader::Raw(const std::string& key) {
  YAML::Node value(YAML::NodeType::Undefined);
  Lookup(key, false, &value);
  return value;
}

std::vector<std::string> YamlReader::Keys() const {
  std::vector<std::string> keys;
  if (node_.IsMap()) {
    for (const auto& entry : node_) keys.push_back(entry.first.Scalar());
  }
  return keys;
}

std::string YamlReader::ScalarText(const std::string& key) {
  YAML::Node value;
  if (!Lookup(key, false, &value)) return "";
  if (value.IsScalar()) return value.Scalar();
  if (value.IsSequence()) {
    std::vector<std::string> items;
    for (const auto& item : value) items.push_back(item.IsScalar() ? item.Scalar() : "?");
    return absl::StrJoin(items, ",");
  }
  Problem(key, "expected a value, got a mapping");
  return "";
}

bool YamlReader::Read(const std::string& key, std::string* out, bool required) {
  YAML::Node value;
  if (!Lookup(key, required, &value)) return false;
  if (!value.IsScalar()) {
    Problem(key, "expected a string");
    return false;
  }
  *out = value.Scalar();
  return true;
}

bool YamlReader::Read(const std::string& key, int64_t* out, bool required) {
  YAML::Node value;
  if (!Lookup(key, required, &value)) return false;
  if (!value.IsScalar() || !absl::SimpleAtoi(value.Scalar(), out)) {
    Problem(key, absl::StrCat("expected an integer, got \"",
                              value.IsScalar() ? value.Scalar() : "a collection", "\""));
    return false;
  }
  return true;
}

bool YamlReader::Read(const std::string& key, int* out, bool required) {
  int64_t wide = *out;
  if (!Read(key, &wide, required)) return false;
  if (wide < INT32_MIN || wide > INT32_MAX) {
    Problem(key, "out of range");
    return false;
  }
  *out = static_cast<int>(wide);
  return true;
}

bool YamlReader::Read(const std::string& key, uint64_t* out, bool required) {
  YAML::Node value;
  if (!Lookup(key, required, &value)) return false;
  if (!value.IsScalar() || !absl::SimpleAtoi(value.Scalar(), out)) {
    Problem(key, absl::StrCat("expected a non-negative integer, got \"",
                              value.IsScalar() ? value.Scalar() : "a collection", "\""));
    return false;
  }
  return true;
}

bool YamlReader::Read(const std::string& key, double* out, bool required) {
  YAML::Node value;
  if (!Lookup(key, required, &value)) return false;
  if (!value.IsScalar() || !absl::SimpleAtod(value.Scalar(), out)) {
    Problem(key, absl::StrCat("expected a number, got \"",
                              value.IsScalar() ? value.Scalar() : "a collection", "\""));
    return false;
  }
  return true;
}

bool YamlReader::Read(const std::string& key, bool* out, bool required) {
  YAML::Node value;
  if (!Lookup(key, required, &value)) return false;
  std::string text = value.IsScalar() ? value.Scalar() : "";
  if (text == "true" || text == "True" || text == "yes" || text == "on") {
    *out = true;
  } else if (text == "false" || text == "False" || text == "no" || text == "off") {
    *out = false;
  } else {
    Problem(key, absl::StrCat("expected true or false, got \"", text, "\""));
    return false;
  }
  return true;
}

bool YamlReader::Read(const std::string& key, std::vector<std::string>* out, bool required) {
  YAML::Node value;
  if (!Lookup(key, required, &value)) return false;
  out->clear();
  if (value.IsScalar()) {
    out->push_back(value.Scalar());
    return true;
  }
  if (!value.IsSequence()) {
    Problem(key, "expected a list");
    return false;
  }
  for (size_t i = 0; i < value.size(); ++i) {
    if (!value[i].IsScalar()) {
      Problem(key, absl::StrCat("item ", i, ": expected a string"));
      return false;
    }
    out->push_back(value[i].Scalar());
  }
  return true;
}

YamlReader YamlReader::Child(const std::string& key, bool required) {
  YAML::Node value;
  Lookup(key, required, &value);
  return YamlReader(value, source_, problems_, PathOf(key));
}

void YamlReader::Finish() {
  if (!node_.IsMap()) return;
  for (const auto& entry : node_) {
    std::string key = entry.first.Scalar();
    if (std::find(read_.begin(), read_.end(), key) == read_.end()) {
      problems_->push_back(absl::StrCat(source_, ":", entry.first.Mark().line + 1, ": ",
                                        PathOf(key), ": unknown key"));
    }
  }
}

absl::Status ProblemsToStatus(const std::vector<std::string>& problems, absl::string_view what) {
  if (problems.empty()) return absl::OkStatus();
  if (problems.size() == 1)
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", problems[0]));
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", problems.size(), " problems:\n  - ",
                                                 absl::StrJoin(problems, "\n  - ")));
}

}  // namespace chord::config
