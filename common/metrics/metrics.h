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
#include "prometheus/collectable.h"
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

  // Also serves what `collectable` returns at each scrape (e.g. a FilesystemCollector), and keeps
  // it alive. Not thread-safe against itself: call it while setting the service up.
  void AddCollectable(std::shared_ptr<prometheus::Collectable> collectable);

 private:
  MetricsServer(std::unique_ptr<prometheus::Exposer> exposer, int port,
                std::shared_ptr<prometheus::Registry> registry)
      : exposer_(std::move(exposer)), port_(port), registry_(std::move(registry)) {}

  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_;
  // The exposer holds weak pointers only: what it serves is kept alive here.
  std::shared_ptr<prometheus::Registry> registry_;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
};

// Registers the families every Chord process exports:
//   chord_build_info{service, version} 1
//   process_start_time_seconds
// (MetricsServer adds ProcessCollector's families to every endpoint.)
void RegisterProcessMetrics(prometheus::Registry& registry, absl::string_view service);

// Reads the process's CPU time and memory from /proc/self at each scrape (the names and meanings
// of Prometheus' client libraries):
//   process_cpu_seconds_total        user + system CPU time
//   process_resident_memory_bytes    resident set size
//   process_virtual_memory_bytes     virtual memory size
// A /proc read that fails exports nothing for that scrape. Thread-safe.
class ProcessCollector : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

// Reports the filesystem that holds `path` at each scrape (statvfs):
//   <prefix>_avail_bytes   bytes available to an unprivileged writer
//   <prefix>_size_bytes    total size of the filesystem
// with a `path` label. When statvfs fails (the directory is gone) the scrape has neither family.
// Thread-safe.
class FilesystemCollector : public prometheus::Collectable {
 public:
  FilesystemCollector(std::string prefix, std::string path)
      : prefix_(std::move(prefix)), path_(std::move(path)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::string prefix_;
  std::string path_;
};

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
