#pragma once

// What every Chord service binary does around its own logic: shared flags, logging, the metrics
// endpoint, the gRPC server, and a graceful stop on SIGTERM/SIGINT/SIGHUP.
//
// Shared flags (defined in service_host.cc, documented in docs/configuration.md):
//   --host (127.0.0.1)  --port (0 = pick)  --port_file  --insecure
//   --metrics_host (127.0.0.1)  --metrics_port (-1 = off, 0 = pick)  --metrics_port_file
//   --tls_cert_file  --tls_key_file  --tls_client_ca_file  --tls_ca_file  --tls_refresh_s (10)
//   --user_token_file ($CHORD_USER_TOKEN)  --internal_token_file ($CHORD_INTERNAL_TOKEN)
//   --log_format (text|json)  --log_level (info)  --shutdown_grace_s (10)
//   --max_message_mb (64)  --config (YAML file of flag values, common/config)
//
// main.cc:
//   int main(int argc, char** argv) {
//     chord::rpc::BlockTerminationSignals();
//     auto args = chord::config::ParseFlagsWithConfig(argc, argv, "chord-reward: ...");
//     ... check args ...
//     auto host = chord::service::ServiceHost::Create("reward");      // logging + metrics
//     ... build the core with host->registry(), the grpc adapter ...
//     return chord::service::ExitCode(host->ServeUntilSignal({&adapter}, RewardMethodRoles()));
//   }

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/metrics/metrics.h"
#include "common/rpc/channel.h"
#include "common/rpc/security.h"
#include "common/rpc/server_runner.h"
#include "grpcpp/impl/codegen/service_type.h"
#include "prometheus/registry.h"

namespace chord::service {

class ServiceHost {
 public:
  // Reads the shared flags, initialises logging, registers process metrics and starts the
  // metrics endpoint (when --metrics_port >= 0). `name` is the service's short name ("reward").
  // INVALID_ARGUMENT for --max_message_mb outside [1, 2047], --shutdown_grace_s < 0, an
  // unknown --log_format / --log_level, an unreadable or empty token file, or TLS files that do
  // not fit together; FAILED_PRECONDITION for a non-loopback --host without TLS and a token
  // (unless --insecure). Reads the token files (or $CHORD_USER_TOKEN, $CHORD_INTERNAL_TOKEN).
  static absl::StatusOr<std::unique_ptr<ServiceHost>> Create(const std::string& name);

  // The service's registry: register its own metric families here.
  prometheus::Registry& registry() { return *registry_; }

  // Port of the metrics endpoint (-1 when off).
  int metrics_port() const { return metrics_server_ ? metrics_server_->port() : -1; }

  // Serves what `collectable` returns at each scrape too (nothing when the endpoint is off).
  void AddCollectable(std::shared_ptr<prometheus::Collectable> collectable) {
    if (metrics_server_) metrics_server_->AddCollectable(std::move(collectable));
  }

  // Server options from the shared flags (for services that run the server themselves; set
  // security.method_roles before starting).
  rpc::ServerOptions server_options() const;

  // Base options of this service's own calls to other services: TLS from --tls_ca_file (with
  // this service's certificate as client certificate), the internal token, the message limit.
  rpc::ClientOptions client_options() const;

  // Starts the gRPC server with `services` (their methods' roles in `roles`), waits for
  // SIGTERM/SIGINT/SIGHUP, shuts down gracefully.
  // `on_stop` (optional) runs after the signal and before the server stops, e.g. to stop
  // accepting new work in the core.
  absl::Status ServeUntilSignal(const std::vector<grpc::Service*>& services,
                                const rpc::MethodRoles& roles,
                                const std::function<void()>& on_stop = nullptr);

 private:
  ServiceHost() = default;

  std::string name_;
  std::string user_token_;
  std::string internal_token_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<metrics::RpcMetrics> rpc_metrics_;
  std::unique_ptr<metrics::MetricsServer> metrics_server_;
};

// Prints a failed status as one line on stderr and returns the process exit code
// (0 for OK, 1 otherwise).
int ExitCode(const absl::Status& status, const std::string& program = "");

}  // namespace chord::service
