#include "tests/support/child_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "common/files/file_io.h"
#include "common/rpc/channel.h"

namespace chord::testing {

TempDir::TempDir() {
  char tmpl[] = "/tmp/chord_test_XXXXXX";
  char* made = mkdtemp(tmpl);
  path_ = made ? made : "/tmp";
}

TempDir::~TempDir() {
  std::error_code ignored;
  if (path_ != "/tmp") std::filesystem::remove_all(path_, ignored);
}

std::string BinaryPath(const std::string& name) {
  const char* dir = std::getenv("CHORD_BIN_DIR");
  return absl::StrCat(dir ? dir : "build/bin", "/", name);
}

std::string SourcePath(const std::string& relative) {
  const char* dir = std::getenv("CHORD_SOURCE_DIR");
  return absl::StrCat(dir ? dir : ".", "/", relative);
}

absl::StatusOr<int> WaitForPortFile(const std::string& path, ChildProcess* process,
                                    absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    auto content = files::ReadFile(path);
    int port = 0;
    if (content.ok() && absl::SimpleAtoi(absl::StripAsciiWhitespace(*content), &port) && port > 0) {
      return port;
    }
    if (process != nullptr && !process->Running()) {
      return absl::FailedPreconditionError(
          absl::StrCat("process ", process->pid(), " exited before writing ", path));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat("no port in ", path));
}

absl::StatusOr<ServiceProcess> StartService(const std::string& binary,
                                            const std::vector<std::string>& args,
                                            const std::string& dir, absl::Duration timeout) {
  std::string port_file = absl::StrCat(dir, "/", binary, ".port");
  std::string metrics_file = absl::StrCat(dir, "/", binary, ".metrics_port");
  std::string log = absl::StrCat(dir, "/", binary, ".log");
  // A restart in the same directory must not read the previous process's ports.
  unlink(port_file.c_str());
  unlink(metrics_file.c_str());
  std::vector<std::string> argv = {BinaryPath(binary),
                                   "--host=127.0.0.1",
                                   "--port=0",
                                   "--port_file=" + port_file,
                                   "--metrics_host=127.0.0.1",
                                   "--metrics_port=0",
                                   "--metrics_port_file=" + metrics_file};
  argv.insert(argv.end(), args.begin(), args.end());
  ServiceProcess service;
  auto started = ChildProcess::Start(argv, log);
  if (!started.ok()) return started.status();
  service.process = std::move(*started);
  auto with_log = [&](const absl::Status& status) {
    auto text = files::ReadFile(log);
    return absl::Status(status.code(), absl::StrCat(binary, ": ", status.message(),
                                                    "\n--- log ---\n", text.ok() ? *text : ""));
  };
  auto port = WaitForPortFile(port_file, service.process.get(), timeout);
  if (!port.ok()) return with_log(port.status());
  service.port = *port;
  auto metrics_port = WaitForPortFile(metrics_file, service.process.get(), timeout);
  if (!metrics_port.ok()) return with_log(metrics_port.status());
  service.metrics_port = *metrics_port;
  auto channel = rpc::MakeChannel(service.address(), rpc::ClientOptions());
  absl::Status serving = rpc::WaitForServing(channel, service.address(), timeout);
  if (!serving.ok()) return with_log(serving);
  return service;
}

absl::StatusOr<std::string> HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("connect 127.0.0.1:", port));
  }
  std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return absl::InternalError("write");
  }
  std::string response;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) response.append(buf, static_cast<size_t>(n));
  close(fd);
  size_t header_end = response.find("\r\n\r\n");
  if (header_end == std::string::npos) return absl::InternalError("malformed HTTP response");
  std::string status_line = response.substr(0, response.find("\r\n"));
  if (status_line.find(" 200 ") == std::string::npos) {
    return absl::InternalError(
        absl::StrCat("HTTP ", status_line, ": ", response.substr(header_end + 4, 1000)));
  }
  return response.substr(header_end + 4);
}

bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time until = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > until) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

CommandResult RunCommand(const std::string& command, absl::Duration timeout) {
  CommandResult result;
  std::string full = absl::StrCat("timeout ", absl::ToInt64Seconds(timeout), " ", "/bin/sh -c '",
                                  absl::StrReplaceAll(command, {{"'", "'\\''"}}), "' 2>&1");
  FILE* pipe = popen(full.c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) result.output.append(buf, n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

absl::Status PromtoolCheckMetrics(const std::string& text) {
  if (RunCommand("command -v promtool").exit_code != 0) {
    return absl::FailedPreconditionError("promtool not installed (Debian package `prometheus`)");
  }
  TempDir dir;
  std::string path = dir.File("metrics.txt");
  {
    std::ofstream out(path);
    out << text;
  }
  CommandResult result = RunCommand(absl::StrCat("promtool check metrics < ", path));
  if (result.exit_code != 0) {
    return absl::InvalidArgumentError(absl::StrCat("promtool: ", result.output));
  }
  return absl::OkStatus();
}

}  // namespace chord::testing
