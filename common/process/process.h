#pragma once

// Child processes: spawning and supervision shared by `chordctl up` (the local cluster),
// `chordctl`'s commands that run chord-model-tool, the benchmarks and the test support.
//
//  - Spawn starts a program the way a supervisor must: everything prepared before fork, only
//    async-signal-safe calls after it; every signal unblocked and at its default action; no
//    descriptor inherited but stdin/stdout/stderr; optional new session (a Ctrl-C in the terminal
//    then reaches only the supervisor), stdin from /dev/null, output appended to files. An exec
//    failure is reported as an error (through a close-on-exec pipe), not as a child exiting 127.
//  - A recorded process (pid, executable, start time) is signalled only while /proc still shows
//    that process, so a reused pid is never hit (IsSameProcess, StopRecordedProcesses).
//  - ChildProcess owns a child: it is stopped (SIGTERM, a grace period, SIGKILL) when the object
//    dies, so a failing test or an aborted command leaves nothing behind.
// Thread-compatible; Spawn may be called from a multi-threaded process.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace chord::process {

struct SpawnOptions {
  // The file to execute. Empty (default): argv[0]. Set, argv[0] is only the name the program
  // sees (as a shell's `exec -a`).
  std::string program;
  // Added to (or replacing in) this process's environment.
  std::map<std::string, std::string> env;
  // Files stdout / stderr are appended to (created 0644); the same path for both shares one
  // descriptor. Empty (default): inherited.
  std::string stdout_path;
  std::string stderr_path;
  // stdin from /dev/null. Default false: inherited.
  bool stdin_from_null = false;
  // The child starts a new session (setsid). Default false.
  bool new_session = false;
};

// Starts `argv` (argv[0] a path execve accepts, unless options.program is set) with `options`.
// Returns its pid once the exec succeeded. INVALID_ARGUMENT for an empty argv; INTERNAL naming the
// file when an output file cannot be opened; FAILED_PRECONDITION "cannot run <program>: <reason>"
// when the exec fails.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, const SpawnOptions& options);

// What /proc says about a process: its executable (resolved; " (deleted)" removed), its start
// time (/proc/<pid>/stat field 22, clock ticks after boot), and whether it still runs (a zombie
// or a missing entry does not).
struct ProcessInfo {
  bool running = false;
  std::string executable;
  uint64_t start_time = 0;
};
ProcessInfo InspectProcess(pid_t pid);

// True while `pid` runs the executable `binary` (as given or canonical) and, when `start_time` !=
// 0, was started at `start_time`: the process is the one that was recorded.
bool IsSameProcess(pid_t pid, const std::string& binary, uint64_t start_time);

// Reaps `pid` if it is an exited child of this process (harmless otherwise): true, with its wait
// status in *wait_status (may be null), when it was reaped now.
bool Reap(pid_t pid, int* wait_status);

// "exit code 3", "signal 9 (Killed)".
std::string DescribeWaitStatus(int wait_status);
// The exit code, or 128 + the signal for a killed process (as a shell reports it).
int ExitCodeOf(int wait_status);

// A process known by its record (not necessarily a child of this process).
struct RecordedProcess {
  std::string name;
  pid_t pid = 0;
  std::string binary;
  uint64_t start_time = 0;
};

// Stops the recorded processes that are still the recorded ones: SIGTERM to all, wait up to
// `grace` for them to exit, SIGKILL the rest and wait for those too (reaping those that are
// children of this process). Returns how many were signalled. `note` (optional) receives one line
// per process killed after the grace period ("<name> (pid N) did not stop within 2s of SIGTERM:
// killed").
int StopRecordedProcesses(const std::vector<RecordedProcess>& processes, absl::Duration grace,
                          const std::function<void(const std::string&)>& note = nullptr);

// A child of this process, stopped when the object dies.
class ChildProcess {
 public:
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(const std::vector<std::string>& argv,
                                                             const SpawnOptions& options);
  // The test support's form: stdout and stderr appended to `log_path` (inherited when empty),
  // `extra_env` added to the environment.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(
      const std::vector<std::string>& argv, const std::string& log_path = "",
      const std::map<std::string, std::string>& extra_env = {});

  // Stop() if it still runs.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  // SIGTERM, wait up to `grace`, then SIGKILL. Returns the wait status (the stored one when it
  // had already exited).
  int Stop(absl::Duration grace = absl::Seconds(15));

  // Sends `sig` without waiting (nothing once it has exited).
  void Signal(int sig);

  // Non-blocking: true while the process runs (reaps it once it exited).
  bool Running();

  // Waits for the process to exit on its own (DEADLINE_EXCEEDED after `timeout`; an infinite
  // timeout waits as long as it takes). Returns ExitCodeOf its wait status.
  absl::StatusOr<int> Wait(absl::Duration timeout);

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  bool exited_ = false;
  int wait_status_ = 0;
};

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close): for peers
// that cannot report a port they chose themselves (c10d's rendezvous, a port handed out before
// the process that uses it starts).
absl::StatusOr<int> PickFreePort();

// The last `lines` lines of a file, e.g. a child's log ("" when unreadable or empty).
std::string TailOfFile(const std::string& path, int lines);

}  // namespace chord::process
