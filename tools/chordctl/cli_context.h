#pragma once

// What every chordctl command group shares: the command context of Chord's tools (streams, exit
// code, error lines: tools/cli/command_context.h, exit codes documented there) plus the global
// options and the conventions for addresses, tokens and timeouts.

#include <iosfwd>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/rpc/client_options.h"
#include "tools/cli/command_context.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace chord::chordctl {

using cli::ExitCodeFor;
using cli::kExitJobCancelled;
using cli::kExitNotFound;
using cli::kExitOk;
using cli::kExitRuntimeError;
using cli::kExitUsageError;

struct CliContext : cli::CommandContext {
  // --timeout: seconds every RPC may take, retries included (default 30).
  double timeout_s = 30.0;
  // --token-file (or $CHORD_TOKEN_FILE): a file holding the bearer token.
  std::string token_file;
  // $CHORD_TOKEN: the bearer token itself, used when there is no --token-file.
  std::string token_env;
  // --tls-ca, --tls-cert, --tls-key: TLS of every call (a CA turns TLS on; a certificate and key
  // are presented to servers that require mutual TLS).
  rpc::ChannelSecurity security;
  // The chord-model-tool binary that runs `init-model` and `eval` (model_tool_commands.h). Empty
  // (default): $CHORD_MODEL_TOOL, else chord-model-tool next to the running executable.
  std::string model_tool;
  // True in the chordctl binary, whose streams are the process's own: `init-model` and `eval`
  // then replace chordctl by the tool (same terminal, same signals). False (tests with string
  // streams): the tool runs as a child whose output is copied to the streams.
  bool exec_model_tool = false;
};

// Adds `--address HOST:PORT` to `command`, read from the environment variable
// CHORD_<SERVICE>_ADDRESS when the flag is absent (`service` is e.g. "reward" or "expert_buffer").
CLI::Option* AddAddressOption(CLI::App* command, absl::string_view service, std::string* address);

// Client options for one chordctl call: every attempt and the whole call (retries included)
// bounded by the context's --timeout, TLS from --tls-ca/--tls-cert/--tls-key. No token.
rpc::ClientOptions ClientOptionsFor(const CliContext& context);

// The bearer token chordctl sends: the content of --token-file, else $CHORD_TOKEN, else the
// content of `local_token_file` when that is non-empty and exists (the token `chordctl up` wrote
// for a local cluster, passed only when the call goes to that cluster), else none ("").
// INVALID_ARGUMENT naming the file when --token-file cannot be read or is empty.
absl::StatusOr<std::string> ResolveToken(const CliContext& context,
                                         const std::string& local_token_file);

// Client options (ClientOptionsFor) that also carry the token ResolveToken finds.
absl::StatusOr<rpc::ClientOptions> AuthorizedClientOptions(const CliContext& context,
                                                           const std::string& local_token_file);

}  // namespace chord::chordctl
