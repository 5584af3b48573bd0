// chord-model-tool: chordctl's model commands (model_tool_app.h). See docs/chordctl.md.

#include <unistd.h>

#include <iostream>
#include <string>

#include "common/service/openmp_policy.h"
#include "tools/model_tool/model_tool_app.h"

int main(int argc, char** argv) {
  chord::service::PreferPassiveOpenMp(argc, argv);
  chord::cli::CommandContext context;
  // chordctl starts this binary as "chordctl": errors and usage lines then name the tool the user
  // ran.
  std::string name = argc > 0 ? argv[0] : "chord-model-tool";
  context.program = name.substr(name.find_last_of('/') + 1);
  context.out = &std::cout;
  context.err = &std::cerr;
  context.in = &std::cin;
  context.out_is_tty = isatty(STDOUT_FILENO) == 1;
  context.err_is_tty = isatty(STDERR_FILENO) == 1;
  return chord::model_tool::RunModelTool(argc, argv, context);
}
