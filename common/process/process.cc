#include "common/process/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/files/file_io.h"

extern char** environ;

namespace chord::process {
namespace {

std::string Canonical(const std::string& path) {
  std::error_code ec;
  std::filesystem::path canonical = std::filesystem::canonical(path, ec);
  return ec ? std::filesystem::absolute(path, ec).lexically_normal().string() : canonical.string();
}

int OpenForAppend(const std::string& path) {
  return open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

}  // namespace

absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, const SpawnOptions& options) {
  if (argv.empty() || argv[0].empty()) return absl::InvalidArgumentError("empty command");
  // Everything the child needs is prepared before fork: after it, the child (a copy of a
  // multi-threaded process) may only make async-signal-safe calls.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    if (options.env.count(entry.substr(0, entry.find('='))) == 0) env_strings.push_back(entry);
  }
  for (const auto& [key, value] : options.env) env_strings.push_back(key + "=" + value);
  std::vector<char*> env_ptrs;
  for (std::string& s : env_strings) env_ptrs.push_back(s.data());
  env_ptrs.push_back(nullptr);
  const std::string program = options.program.empty() ? argv[0] : options.program;
  std::vector<std::string> args = argv;
  std::vector<char*> arg_ptrs;
  for (std::string& s : args) arg_ptrs.push_back(s.data());
  arg_ptrs.push_back(nullptr);

  // Descriptors the child puts on 0, 1, 2 (-1: keep what it inherits).
  int in_fd = -1, out_fd = -1, err_fd = -1;
  auto close_all = [&] {
    for (int fd : {in_fd, out_fd, err_fd}) {
      if (fd >= 0) close(fd);
    }
  };
  if (!options.stdout_path.empty()) {
    out_fd = OpenForAppend(options.stdout_path);
    if (out_fd < 0) {
      return absl::InternalError(
          absl::StrCat(options.stdout_path, ": cannot open: ", std::strerror(errno)));
    }
  }
  if (!options.stderr_path.empty()) {
    err_fd = options.stderr_path == options.stdout_path ? dup(out_fd)
                                                        : OpenForAppend(options.stderr_path);
    if (err_fd < 0) {
      int saved = errno;
      close_all();
      return absl::InternalError(
          absl::StrCat(options.stderr_path, ": cannot open: ", std::strerror(saved)));
    }
  }
  if (options.stdin_from_null) in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int error_pipe[2];
  if ((options.stdin_from_null && in_fd < 0) || pipe2(error_pipe, O_CLOEXEC) != 0) {
    int saved = errno;
    close_all();
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(saved)));
  }
  long max_fd = sysconf(_SC_OPEN_MAX);
  if (max_fd < 0 || max_fd > 65536) max_fd = 65536;

  pid_t pid = fork();
  if (pid < 0) {
    int saved = errno;
    close_all();
    close(error_pipe[0]);
    close(error_pipe[1]);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(saved)));
  }
  if (pid == 0) {
    if (options.new_session) setsid();
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD, SIGQUIT, SIGUSR1, SIGUSR2}) {
      signal(sig, SIG_DFL);
    }
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_UNBLOCK, &all, nullptr);
    if (in_fd >= 0) dup2(in_fd, STDIN_FILENO);
    if (out_fd >= 0) dup2(out_fd, STDOUT_FILENO);
    if (err_fd >= 0) dup2(err_fd, STDERR_FILENO);
    // Every other descriptor is closed (close_range where the kernel has it: one call).
    const int keep = error_pipe[1];
#ifdef SYS_close_range
    bool closed = keep < 3 ? syscall(SYS_close_range, 3, ~0U, 0) == 0
                           : syscall(SYS_close_range, 3, keep - 1, 0) == 0 &&
                                 syscall(SYS_close_range, keep + 1, ~0U, 0) == 0;
#else
    bool closed = false;
