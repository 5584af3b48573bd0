#include "tools/chordctl/cli_context.h"

#include <ostream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace chord::chordctl {

int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kInvalidArgument:
      return kExitUsageError;
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    default:
      return kExitRuntimeError;
  }
}

void CliContext::Fail(const absl::Status& status) { Fail(ExitCodeFor(status), status.message()); }

void CliContext::Fail(int code, absl::string_view message) {
  *err << "chordctl: error: " << message << std::endl;
  exit_code = code;
}

CLI::Option* AddAddressOption(CLI::App* command, absl::string_view service, std::string* address) {
  std::string env = absl::StrCat("CHORD_", absl::AsciiStrToUpper(service), "_ADDRESS");
  return command
      ->add_option("--address", *address,
                   absl::StrCat("HOST:PORT of the ", service, " service (or $", env, ")"))
      ->envname(env);
}

rpc::ClientOptions ClientOptionsFor(const CliContext& context) {
  rpc::ClientOptions options;
  options.attempt_deadline = absl::Seconds(context.timeout_s);
  options.total_deadline = absl::Seconds(context.timeout_s);
  return options;
}

}  // namespace chord::chordctl
