#include "tools/chordctl/local_prometheus.h"

#include <gtest/gtest.h>

#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/support/child_process.h"

namespace chord::chordctl {
namespace {

ClusterRecord LocalCluster() {
  ClusterRecord record;
  record.state_dir = "/tmp/state";
  int port = 40001;
  for (const char* name : {"expert-buffer", "reward", "rollout-worker-0", "rollout-worker-1",
                           "learner-0", "learner-1"}) {
    ServiceRecord s;
    s.name = name;
    s.metrics_port = port++;
    record.services.push_back(s);
  }
  return record;
}

TEST(LocalPrometheusTest, ScrapeJobsAreTheServiceKinds) {
  EXPECT_EQ(ScrapeJobOf("expert-buffer"), "chord-expert-buffer");
  EXPECT_EQ(ScrapeJobOf("reward"), "chord-reward");
  EXPECT_EQ(ScrapeJobOf("rollout-worker-12"), "chord-rollout-worker");
  EXPECT_EQ(ScrapeJobOf("learner"), "chord-learner");
  EXPECT_EQ(ScrapeJobOf("learner-3"), "chord-learner");
  EXPECT_EQ(ScrapeJobOf("prometheus"), "");
}

TEST(LocalPrometheusTest, ConfigScrapesEveryServiceOnce) {
  std::string config =
      PrometheusConfig(LocalCluster(), "/rules.yml", absl::Seconds(1), /*self_port=*/40100);
  EXPECT_TRUE(absl::StrContains(config, "  scrape_interval: 1s\n")) << config;
  EXPECT_TRUE(absl::StrContains(config, "  evaluation_interval: 1s\n")) << config;
  EXPECT_TRUE(absl::StrContains(config, "rule_files:\n  - '/rules.yml'\n")) << config;
  EXPECT_TRUE(absl::StrContains(config,
                                "  - job_name: chord-rollout-worker\n    static_configs:\n"
                                "      - targets: ['127.0.0.1:40003']\n"
                                "        labels: {chord_service: 'rollout-worker-0'}\n"
                                "      - targets: ['127.0.0.1:40004']\n"
                                "        labels: {chord_service: 'rollout-worker-1'}\n"))
      << config;
  EXPECT_TRUE(absl::StrContains(config,
                                "targets: ['127.0.0.1:40006']\n"
                                "        labels: {chord_service: 'learner-1'}"))
      << config;
  EXPECT_TRUE(absl::StrContains(config,
                                "  - job_name: prometheus\n    static_configs:\n"
                                "      - targets: ['127.0.0.1:40100']"))
      << config;
  for (const char* job :
       {"chord-expert-buffer", "chord-reward", "chord-rollout-worker", "chord-learner"}) {
    EXPECT_EQ(config.find(absl::StrCat("job_name: ", job)),
              config.rfind(absl::StrCat("job_name: ", job)))
        << job;
  }
}

// `promtool check config` accepts the generated configuration together with the rules file it
// names (deploy/prometheus/rules.yml), as `chordctl up --prometheus` writes them.
TEST(LocalPrometheusTest, PromtoolAcceptsTheGeneratedConfig) {
  testing::TempDir dir;
  const std::string path = dir.File("prometheus.yml");
  std::ofstream(path) << PrometheusConfig(
      LocalCluster(), testing::SourcePath("deploy/prometheus/rules.yml"), absl::Seconds(5), 40100);
  testing::CommandResult check = testing::RunCommand("promtool check config " + path);
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_TRUE(absl::StrContains(check.output, "SUCCESS: 16 rules found")) << check.output;
}

TEST(LocalPrometheusTest, MissingBinaryOrRulesAreNamed) {
  absl::StatusOr<std::string> binary = FindPrometheusBinary("/nonexistent/prometheus");
  EXPECT_EQ(binary.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(binary.status().message(), "/nonexistent/prometheus"));
  testing::TempDir dir;
  LocalPrometheusOptions options;
  options.binary = "/usr/bin/prometheus";
  options.rules_file = dir.File("absent.yml");
  ClusterRecord record = LocalCluster();
  record.state_dir = dir.path();
  absl::StatusOr<ServiceRecord> started = StartLocalPrometheus(record, options);
  EXPECT_EQ(started.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(started.status().message(), "absent.yml")) << started.status();
}

}  // namespace
}  // namespace chord::chordctl
