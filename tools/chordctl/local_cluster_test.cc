// The local runner's parts that need no Chord service: cluster.json, process identity through
// /proc, spawning (session, log, environment, exec errors), stopping with SIGKILL after the
// grace period, and the refusals of Start. `chordctl up` with the real services is covered by
// tests/chordctl_jobs_test.cc.

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

namespace chord::chordctl {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/chordctl_cluster_XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

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
  absl::StatusOr<pid_t> pid = SpawnProcess(argv, env, log);
  EXPECT_TRUE(pid.ok()) << pid.status();
  auto spawned = std::make_unique<Spawned>();
  if (!pid.ok()) return spawned;
  spawned->record.name = "test";
  spawned->record.pid = *pid;
  spawned->record.binary = fs::canonical(argv[0]).string();
  spawned->record.start_time = InspectProcess(*pid).start_time;
  return spawned;
}

bool WaitForFileContaining(const std::string& path, const std::string& text) {
  for (int i = 0; i < 500; ++i) {
    absl::StatusOr<std::string> content = files::ReadFile(path);
    if (content.ok() && absl::StrContains(*content, text)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
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

TEST(ProcessTest, InspectsItself) {
  ProcessInfo self = InspectProcess(getpid());
  EXPECT_TRUE(self.running);
  EXPECT_EQ(self.executable, fs::read_symlink("/proc/self/exe").string());
  EXPECT_GT(self.start_time, 0u);
  EXPECT_TRUE(IsSameProcess(getpid(), self.executable, self.start_time));
  EXPECT_FALSE(IsSameProcess(getpid(), self.executable, self.start_time + 1));
  EXPECT_FALSE(IsSameProcess(getpid(), "/bin/some-other-binary", 0));
  EXPECT_FALSE(InspectProcess(0).running);
}

TEST(ProcessTest, SpawnRedirectsOutputSetsEnvironmentAndStartsASession) {
  TempDir dir;
  std::string log = dir.path() + "/out.log";
  std::unique_ptr<Spawned> shell =
      Spawn({Which("sh"), "-c", "echo out $CHORD_TEST_VALUE; echo err >&2; exec sleep 30"}, log,
            {{"CHORD_TEST_VALUE", "v1"}});
  ASSERT_GT(shell->record.pid, 0);
  ASSERT_TRUE(WaitForFileContaining(log, "err"));
  absl::StatusOr<std::string> text = files::ReadFile(log);
  EXPECT_TRUE(absl::StrContains(*text, "out v1\n")) << *text;
  // Its own session: field 6 of /proc/<pid>/stat is the session id.
  std::ifstream stat(absl::StrCat("/proc/", shell->record.pid, "/stat"));
  std::string line;
  std::getline(stat, line);
  std::vector<std::string> fields =
      absl::StrSplit(line.substr(line.rfind(')') + 2), ' ', absl::SkipEmpty());
  EXPECT_EQ(fields[3], absl::StrCat(shell->record.pid)) << line;
}

TEST(ProcessTest, NoOtherDescriptorIsInherited) {
  TempDir dir;
  // A descriptor without close-on-exec, as a careless library might leave one.
  int leaked = dup2(open("/dev/null", O_RDONLY), 57);
  ASSERT_EQ(leaked, 57);
  std::string log = dir.path() + "/fds.log";
  std::unique_ptr<Spawned> shell =
      Spawn({Which("sh"), "-c", "ls /proc/$$/fd; echo done; exec sleep 30"}, log);
  close(leaked);
  ASSERT_TRUE(WaitForFileContaining(log, "done"));
  std::vector<std::string> fds = absl::StrSplit(*files::ReadFile(log), '\n', absl::SkipEmpty());
  fds.pop_back();  // "done"
  for (const std::string& fd : fds) EXPECT_TRUE(fd == "0" || fd == "1" || fd == "2") << fd;
}

TEST(ProcessTest, ExecFailureIsAnError) {
  TempDir dir;
  absl::StatusOr<pid_t> pid = SpawnProcess({dir.path() + "/missing"}, {}, dir.path() + "/l.log");
  ASSERT_FALSE(pid.ok());
  EXPECT_EQ(pid.status().message(),
            absl::StrCat("cannot run ", dir.path(), "/missing: No such file or directory"));
}

TEST(ProcessTest, StopSendsTermThenKillAfterTheGrace) {
  TempDir dir;
  std::unique_ptr<Spawned> polite = Spawn({Which("sleep"), "30"}, dir.path() + "/a.log");
  std::unique_ptr<Spawned> stubborn =
      Spawn({Which("sh"), "-c", "trap '' TERM; exec sleep 30"}, dir.path() + "/b.log");
  stubborn->record.binary = Which("sleep");  // after the exec
  for (int i = 0;
       i < 500 && InspectProcess(stubborn->record.pid).executable != stubborn->record.binary; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(IsSameProcess(polite->record.pid, polite->record.binary, polite->record.start_time));
  ASSERT_TRUE(
      IsSameProcess(stubborn->record.pid, stubborn->record.binary, stubborn->record.start_time));
  // A record whose start time differs is some other process: never signalled.
  ServiceRecord impostor = polite->record;
  impostor.start_time += 1;
  EXPECT_EQ(StopProcesses({&impostor}, absl::Milliseconds(10)), 0);
  EXPECT_TRUE(IsSameProcess(polite->record.pid, polite->record.binary, polite->record.start_time));

  std::vector<std::string> notes;
  int signalled = StopProcesses({&polite->record, &stubborn->record}, absl::Milliseconds(300),
                                [&notes](const std::string& line) { notes.push_back(line); });
  EXPECT_EQ(signalled, 2);
  EXPECT_FALSE(InspectProcess(polite->record.pid).running);
  EXPECT_FALSE(InspectProcess(stubborn->record.pid).running);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_TRUE(absl::StrContains(notes[0], "did not stop within 300ms of SIGTERM: killed"))
      << notes[0];
  polite->record.pid = 0;  // reaped by StopProcesses
  stubborn->record.pid = 0;
}

TEST(ProcessTest, TailOfFile) {
  TempDir dir;
  std::string path = dir.path() + "/t.log";
  ASSERT_TRUE(files::WriteFileAtomically(path, "1\n2\n3\n4\n").ok());
  EXPECT_EQ(TailOfFile(path, 2), "3\n4");
  EXPECT_EQ(TailOfFile(path, 10), "1\n2\n3\n4");
  EXPECT_EQ(TailOfFile(path + ".missing", 2), "");
  // An empty log (a process that printed nothing) has an empty tail.
  ASSERT_TRUE(files::WriteFileAtomically(path, "").ok());
  EXPECT_EQ(TailOfFile(path, 2), "");
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

TEST(PickFreePortTest, ReturnsAPort) {
  absl::StatusOr<int> port = PickFreePort();
  ASSERT_TRUE(port.ok());
  EXPECT_GT(*port, 0);
  EXPECT_LT(*port, 65536);
}

}  // namespace
}  // namespace chord::chordctl
