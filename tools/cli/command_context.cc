#include "tools/cli/command_context.h"

#include <ostream>

namespace chord::cli {

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

void CommandContext::Fail(const absl::Status& status) {
  Fail(ExitCodeFor(status), status.message());
}

void CommandContext::Fail(int code, absl::string_view message) {
  *err << program << ": error: " << message << std::endl;
  exit_code = code;
}

}  // namespace chord::cli
