#pragma once

// Service configuration: command-line flags plus an optional YAML file.
//
// Every service defines its settings as absl flags in main.cc. `--config FILE` names a YAML file
// whose keys are those flag names; nested mappings join with '_' (`metrics: {port: 9090}` sets
// --metrics_port). Values from the file apply first, so a flag given on the command line wins.
// A key that is not one of the binary's flags, or a value that does not parse, is an error naming
// the file, the key path and the line.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace chord::config {

// Parses argv (absl::ParseCommandLine) after applying the YAML file named by --config, if any.
// Returns the positional arguments (argv[0] first). Flag syntax errors and --help exit like
// absl's parser does; config file errors are returned.
absl::StatusOr<std::vector<std::string>> ParseFlagsWithConfig(int argc, char** argv,
                                                              absl::string_view usage);

// Applies a YAML mapping of flag names to values to the registered flags. `source` names the
// text in errors (usually its path). INVALID_ARGUMENT on unknown keys, bad values or non-mapping
// documents.
absl::Status ApplyYamlToFlags(absl::string_view yaml_text, absl::string_view source);

}  // namespace chord::config