#endif
    if (!closed) {
      for (int fd = 3; fd < max_fd; ++fd) {
        if (fd != keep) close(fd);
      }
    }
    execve(program.c_str(), arg_ptrs.data(), env_ptrs.data());
    int error = errno;
    ssize_t ignored = write(error_pipe[1], &error, sizeof(error));
    (void)ignored;
    _exit(127);
  }
  close_all();
  close(error_pipe[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(error_pipe[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  close(error_pipe[0]);
  if (n == static_cast<ssize_t>(sizeof(child_errno))) {
    waitpid(pid, nullptr, 0);
    return absl::FailedPreconditionError(
        absl::StrCat("cannot run ", program, ": ", std::strerror(child_errno)));
  }
  return pid;
}

ProcessInfo InspectProcess(pid_t pid) {
  ProcessInfo info;
  if (pid <= 0) return info;
  std::ifstream stat_file(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat;
  if (!stat_file || !std::getline(stat_file, stat)) return info;
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses; it ends at the last ')'.
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return info;
  std::vector<std::string> fields =
      absl::StrSplit(stat.substr(close + 1), ' ', absl::SkipWhitespace());
  // fields[0] is field 3 (state); field 22 (starttime) is fields[19].
  if (fields.size() < 20) return info;
  char state = fields[0].empty() ? '?' : fields[0][0];
  info.running = state != 'Z' && state != 'X' && state != 'x';
  absl::SimpleAtoi(fields[19], &info.start_time);
  char buffer[4096];
  ssize_t n = readlink(absl::StrCat("/proc/", pid, "/exe").c_str(), buffer, sizeof(buffer) - 1);
  if (n > 0) {
    absl::string_view exe(buffer, static_cast<size_t>(n));
    // A binary replaced while it runs (a rebuild) reads "<path> (deleted)".
    absl::ConsumeSuffix(&exe, " (deleted)");
    info.executable = std::string(exe);
  }
  return info;
}

bool IsSameProcess(pid_t pid, const std::string& binary, uint64_t start_time) {
  ProcessInfo info = InspectProcess(pid);
  if (!info.running) return false;
  if (start_time != 0 && info.start_time != start_time) return false;
  return info.executable == binary || info.executable == Canonical(binary);
}

bool Reap(pid_t pid, int* wait_status) {
  if (pid <= 0) return false;
  int status = 0;
  pid_t r = waitpid(pid, &status, WNOHANG);
  if (r == pid) {
    if (wait_status != nullptr) *wait_status = status;
    return true;
  }
  return false;
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exit code ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return absl::StrCat("signal ", WTERMSIG(status), " (", strsignal(WTERMSIG(status)), ")");
  }
  return absl::StrCat("wait status ", status);
}

int ExitCodeOf(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

int StopRecordedProcesses(const std::vector<RecordedProcess>& processes, absl::Duration grace,
                          const std::function<void(const std::string&)>& note) {
  std::vector<const RecordedProcess*> alive;
  for (const RecordedProcess& p : processes) {
    Reap(p.pid, nullptr);
    if (IsSameProcess(p.pid, p.binary, p.start_time)) alive.push_back(&p);
  }
  for (const RecordedProcess* p : alive) kill(p->pid, SIGTERM);
  // Once signalled, a process counts as gone only when it is reaped, a zombie or replaced (another
  // start time): its /proc/PID/exe link vanishes early in exit, while it still tears down.
  auto not_gone = [](const RecordedProcess* p) {
    Reap(p->pid, nullptr);
    ProcessInfo info = InspectProcess(p->pid);
    return info.running && (p->start_time == 0 || info.start_time == p->start_time);
  };
  auto still_running = [&alive, &not_gone] {
    std::vector<const RecordedProcess*> running;
    for (const RecordedProcess* p : alive) {
      if (not_gone(p)) running.push_back(p);
    }
    return running;
  };
  absl::Time deadline = absl::Now() + grace;
  std::vector<const RecordedProcess*> running = still_running();
  while (!running.empty() && absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    running = still_running();
  }
  for (const RecordedProcess* p : running) {
    if (note) {
      note(absl::StrCat(p->name, " (pid ", p->pid, ") did not stop within ",
                        absl::FormatDuration(grace), " of SIGTERM: killed"));
    }
    kill(p->pid, SIGKILL);
  }
  absl::Time kill_deadline = absl::Now() + absl::Seconds(10);
  while (!running.empty() && absl::Now() < kill_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::vector<const RecordedProcess*> next;
    for (const RecordedProcess* p : running) {
      if (not_gone(p)) next.push_back(p);
    }
    running = std::move(next);
  }
  return static_cast<int>(alive.size());
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(
    const std::vector<std::string>& argv, const SpawnOptions& options) {
  absl::StatusOr<pid_t> pid = Spawn(argv, options);
  if (!pid.ok()) return pid.status();
  return std::unique_ptr<ChildProcess>(new ChildProcess(*pid));
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(
    const std::vector<std::string>& argv, const std::string& log_path,
    const std::map<std::string, std::string>& extra_env) {
  SpawnOptions options;
  options.env = extra_env;
  options.stdout_path = log_path;
  options.stderr_path = log_path;
  return Start(argv, options);
}

ChildProcess::~ChildProcess() { Stop(); }

void ChildProcess::Signal(int sig) {
  if (!exited_) kill(pid_, sig);
}

bool ChildProcess::Running() {
  if (exited_) return false;
  if (Reap(pid_, &wait_status_)) {
    exited_ = true;
    return false;
  }
  return true;
}

absl::StatusOr<int> ChildProcess::Wait(absl::Duration timeout) {
  if (timeout == absl::InfiniteDuration() && !exited_) {
    int status = 0;
    pid_t r;
    do {
      r = waitpid(pid_, &status, 0);
    } while (r < 0 && errno == EINTR);
    if (r == pid_) {
      exited_ = true;
      wait_status_ = status;
    }
  }
  absl::Time deadline = absl::Now() + timeout;
  while (Running()) {
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("pid ", pid_, " still running"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return ExitCodeOf(wait_status_);
}

int ChildProcess::Stop(absl::Duration grace) {
  if (!Running()) return wait_status_;
  kill(pid_, SIGTERM);
  if (!Wait(grace).ok()) {
    kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    exited_ = true;
    wait_status_ = status;
  }
  return wait_status_;
}

absl::StatusOr<int> PickFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int saved = errno;
    close(fd);
    return absl::InternalError(absl::StrCat("bind 127.0.0.1:0: ", std::strerror(saved)));
  }
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

std::string TailOfFile(const std::string& path, int lines) {
  absl::StatusOr<std::string> text = files::ReadFile(path);
  if (!text.ok() || lines <= 0) return "";
  std::string body(absl::StripTrailingAsciiWhitespace(*text));
  if (body.empty()) return body;
  size_t pos = body.size();
  for (int i = 0; i < lines && pos != std::string::npos && pos > 0; ++i) {
    pos = body.rfind('\n', pos - 1);
  }
  return pos == std::string::npos ? body : body.substr(pos + 1);
}

}  // namespace chord::process
