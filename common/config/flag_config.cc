#include "common/config/flag_config.h"

#include <cstring>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/files/file_io.h"
#include "common/status/status_macros.h"
#include "yaml-cpp/yaml.h"

ABSL_FLAG(std::string, config, "",
          "YAML file of flag values (keys are flag names; the command line overrides them)");

namespace chord::config {
namespace {

bool IsOwnFlag(const absl::CommandLineFlag& flag) {
  // Abseil's built-in flags (--flagfile, --helpfull ...) and --config itself are not config keys.
  return flag.Name() != "config" && !absl::StrContains(flag.Filename(), "absl/");
}

absl::Status ApplyNode(const YAML::Node& node, const std::string& path, absl::string_view source,
                       std::vector<std::string>& errors) {
  for (const auto& entry : node) {
    std::string key = entry.first.as<std::string>();
    std::string key_path = path.empty() ? key : absl::StrCat(path, ".", key);
    std::string flag_name =
        path.empty() ? key : absl::StrCat(absl::StrReplaceAll(path, {{".", "_"}}), "_", key);
    const YAML::Node& value = entry.second;
    int line = entry.first.Mark().line + 1;
    if (value.IsMap()) {
      RETURN_IF_ERROR(ApplyNode(value, key_path, source, errors));
      continue;
    }
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(flag_name);
    if (flag == nullptr || !IsOwnFlag(*flag)) {
      errors.push_back(absl::StrCat(source, ":", line, ": unknown key '", key_path, "'"));
      continue;
    }
    std::string text;
    if (value.IsSequence()) {
      std::vector<std::string> items;
      for (const auto& item : value) items.push_back(item.as<std::string>());
      text = absl::StrJoin(items, ",");
    } else if (value.IsNull()) {
      text = "";
    } else {
      text = value.Scalar();
    }
    std::string error;
    if (!flag->ParseFrom(text, &error)) {
      errors.push_back(absl::StrCat(source, ":", line, ": key '", key_path, "': ", error));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ApplyYamlToFlags(absl::string_view yaml_text, absl::string_view source) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ":", e.mark.line + 1, ": invalid YAML: ", e.msg));
  }
  if (root.IsNull()) return absl::OkStatus();
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": expected a mapping of flag names to values"));
  }
  std::vector<std::string> errors;
  try {
    RETURN_IF_ERROR(ApplyNode(root, "", source, errors));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ":", e.mark.line + 1, ": ", e.msg));
  }
  if (!errors.empty()) return absl::InvalidArgumentError(absl::StrJoin(errors, "; "));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ParseFlagsWithConfig(int argc, char** argv,
                                                              absl::string_view usage) {
  absl::SetProgramUsageMessage(usage);
  // Find --config before the full parse so that command-line flags override the file.
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    for (absl::string_view prefix : {"--config=", "-config="}) {
      if (absl::StartsWith(arg, prefix)) config_path = std::string(arg.substr(prefix.size()));
    }
    if ((arg == "--config" || arg == "-config") && i + 1 < argc) config_path = argv[i + 1];
  }
  if (!config_path.empty()) {
    ASSIGN_OR_RETURN(std::string text, files::ReadFile(config_path));
    RETURN_IF_ERROR(ApplyYamlToFlags(text, config_path));
  }
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  return std::vector<std::string>(positional.begin(), positional.end());
}

}  // namespace chord::config
