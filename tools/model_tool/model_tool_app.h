#pragma once

// chord-model-tool: the commands that need a model in-process (LibTorch), kept out of chordctl so
// that chordctl starts fast and runs where LibTorch is not installed. chordctl runs this binary
// for `chordctl init-model` and `chordctl eval` with the same arguments, under its own name
// (argv[0] "chordctl"), so the user sees one tool (docs/chordctl.md).
//
//   chord-model-tool init-model [--preset tiny] --out DIR ...   (init_model_command.h)
//   chord-model-tool eval --model DIR --data EVAL.jsonl ...     (eval_command.h)

#include "tools/cli/command_context.h"

namespace chord::model_tool {

// Parses `argv` and runs the selected command with the streams of `context`; errors read
// "<context.program>: error: ...". Returns the exit code (tools/cli/command_context.h).
int RunModelTool(int argc, const char* const* argv, cli::CommandContext context);

}  // namespace chord::model_tool
