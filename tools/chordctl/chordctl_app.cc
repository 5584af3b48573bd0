#include "tools/chordctl/chordctl_app.h"

#include <cstdlib>
#include <ostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "tools/chordctl/datasets_command.h"
#include "tools/chordctl/job_commands.h"
#include "tools/chordctl/model_tool_commands.h"
#include "tools/chordctl/plot_command.h"
#include "tools/chordctl/reward_command.h"
#include "tools/chordctl/trinity_command.h"
#include "tools/chordctl/up_command.h"

namespace chord::chordctl {

int RunChordctl(int argc, const char* const* argv, CliContext context) {
  CLI::App app("chordctl: the command-line client of Chord (CHORD post-training services)",
               "chordctl");
  app.set_version_flag("--version", std::string("chordctl ") + CHORDCTL_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand
  app.add_option("--timeout", context.timeout_s,
                 "Seconds each service call may take, retries included")
      ->check(
          [](const std::string& text) {
            double seconds = 0;
            return absl::SimpleAtod(text, &seconds) && seconds > 0 && seconds <= 86400
                       ? std::string()
                       : std::string("must be a number of seconds in (0, 86400]");
          },
          "SECONDS")
      ->capture_default_str();
  app.add_option("--token-file", context.token_file,
                 "File holding the bearer token (default: $CHORD_TOKEN, else the local "
                 "cluster's token)")
      ->envname("CHORD_TOKEN_FILE");
  if (const char* token = std::getenv("CHORD_TOKEN"); token != nullptr) context.token_env = token;
  app.add_option("--tls-ca", context.security.ca_file,
                 "PEM CA bundle that verifies the services; set: calls use TLS")
      ->envname("CHORD_TLS_CA");
  app.add_option("--tls-cert", context.security.cert_file,
                 "PEM client certificate for services that require mutual TLS")
      ->envname("CHORD_TLS_CERT");
  app.add_option("--tls-key", context.security.key_file, "PEM private key of --tls-cert")
      ->envname("CHORD_TLS_KEY");

  // Command groups, each in its own file.
  AddJobCommands(app, context);
  AddUpDownCommands(app, context);
  AddModelToolCommands(app, context);  // init-model, eval
  AddDatasetsCommands(app, context);
  AddRewardCommands(app, context);
  AddPlotCommand(app, context);
  AddTrinityCommands(app, context);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e, *context.out, *context.err);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e, *context.out, *context.err);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e, *context.out, *context.err);
  } catch (const CLI::ParseError& e) {
    *context.err << "chordctl: usage error: " << e.what() << " (see --help)" << std::endl;
    return kExitUsageError;
  }
  return context.exit_code;
}

}  // namespace chord::chordctl
