#include "common/metrics/metrics.h"

#include <chrono>
#include <exception>

#include "absl/strings/str_cat.h"

namespace chord::metrics {

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& host, int port, std::shared_ptr<prometheus::Registry> registry) {
  std::string bind = absl::StrCat(host, ":", port);
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    exposer = std::make_unique<prometheus::Exposer>(bind, /*num_threads=*/2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("metrics endpoint: cannot listen on ", bind, ": ", e.what()));
  }
  exposer->RegisterCollectable(registry);
  std::vector<int> ports = exposer->GetListeningPorts();
  if (ports.empty()) {
    return absl::UnavailableError(absl::StrCat("metrics endpoint: no port bound for ", bind));
  }
  return std::unique_ptr<MetricsServer>(
      new MetricsServer(std::move(exposer), ports.front(), std::move(registry)));
}

void RegisterProcessMetrics(prometheus::Registry& registry, absl::string_view service) {
  prometheus::BuildGauge()
      .Name("chord_build_info")
      .Help("Always 1; labels name the service and the Chord version")
      .Register(registry)
      .Add({{"service", std::string(service)}, {"version", CHORD_VERSION_STRING}})
      .Set(1);
  double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  prometheus::BuildGauge()
      .Name("process_start_time_seconds")
      .Help("Start time of the process since unix epoch in seconds")
      .Register(registry)
      .Add({})
      .Set(now);
}

prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
          0.25,   0.5,   1.0,    2.5,   5.0,  10.0,  30.0, 60.0};
}

prometheus::Histogram::BucketBoundaries SizeBuckets() {
  prometheus::Histogram::BucketBoundaries b;
  double v = 1;
  for (int i = 0; i < 16; ++i, v *= 4) b.push_back(v);
  return b;
}

RpcMetrics::RpcMetrics(prometheus::Registry& registry)
    : started_(prometheus::BuildCounter()
                   .Name("chord_rpc_server_started_total")
                   .Help("RPCs started on the server, by method")
                   .Register(registry)),
      handled_(prometheus::BuildCounter()
                   .Name("chord_rpc_server_handled_total")
                   .Help("RPCs completed on the server, by method and status code")
                   .Register(registry)),
      latency_(prometheus::BuildHistogram()
                   .Name("chord_rpc_server_handling_seconds")
                   .Help("Time from receiving an RPC to sending its status, by method and code")
                   .Register(registry)) {}

void RpcMetrics::RecordStart(absl::string_view method) {
  started_.Add({{"method", std::string(method)}}).Increment();
}

void RpcMetrics::RecordDone(absl::string_view method, absl::string_view code, double seconds) {
  std::map<std::string, std::string> labels{{"method", std::string(method)},
                                            {"code", std::string(code)}};
  handled_.Add(labels).Increment();
  latency_.Add(labels, LatencyBuckets()).Observe(seconds);
}

}  // namespace chord::metrics
