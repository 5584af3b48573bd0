#include "common/metrics/metrics.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <chrono>
#include <exception>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "prometheus/metric_family.h"

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
  auto server = std::unique_ptr<MetricsServer>(
      new MetricsServer(std::move(exposer), ports.front(), std::move(registry)));
  server->AddCollectable(std::make_shared<ProcessCollector>());
  return server;
}

void MetricsServer::AddCollectable(std::shared_ptr<prometheus::Collectable> collectable) {
  exposer_->RegisterCollectable(collectable);
  collectables_.push_back(std::move(collectable));
}

namespace {

prometheus::MetricFamily OneValueFamily(const std::string& name, const std::string& help,
                                        prometheus::MetricType type, double value,
                                        std::vector<prometheus::ClientMetric::Label> labels = {}) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return prometheus::MetricFamily{name, help, type, {metric}};
}

}  // namespace

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  std::ifstream file("/proc/self/stat");
  std::string stat;
  if (!file || !std::getline(file, stat)) return {};
  // "pid (comm) state ...": comm may hold spaces; the fields after it start at state (field 3).
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return {};
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(stat).substr(close + 1), ' ', absl::SkipWhitespace());
  // utime = field 14, stime = 15 (clock ticks), vsize = 23 (bytes), rss = 24 (pages).
  constexpr size_t kFirst = 3;
  if (fields.size() < 24 - kFirst + 1) return {};
  double utime = 0, stime = 0, vsize = 0, rss_pages = 0;
  if (!absl::SimpleAtod(fields[14 - kFirst], &utime) ||
      !absl::SimpleAtod(fields[15 - kFirst], &stime) ||
      !absl::SimpleAtod(fields[23 - kFirst], &vsize) ||
      !absl::SimpleAtod(fields[24 - kFirst], &rss_pages)) {
    return {};
  }
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  return {OneValueFamily("process_cpu_seconds_total", "Total user and system CPU time in seconds",
                         prometheus::MetricType::Counter, (utime + stime) / ticks),
          OneValueFamily("process_resident_memory_bytes", "Resident memory size in bytes",
                         prometheus::MetricType::Gauge, rss_pages * page),
          OneValueFamily("process_virtual_memory_bytes", "Virtual memory size in bytes",
                         prometheus::MetricType::Gauge, vsize)};
}

std::vector<prometheus::MetricFamily> FilesystemCollector::Collect() const {
  struct statvfs fs {};
  if (statvfs(path_.c_str(), &fs) != 0) return {};
  const double unit = static_cast<double>(fs.f_frsize);
  return {OneValueFamily(prefix_ + "_avail_bytes",
                         "Bytes available to unprivileged writers on the filesystem holding path",
                         prometheus::MetricType::Gauge, static_cast<double>(fs.f_bavail) * unit,
                         {{"path", path_}}),
          OneValueFamily(prefix_ + "_size_bytes", "Size of the filesystem holding path in bytes",
                         prometheus::MetricType::Gauge, static_cast<double>(fs.f_blocks) * unit,
                         {{"path", path_}})};
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
