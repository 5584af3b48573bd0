#include "tools/chordctl/cli_context.h"

#include <filesystem>
#include <ostream>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/files/file_io.h"
#include "common/rpc/security.h"
#include "common/status/status_macros.h"

namespace chord::chordctl {

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
  options.security = context.security;
  return options;
}

absl::StatusOr<std::string> ResolveToken(const CliContext& context,
                                         const std::string& local_token_file) {
  auto read = [](const std::string& path, absl::string_view what) -> absl::StatusOr<std::string> {
    absl::StatusOr<std::string> text = files::ReadFile(path);
    if (!text.ok()) return Annotate(text.status(), what);
    std::string token(absl::StripAsciiWhitespace(*text));
    if (token.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(what, " ", path, ": empty token file"));
    }
    return token;
  };
  if (!context.token_file.empty()) return read(context.token_file, "--token-file");
  std::string from_env(absl::StripAsciiWhitespace(context.token_env));
  if (!from_env.empty()) return from_env;
  std::error_code ec;
  if (!local_token_file.empty() && std::filesystem::exists(local_token_file, ec)) {
    return read(local_token_file, "local cluster token");
  }
  return std::string();
}

absl::StatusOr<rpc::ClientOptions> AuthorizedClientOptions(const CliContext& context,
                                                           const std::string& local_token_file) {
  rpc::ClientOptions options = ClientOptionsFor(context);
  ASSIGN_OR_RETURN(std::string token, ResolveToken(context, local_token_file));
  options.bearer_token = std::move(token);
  if (absl::Status files = rpc::CheckChannelSecurity(options.security); !files.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-ca/--tls-cert/--tls-key: ", files.message()));
  }
  return options;
}

}  // namespace chord::chordctl
