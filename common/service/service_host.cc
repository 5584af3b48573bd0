#include "common/service/service_host.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <functional>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/files/file_io.h"
#include "common/logging/logging.h"
#include "common/service/openmp_policy.h"
#include "common/status/status_macros.h"
#include "spdlog/spdlog.h"

// Defaults are the server options' own (common/rpc/server_runner.h, message_limits.h).
ABSL_FLAG(std::string, host, chord::rpc::ServerOptions().host,
          "Interface the gRPC server binds; a non-loopback one needs TLS and a token, or "
          "--insecure");
ABSL_FLAG(int, port, chord::rpc::ServerOptions().port,
          "gRPC port; 0 picks a free port (see --port_file)");
ABSL_FLAG(std::string, port_file, "", "If set, the bound gRPC port is written to this file");
ABSL_FLAG(std::string, metrics_host, "127.0.0.1",
          "Interface of the Prometheus /metrics endpoint (plain HTTP, no token)");
ABSL_FLAG(int, metrics_port, -1, "Port of the /metrics endpoint; -1 disables it, 0 picks one");
ABSL_FLAG(std::string, metrics_port_file, "", "If set, the bound metrics port is written here");
ABSL_FLAG(std::string, log_format, "text", "Log line format: text or json");
ABSL_FLAG(std::string, log_level, "info",
          "Minimum log level: trace, debug, info, warn, error, critical, off");
ABSL_FLAG(double, shutdown_grace_s,
          absl::ToDoubleSeconds(chord::rpc::ServerOptions().shutdown_grace),
          "Seconds in-flight RPCs may run after SIGTERM before they are cancelled");
ABSL_FLAG(int, max_message_mb, chord::rpc::kDefaultMaxMessageBytes >> 20,
          "Largest gRPC message the server accepts or sends, in MiB");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain of this service: with --tls_key_file, the server speaks TLS, and "
          "it is the client certificate of this service's own calls");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA bundle: clients must present a certificate chaining to it (mutual TLS)");
ABSL_FLAG(std::string, tls_ca_file, "",
          "PEM CA bundle that verifies the services this one calls; set: its calls use TLS");
ABSL_FLAG(double, tls_refresh_s,
          absl::ToDoubleSeconds(chord::rpc::ServerOptions().security.cert_refresh),
          "Seconds between reads of the certificate files (rotations apply without restart)");
ABSL_FLAG(std::string, user_token_file, "",
          "File holding the user token (JobService); default: $CHORD_USER_TOKEN");
ABSL_FLAG(std::string, internal_token_file, "",
          "File holding the internal token (service-to-service calls; this service also sends "
          "it); default: $CHORD_INTERNAL_TOKEN");
ABSL_FLAG(bool, insecure, false,
          "Allow a non-loopback --host without TLS or without a token (logs a warning)");
ABSL_FLAG(int, max_threads, 256,
          "Most threads gRPC may use to handle calls (resource quota); calls past it are "
          "answered RESOURCE_EXHAUSTED. 0: no limit");

