// Child processes (process.h): identity through /proc, spawning (session, output files,
// environment, no inherited descriptor, exec errors), stopping recorded processes with SIGKILL
// after the grace period, owned children and their exit codes.

#include "common/process/process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files/file_io.h"
#include "tests/support/child_process.h"

namespace chord::process {
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

// A spawned process with its record; stopped (SIGKILL) and reaped when the test ends.
struct Spawned {
  RecordedProcess record;
  ~Spawned() {
    if (record.pid > 0) {
      kill(record.pid, SIGKILL);
      waitpid(record.pid, nullptr, 0);
    }
  }
};

std::unique_ptr<Spawned> SpawnRecorded(const std::vector<std::string>& argv, const std::string& log,
                                       const std::map<std::string, std::string>& env = {}) {
  SpawnOptions options;
  options.env = env;
  options.stdout_path = log;
  options.stderr_path = log;
  options.stdin_from_null = true;
  options.new_session = true;
  absl::StatusOr<pid_t> pid = Spawn(argv, options);
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
      SpawnRecorded({Which("sh"), "-c", "echo out $CHORD_TEST_VALUE; echo err >&2; exec sleep 30"},
                    log, {{"CHORD_TEST_VALUE", "v1"}});
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

TEST(ProcessTest, SeparateOutputFiles) {
  TempDir dir;
  SpawnOptions options;
  options.stdout_path = dir.path() + "/out";
  options.stderr_path = dir.path() + "/err";
  auto child = ChildProcess::Start({Which("sh"), "-c", "echo to-out; echo to-err >&2"}, options);
  ASSERT_TRUE(child.ok()) << child.status();
  ASSERT_EQ((*child)->Wait(absl::InfiniteDuration()).value_or(-1), 0);
  EXPECT_EQ(*files::ReadFile(dir.path() + "/out"), "to-out\n");
  EXPECT_EQ(*files::ReadFile(dir.path() + "/err"), "to-err\n");
}

TEST(ProcessTest, NoOtherDescriptorIsInherited) {
  TempDir dir;
  // A descriptor without close-on-exec, as a careless library might leave one.
  int leaked = dup2(open("/dev/null", O_RDONLY), 57);
  ASSERT_EQ(leaked, 57);
  std::string log = dir.path() + "/fds.log";
  std::unique_ptr<Spawned> shell =
      SpawnRecorded({Which("sh"), "-c", "ls /proc/$$/fd; echo done; exec sleep 30"}, log);
  close(leaked);
  ASSERT_TRUE(WaitForFileContaining(log, "done"));
  std::vector<std::string> fds = absl::StrSplit(*files::ReadFile(log), '\n', absl::SkipEmpty());
  fds.pop_back();  // "done"
  for (const std::string& fd : fds) EXPECT_TRUE(fd == "0" || fd == "1" || fd == "2") << fd;
}

TEST(ProcessTest, ExecFailureIsAnError) {
  TempDir dir;
  SpawnOptions options;
  options.stdout_path = dir.path() + "/l.log";
  absl::StatusOr<pid_t> pid = Spawn({dir.path() + "/missing"}, options);
  ASSERT_FALSE(pid.ok());
  EXPECT_EQ(pid.status().message(),
            absl::StrCat("cannot run ", dir.path(), "/missing: No such file or directory"));
  EXPECT_EQ(Spawn({}, options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ProcessTest, StopSendsTermThenKillAfterTheGrace) {
  TempDir dir;
  std::unique_ptr<Spawned> polite = SpawnRecorded({Which("sleep"), "30"}, dir.path() + "/a.log");
  std::unique_ptr<Spawned> stubborn =
      SpawnRecorded({Which("sh"), "-c", "trap '' TERM; exec sleep 30"}, dir.path() + "/b.log");
  stubborn->record.binary = Which("sleep");  // after the exec
  for (int i = 0;
       i < 500 && InspectProcess(stubborn->record.pid).executable != stubborn->record.binary; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(IsSameProcess(polite->record.pid, polite->record.binary, polite->record.start_time));
  ASSERT_TRUE(
      IsSameProcess(stubborn->record.pid, stubborn->record.binary, stubborn->record.start_time));
  // A record whose start time differs is some other process: never signalled.
  RecordedProcess impostor = polite->record;
  impostor.start_time += 1;
  EXPECT_EQ(StopRecordedProcesses({impostor}, absl::Milliseconds(10)), 0);
  EXPECT_TRUE(IsSameProcess(polite->record.pid, polite->record.binary, polite->record.start_time));

  std::vector<std::string> notes;
  int signalled =
      StopRecordedProcesses({polite->record, stubborn->record}, absl::Milliseconds(300),
                            [&notes](const std::string& line) { notes.push_back(line); });
  EXPECT_EQ(signalled, 2);
  EXPECT_FALSE(InspectProcess(polite->record.pid).running);
  EXPECT_FALSE(InspectProcess(stubborn->record.pid).running);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_TRUE(absl::StrContains(notes[0], "did not stop within 300ms of SIGTERM: killed"))
      << notes[0];
  polite->record.pid = 0;  // reaped by StopRecordedProcesses
  stubborn->record.pid = 0;
}

TEST(ChildProcessTest, ExitCodesAndStop) {
  auto exits = ChildProcess::Start({Which("sh"), "-c", "exit 3"});
  ASSERT_TRUE(exits.ok()) << exits.status();
  EXPECT_EQ((*exits)->Wait(absl::Seconds(30)).value_or(-1), 3);
  EXPECT_FALSE((*exits)->Running());

  auto sleeper = ChildProcess::Start({Which("sleep"), "30"});
  ASSERT_TRUE(sleeper.ok());
  EXPECT_TRUE((*sleeper)->Running());
  EXPECT_EQ((*sleeper)->Wait(absl::Milliseconds(10)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  int status = (*sleeper)->Stop(absl::Seconds(5));
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(ExitCodeOf(status), 128 + SIGTERM);
  EXPECT_EQ(DescribeWaitStatus(status), "signal 15 (Terminated)");
  EXPECT_FALSE((*sleeper)->Running());
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

TEST(PickFreePortTest, ReturnsAPort) {
  absl::StatusOr<int> port = PickFreePort();
  ASSERT_TRUE(port.ok());
  EXPECT_GT(*port, 0);
  EXPECT_LT(*port, 65536);
}

}  // namespace
}  // namespace chord::process
