#pragma once

// `chordctl init-model` and `chordctl eval`: run by chord-model-tool (tools/model_tool), which
// links LibTorch so that chordctl does not. The command line is the user's, unchanged: chordctl
// hands every argument after the command name to the tool, which runs under the name "chordctl"
// (its errors and --help read as chordctl's) and whose exit code chordctl returns.
//
// The tool is CliContext::model_tool, else $CHORD_MODEL_TOOL, else chord-model-tool in the
// directory of the running chordctl. A missing tool is exit 1 saying how to build it.

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "tools/chordctl/cli_context.h"

namespace chord::chordctl {

// The chord-model-tool binary `context` runs. NOT_FOUND naming the path and how to build it when
// it is not an executable file.
absl::StatusOr<std::string> ModelToolPath(const CliContext& context);

// Runs `chord-model-tool <args>` under the name chordctl: replaces this process when
// context.exec_model_tool (returns only on failure), else as a child whose stdout and stderr are
// copied to the context's streams. Sets context.exit_code to the tool's exit code.
void RunModelTool(const std::vector<std::string>& args, CliContext& context);

// Adds `init-model` and `eval` to `app`. `context` must outlive the parse.
void AddModelToolCommands(CLI::App& app, CliContext& context);

}  // namespace chord::chordctl
