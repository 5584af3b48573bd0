#include "tools/chordctl/local_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/files/file_io.h"
#include "common/rpc/channel.h"
#include "common/status/status_macros.h"
#include "nlohmann/json.hpp"
#include "tools/chordctl/local_prometheus.h"

namespace chord::chordctl {
namespace {

namespace fs = std::filesystem;
using process::DescribeWaitStatus;
using process::InspectProcess;
using process::IsSameProcess;
using process::ProcessInfo;
using process::Reap;
using process::TailOfFile;

constexpr char kExpertBuffer[] = "chord-expert-buffer";
constexpr char kReward[] = "chord-reward";
constexpr char kRolloutWorker[] = "chord-rollout-worker";
constexpr char kLearner[] = "chord-learner";
constexpr char kModelTool[] = "chord-model-tool";

bool IsLearner(const ServiceRecord& service) {
  return service.name == "learner" || absl::StartsWith(service.name, "learner-");
}

std::string Canonical(const std::string& path) {
  std::error_code ec;
  fs::path canonical = fs::canonical(path, ec);
  return ec ? fs::absolute(path, ec).lexically_normal().string() : canonical.string();
}

// `dirs` made absolute; the working directory when empty.
std::vector<std::string> AbsoluteRoots(const std::vector<std::string>& dirs) {
  std::error_code ec;
  if (dirs.empty()) return {fs::current_path(ec).string()};
  std::vector<std::string> absolute;
  for (const std::string& dir : dirs) {
    absolute.push_back(fs::absolute(dir, ec).lexically_normal().string());
  }
  return absolute;
}

// Replaces (or appends) "--flag=value" in argv.
void SetFlag(std::vector<std::string>* argv, const std::string& flag, const std::string& value) {
  std::string prefix = flag + "=";
  for (std::string& arg : *argv) {
    if (absl::StartsWith(arg, prefix)) {
      arg = prefix + value;
      return;
    }
  }
  argv->push_back(prefix + value);
}

int PortOf(const std::string& address) {
  int port = 0;
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) return 0;
  return absl::SimpleAtoi(address.substr(colon + 1), &port) ? port : 0;
}

}  // namespace

std::string ClusterRecord::LearnerAddress() const {
  for (const ServiceRecord& service : services) {
    if (service.name == "learner" || service.name == "learner-0") return service.address;
  }
  return "";
}

const ServiceRecord* ClusterRecord::Find(const std::string& name) const {
  for (const ServiceRecord& service : services) {
    if (service.name == name) return &service;
  }
  return nullptr;
}

std::string ClusterRecordPath(const std::string& state_dir) { return state_dir + "/cluster.json"; }

std::string ClusterRecordToJson(const ClusterRecord& record) {
  nlohmann::json services = nlohmann::json::array();
  for (const ServiceRecord& s : record.services) {
    services.push_back({{"name", s.name},
                        {"binary", s.binary},
                        {"pid", s.pid},
                        {"start_time", s.start_time},
                        {"address", s.address},
                        {"metrics_port", s.metrics_port},
                        {"log", s.log},
                        {"argv", s.argv},
                        {"env", s.env}});
  }
  nlohmann::json out = {{"state_dir", record.state_dir},
                        {"created_unix_ms", record.created_unix_ms},
                        {"learner_address", record.LearnerAddress()},
                        {"supervisor", nullptr},
                        {"services", services}};
  if (record.supervisor_pid > 0) {
    out["supervisor"] = {{"pid", record.supervisor_pid},
                         {"start_time", record.supervisor_start_time},
                         {"binary", record.supervisor_binary}};
  }
  return out.dump(2) + "\n";
}

