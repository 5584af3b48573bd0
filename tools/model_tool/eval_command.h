#pragma once

// `chordctl eval` (run by chord-model-tool): scores a model folder on an evaluation set in-process
// (model_eval.h).
//
//   chordctl eval --model DIR --data EVAL.jsonl [--verifier NAME] [--max-samples N]
//                 [--max-new-tokens N] [--batch-size N] [--examples N] [--torch-threads N]
//                 [--think-penalty] [--json]
//
// Prints the accuracy, mean reward, mean response length and a few examples; progress goes to
// stderr while it runs. A missing model or data file is exit 3, a malformed dataset or an unknown
// verifier exit 2.

#include <string>

#include "CLI/CLI.hpp"
#include "tools/cli/command_context.h"
#include "tools/model_tool/model_eval.h"

namespace chord::model_tool {

// The human report of `chordctl eval` (accuracy line, mean reward, length, examples).
std::string FormatEvalReport(const ModelEvalOptions& options, const ModelEvalReport& report);

// Adds `eval` to `app`. `context` must outlive the parse.
void AddEvalCommand(CLI::App& app, cli::CommandContext& context);

}  // namespace chord::model_tool
