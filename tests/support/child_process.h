#pragma once

// Test support: start a real service binary as a child process (common/process), learn its ports
// from port files, and stop it by process id (SIGTERM, then SIGKILL after a grace period) even
// when a test fails.

#include <sys/types.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/process/process.h"

namespace chord::testing {

// A fresh temporary directory, removed with its contents when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Absolute path of a Chord binary in the build tree ($CHORD_BIN_DIR, set by ctest).
std::string BinaryPath(const std::string& name);

// Absolute path of a file in the source tree ($CHORD_SOURCE_DIR, set by ctest).
std::string SourcePath(const std::string& relative);

// Child processes come from common/process: stopped by pid (SIGTERM, then SIGKILL after a grace
// period) when the object dies, so a failing test leaves nothing behind.
using process::ChildProcess;
using process::PickFreePort;

// Waits until `path` holds a port number (written atomically by the service) and returns it.
// Fails early if `process` exits first.
absl::StatusOr<int> WaitForPortFile(const std::string& path, ChildProcess* process,
                                    absl::Duration timeout = absl::Seconds(60));

// A started service: its process, gRPC port and (if enabled) metrics port.
struct ServiceProcess {
  std::unique_ptr<ChildProcess> process;
  int port = 0;
  int metrics_port = -1;
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
};

// Starts `binary` (a name in build/bin) on 127.0.0.1 with --port 0, --metrics_port 0 and port files
// in `dir` (stale ones from an earlier process are removed first), plus `args`; waits for both
// ports and for the health service to say SERVING.
absl::StatusOr<ServiceProcess> StartService(const std::string& binary,
                                            const std::vector<std::string>& args,
                                            const std::string& dir,
                                            absl::Duration timeout = absl::Seconds(60));

// GET http://127.0.0.1:port/path; returns the body (non-200 is an error with the status line and
// the start of the body).
absl::StatusOr<std::string> HttpGet(int port, const std::string& path);

// Runs `promtool check metrics` on `text`; returns its complaints as an error (OK when clean).
// FAILED_PRECONDITION when promtool is not installed.
absl::Status PromtoolCheckMetrics(const std::string& text);

// Runs a command through /bin/sh, capturing stdout+stderr; returns {exit code, output}.
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
CommandResult RunCommand(const std::string& command, absl::Duration timeout = absl::Seconds(120));

// Polls `condition` (every millisecond) until it holds: true, or false after `timeout`.
bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout = absl::Seconds(60));

}  // namespace chord::testing
