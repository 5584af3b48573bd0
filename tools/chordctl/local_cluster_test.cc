// The local runner's parts that need no Chord service: cluster.json and the refusals of Start
// (spawning and stopping processes are common/process's, tested there). `chordctl up` with the real
// services is covered by tests/chordctl_jobs_test.cc.

#include "tools/chordctl/local_cluster.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files/file_io.h"
#include "tests/support/child_process.h"

namespace chord::chordctl {
namespace {

namespace fs = std::filesystem;

using chord::testing::TempDir;

std::string Which(const std::string& name) {
  for (const char* dir : {"/usr/bin/", "/bin/"}) {
    std::string path = std::string(dir) + name;
    if (access(path.c_str(), X_OK) == 0) return fs::canonical(path).string();
  }
  return name;
}

// A spawned process recorded like a service; stopped (SIGKILL) and reaped when the test ends.
struct Spawned {
  ServiceRecord record;
  ~Spawned() {
    if (record.pid > 0) {
      kill(record.pid, SIGKILL);
      waitpid(record.pid, nullptr, 0);
    }
  }
};

std::unique_ptr<Spawned> Spawn(const std::vector<std::string>& argv, const std::string& log,
                               const std::map<std::string, std::string>& env = {}) {
  absl::StatusOr<pid_t> pid = SpawnWithLog(argv, env, log);
  EXPECT_TRUE(pid.ok()) << pid.status();
  auto spawned = std::make_unique<Spawned>();
  if (!pid.ok()) return spawned;
  spawned->record.name = "test";
  spawned->record.pid = *pid;
  spawned->record.binary = fs::canonical(argv[0]).string();
  spawned->record.start_time = process::InspectProcess(*pid).start_time;
  return spawned;
}

TEST(ClusterRecordTest, JsonRoundTrip) {
  ClusterRecord record;
  record.state_dir = "/s";
  record.supervisor_pid = 42;
  record.supervisor_start_time = 7;
  record.supervisor_binary = "/b/chordctl";
  record.created_unix_ms = 1234;
  ServiceRecord learner;
  learner.name = "learner";
  learner.binary = "/b/chord-learner";
  learner.pid = 100;
  learner.start_time = 99;
  learner.address = "127.0.0.1:5000";
  learner.metrics_port = 5001;
  learner.log = "/s/logs/learner.log";
  learner.argv = {"/b/chord-learner", "--port=5000"};
  learner.env = {{"RANK", "0"}};
  record.services.push_back(learner);

  std::string json = ClusterRecordToJson(record);
  EXPECT_TRUE(absl::StrContains(json, "\"learner_address\": \"127.0.0.1:5000\"")) << json;
  absl::StatusOr<ClusterRecord> parsed = ClusterRecordFromJson(json, "c.json");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->state_dir, "/s");
  EXPECT_EQ(parsed->supervisor_pid, 42);
  EXPECT_EQ(parsed->supervisor_binary, "/b/chordctl");
  EXPECT_EQ(parsed->created_unix_ms, 1234);
  ASSERT_EQ(parsed->services.size(), 1u);
  EXPECT_EQ(parsed->services[0].start_time, 99u);
  EXPECT_EQ(parsed->services[0].argv, learner.argv);
  EXPECT_EQ(parsed->services[0].env, learner.env);
  EXPECT_EQ(parsed->LearnerAddress(), "127.0.0.1:5000");
  EXPECT_EQ(parsed->Find("reward"), nullptr);

  record.supervisor_pid = 0;
  parsed = ClusterRecordFromJson(ClusterRecordToJson(record), "c.json");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->supervisor_pid, 0);

  absl::StatusOr<ClusterRecord> bad = ClusterRecordFromJson("{\"services\": []}", "c.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StartsWith(bad.status().message(), "c.json: not a cluster record: "))
      << bad.status();
}

TEST(ClusterRecordTest, ReadWriteInTheStateDirectory) {
  TempDir dir;
  EXPECT_EQ(ReadClusterRecord(dir.path()).status().code(), absl::StatusCode::kNotFound);
  ClusterRecord record;
  record.state_dir = dir.path();
  ASSERT_TRUE(WriteClusterRecord(record).ok());
  EXPECT_TRUE(fs::exists(dir.path() + "/cluster.json"));
  EXPECT_EQ(ReadClusterRecord(dir.path())->state_dir, dir.path());
}

TEST(LocalClusterTest, MissingBinaryIsNotFound) {
  TempDir dir;
  LocalClusterOptions options;
  options.state_dir = dir.path() + "/state";
  options.bin_dir = dir.path() + "/bin";
  absl::StatusOr<std::unique_ptr<LocalCluster>> cluster = LocalCluster::Start(options, true);
  ASSERT_FALSE(cluster.ok());
  EXPECT_EQ(cluster.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StartsWith(cluster.status().message(),
                               dir.path() + "/bin/chord-expert-buffer: not found"))
      << cluster.status();
  EXPECT_TRUE(fs::is_directory(dir.path() + "/state/logs"));
  EXPECT_FALSE(fs::exists(dir.path() + "/state/cluster.json"));
}

TEST(LocalClusterTest, RefusesAStateDirectoryWhoseClusterStillRuns) {
  TempDir dir;
  std::unique_ptr<Spawned> running = Spawn({Which("sleep"), "30"}, dir.path() + "/s.log");
  ClusterRecord record;
  record.state_dir = dir.path();
  running->record.name = "reward";
  record.services.push_back(running->record);
  ASSERT_TRUE(WriteClusterRecord(record).ok());
  LocalClusterOptions options;
  options.state_dir = dir.path();
  options.bin_dir = dir.path();
  absl::StatusOr<std::unique_ptr<LocalCluster>> cluster = LocalCluster::Start(options, true);
  ASSERT_FALSE(cluster.ok());
  EXPECT_EQ(cluster.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(cluster.status().message(),
                                absl::StrCat("reward pid ", running->record.pid)))
      << cluster.status();
  EXPECT_TRUE(fs::exists(dir.path() + "/cluster.json"));  // left for `down`

  // Once the process is gone the record is stale and replaced (here: the binaries are missing).
  kill(running->record.pid, SIGKILL);
  waitpid(running->record.pid, nullptr, 0);
  running->record.pid = 0;
  cluster = LocalCluster::Start(options, true);
  EXPECT_EQ(cluster.status().code(), absl::StatusCode::kNotFound) << cluster.status();
  EXPECT_FALSE(fs::exists(dir.path() + "/cluster.json"));
}

TEST(LocalClusterTest, BadOptions) {
  LocalClusterOptions options;
  options.state_dir = "/tmp/x";
  options.rollout_workers = 0;
  EXPECT_EQ(LocalCluster::Start(options, true).status().message(),
            "--rollout-workers: must be >= 1");
  options.rollout_workers = 1;
  options.learner_ranks = 0;
  EXPECT_EQ(LocalCluster::Start(options, true).status().message(), "--learner-ranks: must be >= 1");
}

}  // namespace
}  // namespace chord::chordctl
