#include "common/metrics/metrics.h"

#include <gtest/gtest.h>

#include "prometheus/text_serializer.h"

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

TEST(MetricsTest, BucketsAreIncreasing) {
  for (const auto& buckets : {LatencyBuckets(), SizeBuckets()}) {
    for (size_t i = 1; i < buckets.size(); ++i) EXPECT_LT(buckets[i - 1], buckets[i]);
  }
}

}  // namespace
}  // namespace chord::metrics
