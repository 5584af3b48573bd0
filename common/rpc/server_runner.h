#pragma once

// Runs a gRPC server the way every Chord service needs it:
//  - listens on host:port (port 0 picks a free one; the chosen port is written to `port_file`
//    atomically, for tests and local runners),
//  - serves the standard health service (grpc.health.v1, for Kubernetes probes),
//  - applies message size limits and a thread quota,
//  - serves TLS or plaintext and checks bearer tokens as `security` says (security.h); refuses
//    a non-loopback address without TLS and a token unless security.allow_insecure,
//  - records per-RPC metrics for every method (chord_rpc_server_* in common/metrics),
//  - shuts down gracefully: health turns NOT_SERVING, new calls are refused, in-flight calls get
//    `shutdown_grace` to finish, then are cancelled.
//
// Typical main():
//   chord::rpc::BlockTerminationSignals();            // before any thread starts
//   ... build the core and the grpc::Service adapter ...
//   ASSIGN_OR_RETURN(auto runner, ServerRunner::Start(options, {&service}));
//   int sig = chord::rpc::WaitForTerminationSignal();
//   runner->Shutdown();

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/metrics/metrics.h"
#include "common/rpc/message_limits.h"
#include "common/rpc/security.h"
#include "grpcpp/server.h"

namespace chord::rpc {

struct ServerOptions {
  // Name used in logs ("expert-buffer", ...).
  std::string service_name = "chord";
  // Interface to bind; "127.0.0.1" (default) for this machine only, "0.0.0.0" for all (pods;
  // then `security` needs TLS and a token, or allow_insecure).
  std::string host = "127.0.0.1";
  // 0 picks a free port.
  int port = 0;
  // If set, the bound port is written here (decimal, newline) once the server is listening.
  std::string port_file;
  // Largest message the server accepts / sends.
  int max_receive_message_bytes = kDefaultMaxMessageBytes;
  int max_send_message_bytes = kDefaultMaxMessageBytes;
  // How long in-flight calls may run on after Shutdown() before they are cancelled.
  absl::Duration shutdown_grace = absl::Seconds(10);
  // Where per-RPC metrics go; may be null (no RPC metrics).
  metrics::RpcMetrics* rpc_metrics = nullptr;
  // TLS, tokens and the role of each method. Default: plaintext, no token check.
  ServerSecurity security;
  // Most threads gRPC may use for this server (a grpc::ResourceQuota): every call being handled
  // holds one, so calls past the limit are answered RESOURCE_EXHAUSTED instead of growing the
  // process. 0: no limit.
  int max_threads = 0;
};

class ServerRunner {
 public:
  // Starts serving `services` (not owned; they must outlive the runner; at least one).
  // UNAVAILABLE when the port cannot be bound; INTERNAL when the port file cannot be written;
  // CheckServerSecurity's errors for the security settings.
  static absl::StatusOr<std::unique_ptr<ServerRunner>> Start(
      const ServerOptions& options, const std::vector<grpc::Service*>& services);

  ~ServerRunner();

  // The bound port.
  int port() const { return port_; }

  // "host:port" a local client can dial.
  std::string address() const;

  // Sets the health status reported for every service name.
  void SetServing(bool serving);

  // Graceful shutdown (idempotent): NOT_SERVING, stop accepting, grace period, cancel the rest.
  void Shutdown();

  grpc::Server* server() { return server_.get(); }

 private:
  ServerRunner(ServerOptions options, std::unique_ptr<grpc::Server> server, int port)
      : options_(std::move(options)), server_(std::move(server)), port_(port) {}

  ServerOptions options_;
  std::unique_ptr<grpc::Server> server_;
  int port_;
  bool shut_down_ = false;
};

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread and in every thread it creates later,
// so that WaitForTerminationSignal() alone receives them. Call first thing in main().
void BlockTerminationSignals();

// Waits for SIGTERM, SIGINT or SIGHUP (blocked by BlockTerminationSignals) and returns its number.
int WaitForTerminationSignal();

// Runs on_signal(sig) on a thread of its own when SIGTERM, SIGINT or SIGHUP arrives (blocked by
// BlockTerminationSignals). The destructor ends that thread, so it never outlives what on_signal
// touches: declare the watcher after those objects. A signal that arrives while the destructor
// runs is not passed to on_signal.
class TerminationWatcher {
 public:
  explicit TerminationWatcher(std::function<void(int)> on_signal);
  ~TerminationWatcher();
  TerminationWatcher(const TerminationWatcher&) = delete;
  TerminationWatcher& operator=(const TerminationWatcher&) = delete;

 private:
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace chord::rpc
