#pragma once

// Prometheus metrics shared by every Chord service.
//
// A service owns one prometheus::Registry (created in main.cc and passed down; no global
// registry), registers its own families on it, and serves it with MetricsServer. RpcMetrics gives
// every service the same per-RPC families; the gRPC server runner (common/rpc) feeds it for all
// methods automatically.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace chord::metrics {

// Serves a registry as Prometheus text at http://HOST:PORT/metrics. Thread-safe; stops serving
// when destroyed.
class MetricsServer {
 public:
  // Binds `host:port`; port 0 picks a free port (see port()). UNAVAILABLE when the bind fails.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const std::string& host, int port, std::shared_ptr<prometheus::Registry> registry);

  // The port actually bound.
  int port() const { return port_; }

 private:
  MetricsServer(std::unique_ptr<prometheus::Exposer> exposer, int port,
                std::shared_ptr<prometheus::Registry> registry)
      : exposer_(std::move(exposer)), port_(port), registry_(std::move(registry)) {}

  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_;
  std::shared_ptr<prometheus::Registry> registry_;
};

// Registers the families every Chord process exports:
//   chord_build_info{service, version} 1
//   process_start_time_seconds
void RegisterProcessMetrics(prometheus::Registry& registry, absl::string_view service);

// Histogram buckets for latencies in seconds, 0.5 ms .. 60 s.
prometheus::Histogram::BucketBoundaries LatencyBuckets();

// Histogram buckets for sizes (bytes, tokens, batch sizes): powers of 4 from 1 to 4^15.
prometheus::Histogram::BucketBoundaries SizeBuckets();

// Server-side RPC metrics, labelled by method ("/chord.v1.RewardService/Score") and status code
// name ("OK", "INVALID_ARGUMENT", ...):
//   chord_rpc_server_started_total{method}
//   chord_rpc_server_handled_total{method, code}
//   chord_rpc_server_handling_seconds{method, code} (histogram)
// Thread-safe.
class RpcMetrics {
 public:
  explicit RpcMetrics(prometheus::Registry& registry);

  void RecordStart(absl::string_view method);
  void RecordDone(absl::string_view method, absl::string_view code, double seconds);

 private:
  prometheus::Family<prometheus::Counter>& started_;
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Histogram>& latency_;
};

}  // namespace chord::metrics