namespace chord::service {
namespace {

// The token from `file` (surrounding whitespace dropped), else from the environment variable
// `env`, else empty (no token of that role).
absl::StatusOr<std::string> LoadToken(const char* flag, const std::string& file, const char* env) {
  if (file.empty()) {
    const char* value = std::getenv(env);
    return std::string(absl::StripAsciiWhitespace(value == nullptr ? "" : value));
  }
  absl::StatusOr<std::string> text = files::ReadFile(file);
  if (!text.ok()) return Annotate(text.status(), absl::StrCat("--", flag));
  std::string token(absl::StripAsciiWhitespace(*text));
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " ", file, ": empty token file"));
  }
  struct stat st;
  if (stat(file.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    spdlog::warn("--{} {}: readable by other users (mode {:o}); chmod 600 it", flag, file,
                 st.st_mode & 0777);
  }
  return token;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServiceHost>> ServiceHost::Create(const std::string& name) {
  // Larger messages would overflow gRPC's int byte limits.
  const int max_message_mb = absl::GetFlag(FLAGS_max_message_mb);
  if (max_message_mb < 1 || max_message_mb > 2047) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_message_mb: must be in [1, 2047], got ", max_message_mb));
  }
  // gRPC's synchronous server needs a couple of threads of its own to poll for calls.
  const int max_threads = absl::GetFlag(FLAGS_max_threads);
  if (max_threads != 0 && max_threads < 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_threads: must be 0 (no limit) or >= 4, got ", max_threads));
  }
  if (!(absl::GetFlag(FLAGS_shutdown_grace_s) >= 0)) {
    return absl::InvalidArgumentError(absl::StrCat("--shutdown_grace_s: must be >= 0, got ",
                                                   absl::GetFlag(FLAGS_shutdown_grace_s)));
  }
  logging::Options log_options;
  ASSIGN_OR_RETURN(log_options.format, logging::ParseFormat(absl::GetFlag(FLAGS_log_format)));
  log_options.level = absl::GetFlag(FLAGS_log_level);
  log_options.service = name;
  RETURN_IF_ERROR(logging::Init(log_options));
  if (OpenMpPolicyWasSetByChord()) {
    spdlog::info(
        "OMP_WAIT_POLICY=PASSIVE (set at start; export OMP_WAIT_POLICY to choose another)");
  }

  if (!(absl::GetFlag(FLAGS_tls_refresh_s) >= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls_refresh_s: must be >= 1, got ", absl::GetFlag(FLAGS_tls_refresh_s)));
  }
  auto host = std::unique_ptr<ServiceHost>(new ServiceHost());
  host->name_ = name;
  ASSIGN_OR_RETURN(
      host->user_token_,
      LoadToken("user_token_file", absl::GetFlag(FLAGS_user_token_file), "CHORD_USER_TOKEN"));
  ASSIGN_OR_RETURN(host->internal_token_,
                   LoadToken("internal_token_file", absl::GetFlag(FLAGS_internal_token_file),
                             "CHORD_INTERNAL_TOKEN"));
  rpc::ServerSecurity server_security = host->server_options().security;
  RETURN_IF_ERROR(rpc::CheckServerSecurity(absl::GetFlag(FLAGS_host), server_security));
  RETURN_IF_ERROR(rpc::CheckChannelSecurity(host->client_options().security));
  if (!rpc::IsLoopbackHost(absl::GetFlag(FLAGS_metrics_host)) &&
      absl::GetFlag(FLAGS_metrics_port) >= 0) {
    spdlog::warn(
        "/metrics on {} is plain HTTP without a token: anyone who reaches it reads the "
        "service's counters",
        absl::GetFlag(FLAGS_metrics_host));
  }
  host->registry_ = std::make_shared<prometheus::Registry>();
  metrics::RegisterProcessMetrics(*host->registry_, name);
  host->rpc_metrics_ = std::make_unique<metrics::RpcMetrics>(*host->registry_);
  int metrics_port = absl::GetFlag(FLAGS_metrics_port);
  if (metrics_port >= 0) {
    ASSIGN_OR_RETURN(host->metrics_server_,
                     metrics::MetricsServer::Start(absl::GetFlag(FLAGS_metrics_host), metrics_port,
                                                   host->registry_));
    std::string port_file = absl::GetFlag(FLAGS_metrics_port_file);
    if (!port_file.empty()) {
      RETURN_IF_ERROR(
          files::WriteFileAtomically(port_file, absl::StrCat(host->metrics_server_->port(), "\n")));
    }
    spdlog::info("metrics on http://{}:{}/metrics", absl::GetFlag(FLAGS_metrics_host),
                 host->metrics_server_->port());
  }
  return host;
}

rpc::ServerOptions ServiceHost::server_options() const {
  rpc::ServerOptions options;
  options.service_name = name_;
  options.host = absl::GetFlag(FLAGS_host);
  options.port = absl::GetFlag(FLAGS_port);
  options.port_file = absl::GetFlag(FLAGS_port_file);
  options.max_receive_message_bytes = absl::GetFlag(FLAGS_max_message_mb) << 20;
  options.max_send_message_bytes = options.max_receive_message_bytes;
  options.shutdown_grace = absl::Seconds(absl::GetFlag(FLAGS_shutdown_grace_s));
  options.rpc_metrics = rpc_metrics_.get();
  options.security.cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  options.security.key_file = absl::GetFlag(FLAGS_tls_key_file);
  options.security.client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  options.security.user_token = user_token_;
  options.security.internal_token = internal_token_;
  options.security.allow_insecure = absl::GetFlag(FLAGS_insecure);
  options.max_threads = absl::GetFlag(FLAGS_max_threads);
  options.security.cert_refresh = absl::Seconds(absl::GetFlag(FLAGS_tls_refresh_s));
  return options;
}

rpc::ClientOptions ServiceHost::client_options() const {
  rpc::ClientOptions options;
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_mb) << 20;
  options.bearer_token = internal_token_;
  options.security.ca_file = absl::GetFlag(FLAGS_tls_ca_file);
  if (options.security.tls()) {
    options.security.cert_file = absl::GetFlag(FLAGS_tls_cert_file);
    options.security.key_file = absl::GetFlag(FLAGS_tls_key_file);
  }
  options.security.cert_refresh = absl::Seconds(absl::GetFlag(FLAGS_tls_refresh_s));
  return options;
}

absl::Status ServiceHost::ServeUntilSignal(const std::vector<grpc::Service*>& services,
                                           const rpc::MethodRoles& roles,
                                           const std::function<void()>& on_stop) {
  rpc::ServerOptions options = server_options();
  options.security.method_roles = roles;
  ASSIGN_OR_RETURN(auto runner, rpc::ServerRunner::Start(options, services));
  int sig = rpc::WaitForTerminationSignal();
  spdlog::info("signal {}: shutting down (grace {:.1f}s)", sig,
               absl::GetFlag(FLAGS_shutdown_grace_s));
  if (on_stop) on_stop();
  runner->Shutdown();
  return absl::OkStatus();
}

int ExitCode(const absl::Status& status, const std::string& program) {
  if (status.ok()) return 0;
  std::string prefix = program.empty() ? "" : program + ": ";
  std::fprintf(stderr, "%serror: %s\n", prefix.c_str(), status.ToString().c_str());
  return 1;
}

}  // namespace chord::service
