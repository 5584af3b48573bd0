#include "tools/chordctl/spec_overrides.h"

#include <exception>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "yaml-cpp/yaml.h"

namespace chord::chordctl {

absl::StatusOr<std::string> ApplySpecOverrides(const std::string& yaml_text,
                                               const std::string& source,
                                               const std::vector<std::string>& overrides) {
  if (overrides.empty()) return yaml_text;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not valid YAML: ", e.what()));
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": the job spec must be a YAML map to apply --set"));
  }
  for (const std::string& override_text : overrides) {
    size_t equals = override_text.find('=');
    if (equals == std::string::npos || equals == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--set ", override_text, ": expected KEY.PATH=VALUE"));
    }
    std::vector<std::string> path =
        absl::StrSplit(absl::string_view(override_text).substr(0, equals), '.');
    for (const std::string& part : path) {
      if (part.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--set ", override_text, ": empty key in the path"));
      }
    }
    std::string value_text = override_text.substr(equals + 1);
    YAML::Node value;
    try {
      value = YAML::Load(value_text);
    } catch (const std::exception&) {
      value = YAML::Node(value_text);
    }
    if (value.IsNull() && !value_text.empty() && value_text != "null" && value_text != "~") {
      value = YAML::Node(value_text);
    }
    try {
      // yaml-cpp nodes are handles and assigning to a bound handle overwrites what it refers
      // to: every step makes a fresh handle (push_back copy-constructs), looks up with const
      // access (which inserts nothing) and assigns only map entries.
      std::vector<YAML::Node> chain;
      chain.push_back(root);
      std::string walked;
      for (size_t i = 0; i + 1 < path.size(); ++i) {
        walked += (i == 0 ? "" : ".") + path[i];
        const YAML::Node& parent = chain.back();
        const YAML::Node existing = parent[path[i]];
        if (!existing.IsDefined() || existing.IsNull()) {
          chain.back()[path[i]] = YAML::Node(YAML::NodeType::Map);
        } else if (!existing.IsMap()) {
          return absl::InvalidArgumentError(
              absl::StrCat("--set ", override_text, ": ", walked, " is not a map in ", source));
        }
        chain.push_back(chain.back()[path[i]]);
      }
      chain.back()[path.back()] = value;
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat("--set ", override_text, ": ", e.what()));
    }
  }
  YAML::Emitter emitter;
  emitter << root;
  if (!emitter.good()) {
    return absl::InternalError(
        absl::StrCat(source, ": cannot re-emit the job spec: ", emitter.GetLastError()));
  }
  return std::string(emitter.c_str()) + "\n";
}

}  // namespace chord::chordctl