absl::StatusOr<ClusterRecord> ClusterRecordFromJson(const std::string& text,
                                                    const std::string& source) {
  ClusterRecord record;
  try {
    nlohmann::json json = nlohmann::json::parse(text);
    record.state_dir = json.at("state_dir").get<std::string>();
    record.created_unix_ms = json.value("created_unix_ms", int64_t{0});
    if (json.contains("supervisor") && json["supervisor"].is_object()) {
      const nlohmann::json& sup = json["supervisor"];
      record.supervisor_pid = sup.at("pid").get<pid_t>();
      record.supervisor_start_time = sup.value("start_time", uint64_t{0});
      record.supervisor_binary = sup.value("binary", std::string());
    }
    for (const nlohmann::json& s : json.at("services")) {
      ServiceRecord service;
      service.name = s.at("name").get<std::string>();
      service.binary = s.at("binary").get<std::string>();
      service.pid = s.at("pid").get<pid_t>();
      service.start_time = s.value("start_time", uint64_t{0});
      service.address = s.value("address", std::string());
      service.metrics_port = s.value("metrics_port", -1);
      service.log = s.value("log", std::string());
      if (s.contains("argv")) service.argv = s["argv"].get<std::vector<std::string>>();
      if (s.contains("env")) service.env = s["env"].get<std::map<std::string, std::string>>();
      if (service.pid <= 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": services[", service.name, "].pid: must be > 0"));
      }
      record.services.push_back(std::move(service));
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not a cluster record: ", e.what()));
  }
  return record;
}

absl::StatusOr<ClusterRecord> ReadClusterRecord(const std::string& state_dir) {
  std::string path = ClusterRecordPath(state_dir);
  ASSIGN_OR_RETURN(std::string text, files::ReadFile(path));
  return ClusterRecordFromJson(text, path);
}

absl::Status WriteClusterRecord(const ClusterRecord& record) {
  return files::WriteFileAtomically(ClusterRecordPath(record.state_dir),
                                    ClusterRecordToJson(record));
}

std::string DefaultStateDir() {
  const char* env = std::getenv("CHORD_STATE_DIR");
  return env != nullptr && *env != '\0' ? std::string(env) : std::string(".chord");
}

std::string UserTokenPath(const std::string& state_dir) { return state_dir + "/tokens/user.token"; }

std::string InternalTokenPath(const std::string& state_dir) {
  return state_dir + "/tokens/internal.token";
}

absl::Status EnsureTokenFile(const std::string& path) {
  absl::StatusOr<std::string> existing = files::ReadFile(path);
  if (existing.ok() && !absl::StripAsciiWhitespace(*existing).empty()) {
    chmod(path.c_str(), 0600);
    return absl::OkStatus();
  }
  std::error_code ec;
  const std::string dir = fs::path(path).parent_path().string();
  fs::create_directories(dir, ec);
  if (ec || chmod(dir.c_str(), 0700) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(dir, ": cannot create a private directory"));
  }
  unsigned char random[32];
  std::ifstream urandom("/dev/urandom", std::ios::binary);
  if (!urandom.read(reinterpret_cast<char*>(random), sizeof(random))) {
    return absl::FailedPreconditionError("/dev/urandom: cannot be read (no token generated)");
  }
  std::string token;
  for (unsigned char byte : random) absl::StrAppend(&token, absl::Hex(byte, absl::kZeroPad2));
  // Created 0600 under a temporary name, then renamed: never readable by others, never partial.
  const std::string temp = path + ".tmp";
  int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(absl::StrCat(temp, ": ", std::strerror(errno)));
  }
  token += "\n";
  bool written = fchmod(fd, 0600) == 0 &&
                 write(fd, token.data(), token.size()) == static_cast<ssize_t>(token.size());
  written = close(fd) == 0 && written;
  if (!written || rename(temp.c_str(), path.c_str()) != 0) {
    unlink(temp.c_str());
    return absl::FailedPreconditionError(absl::StrCat(path, ": cannot write the token"));
  }
  return absl::OkStatus();
}

absl::StatusOr<pid_t> SpawnWithLog(const std::vector<std::string>& argv,
                                   const std::map<std::string, std::string>& env,
                                   const std::string& log_path) {
  process::SpawnOptions options;
  options.env = env;
  options.stdout_path = log_path;
  options.stderr_path = log_path;
  options.stdin_from_null = true;
  options.new_session = true;
  return process::Spawn(argv, options);
}

process::RecordedProcess AsRecordedProcess(const ServiceRecord& service) {
  return {service.name, service.pid, service.binary, service.start_time};
}

