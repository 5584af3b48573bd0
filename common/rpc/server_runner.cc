#include "common/rpc/server_runner.h"

#include <pthread.h>
#include <signal.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/files/file_io.h"
#include "common/rpc/grpc_status.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/server_interceptor.h"
#include "spdlog/spdlog.h"

namespace chord::rpc {
namespace {

// Times each call from creation to its status and reports it to RpcMetrics.
class MetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(grpc::experimental::ServerRpcInfo* info, metrics::RpcMetrics* metrics)
      : method_(info->method() ? info->method() : "unknown"),
        metrics_(metrics),
        start_(std::chrono::steady_clock::now()) {
    metrics_->RecordStart(method_);
  }

  ~MetricsInterceptor() override {
    // A call cancelled before it sent a status never reaches PRE_SEND_STATUS.
    if (!recorded_) metrics_->RecordDone(method_, "CANCELLED", Elapsed());
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      metrics_->RecordDone(method_, StatusCodeName(methods->GetSendStatus().error_code()),
                           Elapsed());
      recorded_ = true;
    }
    methods->Proceed();
  }

 private:
  double Elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

  std::string method_;
  metrics::RpcMetrics* metrics_;
  std::chrono::steady_clock::time_point start_;
  bool recorded_ = false;
};

class MetricsInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(metrics::RpcMetrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(info, metrics_);
  }

 private:
  metrics::RpcMetrics* metrics_;
};

sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerRunner>> ServerRunner::Start(
    const ServerOptions& options, const std::vector<grpc::Service*>& services) {
  if (services.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.service_name, ": a server needs at least one service"));
  }
  if (absl::Status allowed = CheckServerSecurity(options.host, options.security); !allowed.ok()) {
    return absl::Status(allowed.code(),
                        absl::StrCat(options.service_name, ": ", allowed.message()));
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(options.security);
  if (!credentials.ok()) return credentials.status();
  if (!IsLoopbackHost(options.host) && (!options.security.tls() || !options.security.tokens())) {
    spdlog::warn(
        "{}: --insecure: serving on {} without {} (anyone who reaches the port can call "
        "it; docs/security.md)",
        options.service_name, options.host, !options.security.tls() ? "TLS" : "a bearer token");
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  std::string listen = absl::StrCat(options.host, ":", options.port);
  builder.AddListeningPort(listen, *credentials, &port);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  builder.SetMaxSendMessageSize(options.max_send_message_bytes);
  if (options.max_threads > 0) {
    grpc::ResourceQuota quota(absl::StrCat(options.service_name, "-quota"));
    quota.SetMaxThreads(options.max_threads);
    builder.SetResourceQuota(quota);
  }
  // gRPC sets SO_REUSEPORT by default, which lets a second server share a busy port silently.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  for (grpc::Service* service : services) builder.RegisterService(service);
  if (options.rpc_metrics != nullptr) {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    creators.push_back(std::make_unique<MetricsInterceptorFactory>(options.rpc_metrics));
    builder.experimental().SetInterceptorCreators(std::move(creators));
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat(options.service_name, ": cannot listen on ", listen,
                                               " (address in use or not available)"));
  }
  auto runner = std::unique_ptr<ServerRunner>(new ServerRunner(options, std::move(server), port));
  runner->SetServing(true);
  if (!options.port_file.empty()) {
    absl::Status written = files::WriteFileAtomically(options.port_file, absl::StrCat(port, "\n"));
    if (!written.ok()) {
      runner->Shutdown();
      return written;
    }
  }
  spdlog::info("{} listening on {}:{} ({}{})", options.service_name, options.host, port,
               options.security.tls()
                   ? (options.security.client_ca_file.empty() ? "TLS" : "mutual TLS")
                   : "plaintext",
               options.security.tokens() ? ", bearer tokens" : ", no token check");
  return runner;
}

ServerRunner::~ServerRunner() { Shutdown(); }

std::string ServerRunner::address() const {
  std::string host = options_.host == "0.0.0.0" ? "127.0.0.1" : options_.host;
  return absl::StrCat(host, ":", port_);
}

void ServerRunner::SetServing(bool serving) {
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health != nullptr) health->SetServingStatus(serving);
}

void ServerRunner::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  SetServing(false);
  auto deadline =
      std::chrono::system_clock::now() + absl::ToChronoMilliseconds(options_.shutdown_grace);
  server_->Shutdown(deadline);
  server_->Wait();
  spdlog::info("{} stopped", options_.service_name);
}

void BlockTerminationSignals() {
  sigset_t set = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForTerminationSignal() {
  sigset_t set = TerminationSignals();
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

TerminationWatcher::TerminationWatcher(std::function<void(int)> on_signal)
    : thread_([this, on_signal = std::move(on_signal)] {
        const int sig = WaitForTerminationSignal();
        if (!stopping_) on_signal(sig);
      }) {}

TerminationWatcher::~TerminationWatcher() {
  stopping_ = true;
  // A signal sent to the thread itself is pending on it alone; its sigwait returns it.
  pthread_kill(thread_.native_handle(), SIGHUP);
  thread_.join();
}

}  // namespace chord::rpc
