#include "tools/chordctl/local_prometheus.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/files/file_io.h"
#include "common/status/status_macros.h"

namespace chord::chordctl {
namespace {

namespace fs = std::filesystem;

// True once something accepts TCP connections on 127.0.0.1:port.
bool Listens(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// Spawns `record.argv` and waits until it listens on its port; fills pid and start time.
absl::Status SpawnAndWait(ServiceRecord* record, int port, absl::Duration timeout) {
  ASSIGN_OR_RETURN(pid_t pid, SpawnWithLog(record->argv, record->env, record->log));
  record->pid = pid;
  record->start_time = process::InspectProcess(pid).start_time;
  absl::Time deadline = absl::Now() + timeout;
  while (!Listens(port)) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      return absl::UnavailableError(absl::StrCat("prometheus exited before it listened on port ",
                                                 port, "; last lines of ", record->log, ":\n",
                                                 process::TailOfFile(record->log, 15)));
    }
    if (absl::Now() >= deadline) {
      StopProcesses({record}, absl::Seconds(5));
      return absl::UnavailableError(absl::StrCat(
          "prometheus did not listen on port ", port, " within ", absl::FormatDuration(timeout),
          "; last lines of ", record->log, ":\n", process::TailOfFile(record->log, 15)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::OkStatus();
}

std::string Seconds(absl::Duration d) {
  return absl::StrCat(std::max<int64_t>(1, absl::ToInt64Seconds(d)), "s");
}

}  // namespace

std::string ScrapeJobOf(const std::string& service_name) {
  if (service_name == "expert-buffer") return "chord-expert-buffer";
  if (service_name == "reward") return "chord-reward";
  if (absl::StartsWith(service_name, "rollout-worker-")) return "chord-rollout-worker";
  if (service_name == "learner" || absl::StartsWith(service_name, "learner-")) {
    return "chord-learner";
  }
  return "";
}

std::string PrometheusConfig(const ClusterRecord& record, const std::string& rules_file,
                             absl::Duration scrape_interval, int self_port) {
  // job name -> "      - targets: [...]" blocks, in the order the jobs first appear.
  std::vector<std::string> jobs;
  std::map<std::string, std::string> targets;
  auto add = [&](const std::string& job, int port, const std::string& service) {
    if (targets.count(job) == 0) jobs.push_back(job);
    absl::StrAppend(&targets[job], "      - targets: ['127.0.0.1:", port,
                    "']\n        labels: {chord_service: '", service, "'}\n");
  };
  for (const ServiceRecord& s : record.services) {
    if (s.metrics_port <= 0) continue;
    std::string job = s.name == kPrometheusServiceName ? "prometheus" : ScrapeJobOf(s.name);
    if (!job.empty()) add(job, s.metrics_port, s.name);
  }
  if (self_port > 0 && targets.count("prometheus") == 0) {
    add("prometheus", self_port, kPrometheusServiceName);
  }
  std::string interval = Seconds(scrape_interval);
  std::string out =
      absl::StrCat("# Written by `chordctl up --prometheus` for the local cluster in ",
                   record.state_dir, "\n# (docs/observability.md); rewritten by each `up`.\n",
                   "global:\n", "  scrape_interval: ", interval, "\n  scrape_timeout: ", interval,
                   "\n  evaluation_interval: ", interval, "\nrule_files:\n  - '", rules_file, "'\n",
                   "scrape_configs:\n");
  for (const std::string& job : jobs) {
    absl::StrAppend(&out, "  - job_name: ", job, "\n    static_configs:\n", targets[job]);
  }
  return out;
}

absl::StatusOr<std::string> FindPrometheusBinary(const std::string& configured) {
  if (!configured.empty()) {
    if (access(configured.c_str(), X_OK) != 0) {
      return absl::NotFoundError(
          absl::StrCat("--prometheus-binary ", configured, ": not found or not executable"));
    }
    std::error_code ec;
    return fs::absolute(configured, ec).lexically_normal().string();
  }
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "", ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/prometheus");
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return absl::NotFoundError(
      "no `prometheus` on $PATH (install Debian's `prometheus` package, or pass "
      "--prometheus-binary)");
}

absl::StatusOr<ServiceRecord> StartLocalPrometheus(const ClusterRecord& record,
                                                   const LocalPrometheusOptions& options) {
  std::error_code ec;
  std::string rules = fs::absolute(options.rules_file, ec).lexically_normal().string();
  if (!fs::is_regular_file(rules, ec)) {
    return absl::NotFoundError(absl::StrCat(
        "--prometheus-rules ", rules, ": not found (deploy/prometheus/rules.yml of the source)"));
  }
  const std::string dir = record.state_dir + "/prometheus";
  fs::create_directories(dir + "/data", ec);
  if (ec)
    return absl::FailedPreconditionError(absl::StrCat(dir, ": cannot create: ", ec.message()));
  ASSIGN_OR_RETURN(int port, process::PickFreePort());
  const std::string config = dir + "/prometheus.yml";
  RETURN_IF_ERROR(files::WriteFileAtomically(
      config, PrometheusConfig(record, rules, options.scrape_interval, port)));

  ServiceRecord prometheus;
  prometheus.name = kPrometheusServiceName;
  prometheus.binary = fs::canonical(options.binary, ec).string();
  if (ec) prometheus.binary = options.binary;
  prometheus.address = absl::StrCat("127.0.0.1:", port);
  prometheus.metrics_port = port;
  prometheus.log = record.state_dir + "/logs/prometheus.log";
  prometheus.argv = {prometheus.binary, "--config.file=" + config,
                     "--storage.tsdb.path=" + dir + "/data",
                     "--web.listen-address=" + prometheus.address};
  RETURN_IF_ERROR(SpawnAndWait(&prometheus, port, options.start_timeout));
  return prometheus;
}

absl::StatusOr<ServiceRecord> RestartLocalPrometheus(const ServiceRecord& previous,
                                                     absl::Duration start_timeout) {
  ServiceRecord prometheus = previous;
  RETURN_IF_ERROR(SpawnAndWait(&prometheus, prometheus.metrics_port, start_timeout));
  return prometheus;
}

}  // namespace chord::chordctl
