#pragma once

// What every chordctl command group shares: the output streams, the global options, the exit
// code the command leaves, and the conventions for errors, addresses and timeouts.
//
// Exit codes (docs/chordctl.md):
//   0  ok
//   1  runtime or server error (unreachable service, deadline, internal error)
//   2  usage error: bad flags or arguments, including arguments a service rejects as
//      INVALID_ARGUMENT
//   3  not found (a file, a job, ...)
//   4  the watched job ended CANCELLED (`watch`, `submit --watch`)
// A watched job that ended FAILED exits 1.
// Errors are printed as one line on stderr: "chordctl: error: <what>".

#include <iosfwd>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/rpc/channel.h"

namespace chord::chordctl {

enum ExitCode : int {
  kExitOk = 0,
  kExitRuntimeError = 1,
  kExitUsageError = 2,
  kExitNotFound = 3,
  kExitJobCancelled = 4,
};

// The exit code for a failed status: INVALID_ARGUMENT -> 2, NOT_FOUND -> 3, others -> 1.
int ExitCodeFor(const absl::Status& status);

struct CliContext {
  // Where results go (stdout in the binary).
  std::ostream* out = nullptr;
  // Where the one-line errors go (stderr in the binary).
  std::ostream* err = nullptr;
  // Where `-` arguments read from (stdin in the binary).
  std::istream* in = nullptr;
  // True when `out` / `err` are terminals (progress bars, `\r` updates). Default false: plain
  // lines, as for files and pipes.
  bool out_is_tty = false;
  bool err_is_tty = false;
  // --timeout: seconds every RPC may take, retries included (default 30).
  double timeout_s = 30.0;
  // --token-file (or $CHORD_TOKEN_FILE): a file holding the bearer token.
  std::string token_file;
  // $CHORD_TOKEN: the bearer token itself, used when there is no --token-file.
  std::string token_env;
  // --tls-ca, --tls-cert, --tls-key: TLS of every call (a CA turns TLS on; a certificate and key
  // are presented to servers that require mutual TLS).
  rpc::ChannelSecurity security;
  // Set by the command that ran.
  int exit_code = kExitOk;

  // Prints "chordctl: error: <status message>" on `err` and sets exit_code from the status.
  void Fail(const absl::Status& status);
  // Prints "chordctl: error: <message>" and sets exit_code to `code`.
  void Fail(int code, absl::string_view message);
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
