#include "tools/model_tool/model_tool_app.h"

#include <ostream>
#include <string>

#include "CLI/CLI.hpp"
#include "tools/model_tool/eval_command.h"
#include "tools/model_tool/init_model_command.h"

namespace chord::model_tool {

int RunModelTool(int argc, const char* const* argv, cli::CommandContext context) {
  CLI::App app(context.program + ": model commands (init-model, eval)", context.program);
  app.set_version_flag("--version", std::string("chord-model-tool ") + CHORD_MODEL_TOOL_VERSION);
  app.require_subcommand(1);
  AddInitModelCommand(app, context);
  AddEvalCommand(app, context);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e, *context.out, *context.err);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e, *context.out, *context.err);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e, *context.out, *context.err);
  } catch (const CLI::ParseError& e) {
    *context.err << context.program << ": usage error: " << e.what() << " (see --help)"
                 << std::endl;
    return cli::kExitUsageError;
  }
  return context.exit_code;
}

}  // namespace chord::model_tool
