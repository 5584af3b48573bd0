#pragma once

// `chordctl init-model` (run by chord-model-tool): writes a model folder of Chord's architecture
// (Qwen2 family) in the Hugging Face format, deterministic for a seed: the embedded default for the
// quickstart and the tests (chord::model::WriteTinyModel).
//
//   chordctl init-model [--preset tiny] --out DIR [--seed N] [--force]
//                       [--hidden-size N] [--layers N] [--heads N] [--kv-heads N]
//                       [--intermediate-size N] [--max-positions N] [--json]
//
// Prints what was written: the folder, the parameter count, the vocabulary size and the shape.
// An unknown preset is a usage error (exit 2) listing the presets; a non-empty --out without
// --force is refused (exit 1).

#include "CLI/CLI.hpp"
#include "tools/cli/command_context.h"

namespace chord::model_tool {

// Adds the `init-model` command to `app`. `context` must outlive the parse.
void AddInitModelCommand(CLI::App& app, cli::CommandContext& context);

}  // namespace chord::model_tool