int StopProcesses(const std::vector<const ServiceRecord*>& services, absl::Duration grace,
                  const std::function<void(const std::string&)>& note) {
  std::vector<process::RecordedProcess> processes;
  for (const ServiceRecord* service : services) processes.push_back(AsRecordedProcess(*service));
  return process::StopRecordedProcesses(processes, grace, note);
}

// --- LocalCluster ---------------------------------------------------------------------------

absl::Status LocalCluster::WriteTinyModel(const std::string& model_dir) const {
  // The model library is chord-model-tool's (chordctl links no LibTorch).
  const std::string tool = absl::StrCat(options_.bin_dir, "/", kModelTool);
  const std::string log = LogPath("model-tool");
  process::SpawnOptions spawn;
  spawn.stdout_path = log;
  spawn.stderr_path = log;
  spawn.stdin_from_null = true;
  absl::StatusOr<std::unique_ptr<process::ChildProcess>> child = process::ChildProcess::Start(
      {tool, "init-model", "--preset", "tiny", "--out", model_dir, "--force"}, spawn);
  if (!child.ok()) {
    return absl::Status(child.status().code(),
                        absl::StrCat("writing the tiny model: ", child.status().message(),
                                     " (build it, e.g. `cmake --build build --target ", kModelTool,
                                     "`, or pass --bin-dir)"));
  }
  absl::StatusOr<int> code = (*child)->Wait(options_.start_timeout);
  if (!code.ok() || *code != 0) {
    return absl::InternalError(absl::StrCat(
        kModelTool, " init-model failed (",
        code.ok() ? absl::StrCat("exit code ", *code) : std::string(code.status().message()),
        "); last lines of ", log, ":\n", TailOfFile(log, 15)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<LocalCluster>> LocalCluster::Start(
    const LocalClusterOptions& options, bool detached) {
  if (options.state_dir.empty()) return absl::InvalidArgumentError("--state-dir: empty");
  if (options.rollout_workers < 1) {
    return absl::InvalidArgumentError("--rollout-workers: must be >= 1");
  }
  if (options.learner_ranks < 1) return absl::InvalidArgumentError("--learner-ranks: must be >= 1");
  if (options.torch_threads < 0) return absl::InvalidArgumentError("--torch-threads: must be >= 0");
  std::unique_ptr<LocalCluster> cluster(new LocalCluster(options));
  std::error_code ec;
  cluster->options_.state_dir = fs::absolute(options.state_dir, ec).lexically_normal().string();
  while (cluster->options_.state_dir.size() > 1 && cluster->options_.state_dir.back() == '/') {
    cluster->options_.state_dir.pop_back();
  }
  cluster->record_.state_dir = cluster->options_.state_dir;
  absl::Status started = cluster->StartAll(detached);
  if (!started.ok()) {
    cluster->Stop();
    return started;
  }
  return cluster;
}

LocalCluster::~LocalCluster() {
  if (!stopped_) Stop();
}

void LocalCluster::Note(const std::string& line) const {
  if (options_.progress) options_.progress(line);
}

std::string LocalCluster::PortFile(const std::string& name, bool metrics) const {
  return absl::StrCat(options_.state_dir, "/run/", name, metrics ? ".metrics_port" : ".port");
}

std::string LocalCluster::LogPath(const std::string& name) const {
  return absl::StrCat(options_.state_dir, "/logs/", name, ".log");
}

absl::Status LocalCluster::WriteRecord() {
  absl::Status written = WriteClusterRecord(record_);
  if (written.ok()) record_written_ = true;
  return written;
}

absl::Status LocalCluster::StartAll(bool detached) {
  const std::string& dir = options_.state_dir;
  std::error_code ec;
  for (const char* sub : {"", "/logs", "/run", "/learner", "/expert-buffer"}) {
    fs::create_directories(dir + sub, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat(dir, sub, ": cannot create: ", ec.message()));
    }
  }

  // One cluster per state directory.
  absl::StatusOr<ClusterRecord> existing = ReadClusterRecord(dir);
  if (existing.ok()) {
    std::vector<std::string> alive;
    for (const ServiceRecord& s : existing->services) {
      if (IsSameProcess(s.pid, s.binary, s.start_time)) {
        alive.push_back(absl::StrCat(s.name, " pid ", s.pid));
      }
    }
    if (existing->supervisor_pid > 0 &&
        IsSameProcess(existing->supervisor_pid, existing->supervisor_binary,
                      existing->supervisor_start_time)) {
      alive.push_back(absl::StrCat("chordctl up pid ", existing->supervisor_pid));
    }
    if (!alive.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "a local cluster is already running from ", dir, " (", absl::StrJoin(alive, ", "),
          "); stop it with `chordctl down --state-dir ", dir, "`"));
    }
    Note(absl::StrCat("replacing the stale ", ClusterRecordPath(dir), " (its processes are gone)"));
  } else if (existing.status().code() != absl::StatusCode::kNotFound) {
    Note(absl::StrCat("replacing the unreadable ", ClusterRecordPath(dir), ": ",
                      existing.status().message()));
  }
  fs::remove(ClusterRecordPath(dir), ec);

  for (const char* binary : {kExpertBuffer, kReward, kRolloutWorker, kLearner}) {
    std::string path = absl::StrCat(options_.bin_dir, "/", binary);
    if (access(path.c_str(), X_OK) != 0) {
      return absl::NotFoundError(absl::StrCat(
          path, ": not found or not executable (build it, e.g. `cmake --build build --target ",
          binary, "`, or pass --bin-dir)"));
    }
  }

  std::string model_dir = options_.model_dir;
  if (model_dir.empty()) {
    model_dir = dir + "/model";
    if (!fs::exists(model_dir + "/config.json", ec)) {
      RETURN_IF_ERROR(WriteTinyModel(model_dir));
      Note(absl::StrCat("wrote the tiny model to ", model_dir));
    }
  } else {
    model_dir = fs::absolute(model_dir, ec).lexically_normal().string();
    if (!fs::exists(model_dir + "/config.json", ec)) {
      return absl::NotFoundError(absl::StrCat("--model ", model_dir,
                                              ": no config.json (a Hugging Face model folder; "
                                              "`chordctl init-model --out DIR` writes one)"));
    }
  }

  // The services require these tokens; chordctl reads them back for the local cluster.
  for (const std::string& token : {UserTokenPath(dir), InternalTokenPath(dir)}) {
    RETURN_IF_ERROR(EnsureTokenFile(token));
  }

  // The learner may always read the workers' model (LearnerLaunches adds it to --model_root).
  options_.model_dir = model_dir;

  record_.created_unix_ms = absl::ToUnixMillis(absl::Now());
  if (!detached) {
    record_.supervisor_pid = getpid();
    ProcessInfo self = InspectProcess(getpid());
    record_.supervisor_start_time = self.start_time;
    record_.supervisor_binary = self.executable;
  }

  Launch expert_buffer;
  expert_buffer.name = "expert-buffer";
  expert_buffer.binary = kExpertBuffer;
  expert_buffer.args = {"--state_dir=" + dir + "/expert-buffer",
                        "--data_root=" + absl::StrJoin(AbsoluteRoots(options_.data_roots), ",")};
  Launch reward;
  reward.name = "reward";
  reward.binary = kReward;
  absl::Status status = StartGroup({expert_buffer, reward});
  if (!status.ok()) return status;
  status = StartLearnerAndWorkers(model_dir);
  if (!status.ok()) return status;
  if (!options_.prometheus_binary.empty()) {
    LocalPrometheusOptions prometheus;
    prometheus.binary = options_.prometheus_binary;
    prometheus.rules_file = options_.prometheus_rules;
    prometheus.scrape_interval = options_.scrape_interval;
    prometheus.start_timeout = options_.start_timeout;
    ASSIGN_OR_RETURN(ServiceRecord started, StartLocalPrometheus(record_, prometheus));
    record_.services.push_back(std::move(started));
    Note(absl::StrCat("started prometheus (pid ", record_.services.back().pid, ") on http://",
                      record_.services.back().address));
  }
  return WriteRecord();
}

absl::Status LocalCluster::StartLearnerAndWorkers(const std::string& model_dir) {
  const std::string threads = absl::StrCat("--torch_threads=", options_.torch_threads);
  constexpr int kAttempts = 3;
  auto pick = options_.pick_port ? options_.pick_port : process::PickFreePort;
  for (int attempt = 1;; ++attempt) {
    ASSIGN_OR_RETURN(int learner_port, pick());
    int master_port = 0;
    if (options_.learner_ranks > 1) {
      ASSIGN_OR_RETURN(int picked, pick());
      master_port = picked;
    }
    std::vector<Launch> workers;
    for (int i = 0; i < options_.rollout_workers; ++i) {
      Launch worker;
      worker.name = absl::StrCat("rollout-worker-", i);
      worker.binary = kRolloutWorker;
      worker.args = {"--model=" + model_dir,
                     absl::StrCat("--weight_source=127.0.0.1:", learner_port), threads};
      worker.args.insert(worker.args.end(), options_.worker_args.begin(),
                         options_.worker_args.end());
      workers.push_back(std::move(worker));
    }
    absl::Status status = StartGroup(workers);
    if (!status.ok()) return status;
    std::vector<std::string> worker_addresses;
    for (const ServiceRecord& s : record_.services) {
      if (absl::StartsWith(s.name, "rollout-worker-")) worker_addresses.push_back(s.address);
    }
    status = StartGroup(LearnerLaunches(learner_port, master_port, worker_addresses, {}));
    if (status.ok()) return status;
    if (status.code() != absl::StatusCode::kAborted || attempt == kAttempts) return status;
    Note(absl::StrCat("the learner could not listen on its picked port(s) (taken meanwhile); ",
                      "starting the rollout workers and the learner again (attempt ", attempt + 1,
                      " of ", kAttempts, ")"));
    StopWhere([](const ServiceRecord& s) {
      return IsLearner(s) || absl::StartsWith(s.name, "rollout-worker-");
    });
  }
}

std::vector<LocalCluster::Launch> LocalCluster::LearnerLaunches(
    int grpc_port, int master_port, const std::vector<std::string>& worker_addresses,
    const std::vector<const ServiceRecord*>& previous) const {
  const ServiceRecord* expert_buffer = record_.Find("expert-buffer");
  const ServiceRecord* reward = record_.Find("reward");
  std::vector<Launch> launches;
  const int ranks = options_.learner_ranks;
  for (int rank = 0; rank < ranks; ++rank) {
    Launch learner;
    learner.name = ranks == 1 ? "learner" : absl::StrCat("learner-", rank);
    learner.binary = kLearner;
    learner.args = {absl::StrCat("--torch_threads=", options_.torch_threads)};
    if (rank == 0) {
      learner.args.push_back("--state_dir=" + options_.state_dir + "/learner");
      std::vector<std::string> model_roots = AbsoluteRoots(options_.model_roots);
      if (!options_.model_dir.empty()) model_roots.push_back(options_.model_dir);
      learner.args.push_back("--model_root=" + absl::StrJoin(model_roots, ","));
      learner.args.push_back("--expert_buffer=" + (expert_buffer ? expert_buffer->address : ""));
      learner.args.push_back("--reward=" + (reward ? reward->address : ""));
      learner.args.push_back("--rollout_workers=" + absl::StrJoin(worker_addresses, ","));
      learner.port = grpc_port;
    }
    for (const ServiceRecord* p : previous) {
      if (p->name == learner.name) {
        learner.port = PortOf(p->address);
        learner.metrics_port = std::max(0, p->metrics_port);
      }
    }
    learner.args.insert(learner.args.end(), options_.learner_args.begin(),
                        options_.learner_args.end());
    learner.env = {{"RANK", absl::StrCat(rank)},
                   {"LOCAL_RANK", absl::StrCat(rank)},
                   {"WORLD_SIZE", absl::StrCat(ranks)}};
    if (ranks > 1) {
      learner.env["MASTER_ADDR"] = "127.0.0.1";
      learner.env["MASTER_PORT"] = absl::StrCat(master_port);
    }
    launches.push_back(std::move(learner));
  }
  return launches;
}

absl::Status LocalCluster::StartGroup(const std::vector<Launch>& launches) {
  std::vector<size_t> indices;
  for (const Launch& launch : launches) {
    ServiceRecord s;
    s.name = launch.name;
    s.binary = Canonical(absl::StrCat(options_.bin_dir, "/", launch.binary));
    s.log = LogPath(launch.name);
    s.argv = {s.binary,
              "--host=127.0.0.1",
              absl::StrCat("--port=", launch.port),
              "--port_file=" + PortFile(launch.name, false),
              "--metrics_host=127.0.0.1",
              absl::StrCat("--metrics_port=", launch.metrics_port),
              "--metrics_port_file=" + PortFile(launch.name, true),
              "--user_token_file=" + UserTokenPath(options_.state_dir),
              "--internal_token_file=" + InternalTokenPath(options_.state_dir)};
    s.argv.insert(s.argv.end(), launch.args.begin(), launch.args.end());
    s.env = launch.env;
    s.env["OMP_WAIT_POLICY"] = "PASSIVE";
    std::error_code ec;
    fs::remove(PortFile(s.name, false), ec);
    fs::remove(PortFile(s.name, true), ec);
    ASSIGN_OR_RETURN(pid_t pid, SpawnWithLog(s.argv, s.env, s.log));
    s.pid = pid;
    s.start_time = InspectProcess(s.pid).start_time;
    record_.services.push_back(std::move(s));
    indices.push_back(record_.services.size() - 1);
  }
  absl::Time deadline = absl::Now() + options_.start_timeout;
  for (size_t index : indices) {
    ServiceRecord& s = record_.services[index];
    // Port files: written once the server listens.
    int ports[2] = {0, 0};
    for (int which = 0; which < 2; ++which) {
      const std::string file = PortFile(s.name, which == 1);
      while (true) {
        absl::StatusOr<std::string> text = files::ReadFile(file);
        if (text.ok() && absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &ports[which]) &&
            ports[which] > 0) {
          break;
        }
        int wait_status = 0;
        if (Reap(s.pid, &wait_status)) {
          std::string tail = TailOfFile(s.log, 15);
          std::string message =
              absl::StrCat(s.name, " exited (", DescribeWaitStatus(wait_status),
                           ") before it served; last lines of ", s.log, ":\n", tail);
          // A port picked up front and taken meanwhile: the caller may retry with new ports.
          bool port_taken = absl::StrContains(absl::AsciiStrToLower(tail), "in use");
          return port_taken ? absl::AbortedError(message) : absl::UnavailableError(message);
        }
        if (options_.should_stop && options_.should_stop()) {
          return absl::CancelledError("interrupted while the services were starting");
        }
        if (absl::Now() >= deadline) {
          return absl::DeadlineExceededError(
              absl::StrCat(s.name, " wrote no port to ", file, " within ",
                           absl::FormatDuration(options_.start_timeout), "; last lines of ", s.log,
                           ":\n", TailOfFile(s.log, 15)));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
      }
    }
    s.address = absl::StrCat("127.0.0.1:", ports[0]);
    s.metrics_port = ports[1];
    // Pin the ports chosen, so that a restart comes back on the same ones.
    SetFlag(&s.argv, "--port", absl::StrCat(ports[0]));
    SetFlag(&s.argv, "--metrics_port", absl::StrCat(ports[1]));
    absl::Duration left = std::max(deadline - absl::Now(), absl::Seconds(1));
    absl::Status serving =
        rpc::WaitForServing(rpc::MakeChannel(s.address, rpc::ClientOptions()), s.address, left);
    if (!serving.ok()) {
      return absl::Status(serving.code(),
                          absl::StrCat(s.name, ": ", serving.message(), "; last lines of ", s.log,
                                       ":\n", TailOfFile(s.log, 15)));
    }
    Note(absl::StrCat("started ", s.name, " (pid ", s.pid, ") on ", s.address));
  }
  return absl::OkStatus();
}

void LocalCluster::StopWhere(const std::function<bool(const ServiceRecord&)>& select) {
  std::vector<const ServiceRecord*> learners, others;
  for (const ServiceRecord& s : record_.services) {
    if (!select(s)) continue;
    (IsLearner(s) ? learners : others).push_back(&s);
  }
  auto note = [this](const std::string& line) { Note(line); };
  StopProcesses(learners, options_.stop_grace, note);
  StopProcesses(others, options_.stop_grace, note);
  std::vector<ServiceRecord> kept;
  for (ServiceRecord& s : record_.services) {
    if (!select(s)) kept.push_back(std::move(s));
  }
  record_.services = std::move(kept);
}

void LocalCluster::Stop() {
  if (stopped_) return;
  stopped_ = true;
  StopWhere([](const ServiceRecord&) { return true; });
  // Remove cluster.json only when this cluster wrote it (a refused start leaves the running
  // cluster's record alone).
  absl::StatusOr<ClusterRecord> on_disk = ReadClusterRecord(options_.state_dir);
  if (record_written_ && on_disk.ok() && on_disk->created_unix_ms == record_.created_unix_ms) {
    std::error_code ec;
    fs::remove(ClusterRecordPath(options_.state_dir), ec);
  }
}

void LocalCluster::Detach() { stopped_ = true; }

absl::Status LocalCluster::RestartLearnerRanks() {
  std::vector<ServiceRecord> previous_records;
  std::vector<std::string> worker_addresses;
  for (const ServiceRecord& s : record_.services) {
    if (IsLearner(s)) previous_records.push_back(s);
    if (absl::StartsWith(s.name, "rollout-worker-")) worker_addresses.push_back(s.address);
  }
  std::vector<const ServiceRecord*> previous;
  for (const ServiceRecord& s : previous_records) previous.push_back(&s);
  StopWhere(IsLearner);
  int master_port = 0;
  if (options_.learner_ranks > 1) {
    ASSIGN_OR_RETURN(int picked, process::PickFreePort());
    master_port = picked;
  }
  int grpc_port = 0;
  for (const ServiceRecord* p : previous) {
    if (p->name == "learner" || p->name == "learner-0") grpc_port = PortOf(p->address);
  }
  return StartGroup(LearnerLaunches(grpc_port, master_port, worker_addresses, previous));
}

absl::Status LocalCluster::RestartService(ServiceRecord* service) {
  ServiceRecord s = *service;
  record_.services.erase(record_.services.begin() + (service - record_.services.data()));
  if (s.name == kPrometheusServiceName) {
    ASSIGN_OR_RETURN(ServiceRecord restarted, RestartLocalPrometheus(s, options_.start_timeout));
    record_.services.push_back(std::move(restarted));
    return absl::OkStatus();
  }
  Launch launch;
  launch.name = s.name;
  launch.binary = fs::path(s.binary).filename().string();
  launch.port = PortOf(s.address);
  launch.metrics_port = std::max(0, s.metrics_port);
  // The service's own flags: everything after the shared host/port flags.
  for (size_t i = 7; i < s.argv.size(); ++i) launch.args.push_back(s.argv[i]);
  launch.env = s.env;
  launch.env.erase("OMP_WAIT_POLICY");
  return StartGroup({launch});
}

absl::Status LocalCluster::Supervise(const std::function<bool()>& should_stop, int max_restarts) {
  int restarts = 0;
  while (!should_stop()) {
    for (size_t i = 0; i < record_.services.size(); ++i) {
      ServiceRecord& s = record_.services[i];
      int wait_status = 0;
      if (!Reap(s.pid, &wait_status)) continue;
      std::string what =
          absl::StrCat(s.name, " (pid ", s.pid, ") exited with ", DescribeWaitStatus(wait_status),
                       "; last lines of ", s.log, ":\n", TailOfFile(s.log, 10));
      if (restarts >= max_restarts) {
        return absl::UnavailableError(absl::StrCat(what, "\nnot restarted: ", restarts,
                                                   " restart(s) already (--max-restarts)"));
      }
      ++restarts;
      Note(absl::StrCat(what, "\nrestarting ",
                        IsLearner(s) ? std::string("the learner rank(s)") : s.name,
                        " on the same port(s) (restart ", restarts, " of ", max_restarts, ")"));
      RETURN_IF_ERROR(IsLearner(s) ? RestartLearnerRanks() : RestartService(&s));
      RETURN_IF_ERROR(WriteRecord());
      break;  // the records moved: scan again
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return absl::OkStatus();
}

}  // namespace chord::chordctl
