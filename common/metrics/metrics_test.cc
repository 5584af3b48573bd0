#include "common/metrics/metrics.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "absl/strings/match.h"
#include "prometheus/text_serializer.h"
#include "tests/support/child_process.h"

namespace chord::metrics {
namespace {

std::string Serialize(prometheus::Registry& registry) {
  return prometheus::TextSerializer().Serialize(registry.Collect());
}

TEST(MetricsTest, RpcMetricsCountsByMethodAndCode) {
  prometheus::Registry registry;
  RpcMetrics rpc(registry);
  rpc.RecordStart("/chord.v1.X/A");
  rpc.RecordDone("/chord.v1.X/A", "OK", 0.002);
  rpc.RecordStart("/chord.v1.X/A");
  rpc.RecordDone("/chord.v1.X/A", "INVALID_ARGUMENT", 0.5);
  std::string text = Serialize(registry);
  EXPECT_NE(text.find("chord_rpc_server_started_total{method=\"/chord.v1.X/A\"} 2"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find(
          "chord_rpc_server_handled_total{code=\"INVALID_ARGUMENT\",method=\"/chord.v1.X/A\"} 1"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find("chord_rpc_server_handling_seconds_count{code=\"OK\",method=\"/chord.v1.X/A\"} 1"),
      std::string::npos)
      << text;
}

TEST(MetricsTest, ProcessMetricsHaveBuildInfo) {
  prometheus::Registry registry;
  RegisterProcessMetrics(registry, "reward");
  std::string text = Serialize(registry);
  EXPECT_NE(text.find("chord_build_info{service=\"reward\""), std::string::npos) << text;
  EXPECT_NE(text.find("process_start_time_seconds"), std::string::npos);
}

TEST(MetricsTest, ServerBindsPortZeroAndRefusesBusyPort) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto server = MetricsServer::Start("127.0.0.1", 0, registry);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_GT((*server)->port(), 0);
  auto second = MetricsServer::Start("127.0.0.1", (*server)->port(), registry);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

// The value of the single-series family `name` in `families`, or NaN when absent.
double ValueOf(const std::vector<prometheus::MetricFamily>& families, const std::string& name) {
  for (const auto& family : families) {
    if (family.name != name || family.metric.size() != 1) continue;
    return family.type == prometheus::MetricType::Counter ? family.metric[0].counter.value
                                                          : family.metric[0].gauge.value;
  }
  return std::nan("");
}

TEST(MetricsTest, ProcessCollectorReadsCpuAndMemory) {
  // Burn some CPU so that the counter is above one clock tick.
  volatile double sink = 0;
  for (int i = 0; i < 50'000'000; ++i) sink = sink + i * 0.5;
  std::vector<prometheus::MetricFamily> families = ProcessCollector().Collect();
  double cpu = ValueOf(families, "process_cpu_seconds_total");
  double rss = ValueOf(families, "process_resident_memory_bytes");
  double virt = ValueOf(families, "process_virtual_memory_bytes");
  EXPECT_GT(cpu, 0);
  EXPECT_LT(cpu, 3600);
  EXPECT_GT(rss, 1 << 20);  // a gtest binary holds more than 1 MiB
  EXPECT_GE(virt, rss);
  std::string text = prometheus::TextSerializer().Serialize(families);
  EXPECT_NE(text.find("# TYPE process_cpu_seconds_total counter"), std::string::npos) << text;
}

TEST(MetricsTest, FilesystemCollectorReportsTheVolumeOfAPath) {
  char dir_template[] = "/tmp/chord_fs_collector_XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  std::string dir = dir_template;
  std::filesystem::space_info space = std::filesystem::space(dir);
  std::vector<prometheus::MetricFamily> families = FilesystemCollector("x_state", dir).Collect();
  ASSERT_EQ(families.size(), 2u);
  double size = ValueOf(families, "x_state_size_bytes");
  double avail = ValueOf(families, "x_state_avail_bytes");
  EXPECT_EQ(size, static_cast<double>(space.capacity));
  EXPECT_GT(avail, 0);
  EXPECT_LE(avail, size);
  EXPECT_EQ(families[0].metric[0].label[0].name, "path");
  EXPECT_EQ(families[0].metric[0].label[0].value, dir);
  std::filesystem::remove(dir);
  EXPECT_TRUE(FilesystemCollector("x_state", dir).Collect().empty());
}

// The endpoint serves the registry, the process collector and added collectables (the exposer
// keeps only weak pointers: the server must keep them alive).
TEST(MetricsTest, ServerServesCollectablesItKeepsAlive) {
  auto registry = std::make_shared<prometheus::Registry>();
  RegisterProcessMetrics(*registry, "reward");
  auto server = MetricsServer::Start("127.0.0.1", 0, registry);
  ASSERT_TRUE(server.ok()) << server.status();
  (*server)->AddCollectable(std::make_shared<FilesystemCollector>("x_state", "/"));
  absl::StatusOr<std::string> text = chord::testing::HttpGet((*server)->port(), "/metrics");
  ASSERT_TRUE(text.ok()) << text.status();
  for (const char* family :
       {"chord_build_info", "process_cpu_seconds_total", "process_resident_memory_bytes",
        "x_state_avail_bytes{path=\"/\"}", "x_state_size_bytes{path=\"/\"}"}) {
    EXPECT_TRUE(absl::StrContains(*text, family)) << family << "\n" << *text;
  }
  absl::Status promtool = chord::testing::PromtoolCheckMetrics(*text);
  EXPECT_TRUE(promtool.ok()) << promtool;
}

TEST(MetricsTest, BucketsAreIncreasing) {
  for (const auto& buckets : {LatencyBuckets(), SizeBuckets()}) {
    for (size_t i = 1; i < buckets.size(); ++i) EXPECT_LT(buckets[i - 1], buckets[i]);
  }
}

}  // namespace
}  // namespace chord::metrics
