#pragma once

// The local runner behind `chordctl up` / `chordctl down`: starts chord-expert-buffer,
// chord-reward, N chord-rollout-worker and the chord-learner rank(s) as child processes on
// 127.0.0.1 with one state directory, records them in <state-dir>/cluster.json, and stops them by
// process id.
//
// State directory layout:
//   cluster.json             what runs (written atomically once every service is SERVING)
//   logs/<service>.log       each process's stdout and stderr (appended across restarts)
//   run/<service>.port       port files (--port_file, --metrics_port_file)
//   learner/                 the learner's --state_dir (job store, job outputs, checkpoints)
//   expert-buffer/           the expert buffer's --state_dir (datasets it serves again on restart)
//   model/                   the default model (the tiny preset, written when missing)
//   prometheus/              `up --prometheus`: its prometheus.yml and TSDB (local_prometheus.h)
//
// Start order. The learner needs the rollout workers' addresses when it starts, and the workers
// need the learner's WeightService address: the learner's gRPC port is picked free up front
// (bind to port 0, read it, close), the workers start with --weight_source pointing there and
// report their own ports through port files, then the learner starts on the picked port with
// --rollout_workers set. A picked port can be taken by another process in between: the learner
// then fails to listen, and the workers and the learner are started again with a new port (up to
// 3 attempts). For several learner ranks the c10d rendezvous port (MASTER_PORT) is picked the same
// way. Every other port is chosen by the kernel (--port 0).
//
// Every child runs in its own session (a Ctrl-C in the terminal reaches only chordctl, which then
// stops the children in order), with stdin from /dev/null, OMP_WAIT_POLICY=PASSIVE (what the
// LibTorch binaries would set themselves, common/service/openmp_policy.h; written out so that
// cluster.json shows it) and, for the LibTorch services, --torch_threads.
//
// Stopping: the learner ranks first (a running job is checkpointed and left QUEUED, to resume on
// the next start), then the others; SIGTERM, a grace period, then SIGKILL. A pid is signalled
// only while /proc/<pid> still shows the recorded executable and start time, so a reused pid is
// never hit.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/process/process.h"

namespace chord::chordctl {

// One process of a local cluster, as cluster.json records it.
struct ServiceRecord {
  // "expert-buffer", "reward", "rollout-worker-<i>", "learner" (one rank) or "learner-<rank>".
  std::string name;
  // Absolute path of the executable.
  std::string binary;
  pid_t pid = 0;
  // Start time of the process (/proc/<pid>/stat field 22, clock ticks after boot): together with
  // the executable it tells the recorded process from a later one that reuses the pid.
  uint64_t start_time = 0;
  // "127.0.0.1:<port>" of its gRPC server.
  std::string address;
  // Port of its /metrics endpoint (-1: none).
  int metrics_port = -1;
  // Its log file.
  std::string log;
  // Full command line and the environment variables added to chordctl's (for restarts).
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
};

struct ClusterRecord {
  // Absolute state directory.
  std::string state_dir;
  // The foreground `chordctl up` that supervises the children (0 when started with --detach).
  pid_t supervisor_pid = 0;
  uint64_t supervisor_start_time = 0;
  std::string supervisor_binary;
  int64_t created_unix_ms = 0;
  // In start order: expert-buffer, reward, rollout workers, learner ranks, then "prometheus"
  // (`up --prometheus`).
  std::vector<ServiceRecord> services;

  // The learner rank 0's address ("" when absent).
  std::string LearnerAddress() const;
  // The record named `name`, or nullptr.
  const ServiceRecord* Find(const std::string& name) const;
};

// <state_dir>/cluster.json.
std::string ClusterRecordPath(const std::string& state_dir);

// JSON form of cluster.json (documented in docs/chordctl.md) and its parser (INVALID_ARGUMENT
// naming `source` and the field).
std::string ClusterRecordToJson(const ClusterRecord& record);
absl::StatusOr<ClusterRecord> ClusterRecordFromJson(const std::string& text,
                                                    const std::string& source);

// Reads <state_dir>/cluster.json (NOT_FOUND when absent) / writes it atomically.
absl::StatusOr<ClusterRecord> ReadClusterRecord(const std::string& state_dir);
absl::Status WriteClusterRecord(const ClusterRecord& record);

// The default state directory: $CHORD_STATE_DIR, else ./.chord.
std::string DefaultStateDir();

// The bearer tokens of a local cluster: <state_dir>/tokens/user.token (the JobService) and
// <state_dir>/tokens/internal.token (service-to-service calls). `chordctl up` writes them.
std::string UserTokenPath(const std::string& state_dir);
std::string InternalTokenPath(const std::string& state_dir);

// Writes a fresh random token (256 bits, hex) to `path` with mode 0600 unless the file already
// holds one (a restarted cluster keeps its tokens). FAILED_PRECONDITION naming the path when it
// cannot be written or /dev/urandom cannot be read.
absl::Status EnsureTokenFile(const std::string& path);

// --- Processes (common/process) ---------------------------------------------------------------

// Starts `argv` (argv[0] an absolute path) as every child of chordctl runs: in a new session,
// stdin from /dev/null, stdout and stderr appended to `log_path`, `env` added to the environment
// (process::Spawn). Returns its pid once the exec succeeded.
absl::StatusOr<pid_t> SpawnWithLog(const std::vector<std::string>& argv,
                                   const std::map<std::string, std::string>& env,
                                   const std::string& log_path);

// The record of `service` for process::StopRecordedProcesses.
process::RecordedProcess AsRecordedProcess(const ServiceRecord& service);

// Stops the recorded services that are still the recorded processes
// (process::StopRecordedProcesses). Returns how many were signalled.
int StopProcesses(const std::vector<const ServiceRecord*>& services, absl::Duration grace,
                  const std::function<void(const std::string&)>& note = nullptr);

// --- The cluster --------------------------------------------------------------------------------

struct LocalClusterOptions {
  // State directory (created if missing). Required.
  std::string state_dir;
  // Model folder of the rollout workers (each loads it as weight version 0). Empty (default):
  // <state_dir>/model, written with the tiny preset (by chord-model-tool from the binary folder)
  // when it has no config.json.
  std::string model_dir;
  // Directories the expert buffer reads datasets from (its --data_root) and the learner reads job
  // specs' models from (its --model_root; the model folder above is added). Empty (default): the
  // working directory of the caller.
  std::vector<std::string> data_roots;
  std::vector<std::string> model_roots;
  // Directory of the service binaries. Required (chordctl passes its own directory by default).
  std::string bin_dir;
  // Rollout workers, >= 1. Default 2.
  int rollout_workers = 2;
  // Learner ranks (data-parallel processes), >= 1. Default 1.
  int learner_ranks = 1;
  // --torch_threads of the LibTorch services (learner ranks, rollout workers). Default 1: on a
  // machine whose cores the services share, more threads only contend.
  int torch_threads = 1;
  // Extra flags for every learner rank / every rollout worker. Default none.
  std::vector<std::string> learner_args;
  std::vector<std::string> worker_args;
  // How long each service may take to come up (port file and health SERVING). Default 120 s.
  absl::Duration start_timeout = absl::Seconds(120);
  // Grace period of a stop before SIGKILL. Default 30 s.
  absl::Duration stop_grace = absl::Seconds(30);
  // Picks the ports chosen up front (the learner's gRPC port, the rendezvous port). Default:
  // process::PickFreePort. Tests inject a busy port to exercise the retry.
  std::function<absl::StatusOr<int>()> pick_port;
  // `up --prometheus`: when `prometheus_binary` is set, a local Prometheus (local_prometheus.h)
  // starts after the other services, scrapes them every `scrape_interval` with the rules of
  // `prometheus_rules`, and is recorded, supervised and stopped with them. Default: none.
  std::string prometheus_binary;
  std::string prometheus_rules;
  absl::Duration scrape_interval = absl::Seconds(5);
  // Polled while waiting; returning true aborts the start (CANCELLED). Default: never.
  std::function<bool()> should_stop;
  // Receives one line per notable thing ("started reward (pid 123) on 127.0.0.1:4567").
  std::function<void(const std::string&)> progress;
};

class LocalCluster {
 public:
  // Starts every service, waits until each serves, writes cluster.json (supervisor_pid = this
  // process unless `detached`) and returns the running cluster. On failure every process started
  // so far is stopped and the error names the service, with the tail of its log.
  // FAILED_PRECONDITION when cluster.json shows a cluster still running in the state directory
  // (a stale cluster.json whose processes are gone is replaced); NOT_FOUND naming a missing
  // binary.
  static absl::StatusOr<std::unique_ptr<LocalCluster>> Start(const LocalClusterOptions& options,
                                                             bool detached);

  // Stops every process it still runs (see StopProcesses) and removes cluster.json. Idempotent.
  ~LocalCluster();

  const ClusterRecord& record() const { return record_; }

  // Foreground supervision: returns when `should_stop` (polled about every 200 ms) is true, or
  // after a child died and could not be restarted (the error says which, with its log tail).
  // A child that dies is restarted on the same ports (all learner ranks together, so the job
  // resumes from its last checkpoint), at most `max_restarts` times in all.
  absl::Status Supervise(const std::function<bool()>& should_stop, int max_restarts);

  // Stops everything and removes cluster.json.
  void Stop();

  // Leaves the processes running when this object dies (`chordctl up --detach`).
  void Detach();

 private:
  explicit LocalCluster(LocalClusterOptions options) : options_(std::move(options)) {}

  struct Launch {
    std::string name;
    std::string binary;
    std::vector<std::string> args;  // besides the shared host/port flags
    std::map<std::string, std::string> env;
    int port = 0;          // 0: the kernel picks
    int metrics_port = 0;  // 0: the kernel picks
  };

  absl::Status StartAll(bool detached);
  // Writes the tiny preset into `model_dir` with chord-model-tool (from the binary folder).
  absl::Status WriteTinyModel(const std::string& model_dir) const;
  // Spawns every launch, waits for all their port files and health, appends their records.
  absl::Status StartGroup(const std::vector<Launch>& launches);
  absl::Status StartLearnerAndWorkers(const std::string& model_dir);
  std::vector<Launch> LearnerLaunches(int grpc_port, int master_port,
                                      const std::vector<std::string>& worker_addresses,
                                      const std::vector<const ServiceRecord*>& previous) const;
  absl::Status RestartLearnerRanks();
  absl::Status RestartService(ServiceRecord* service);
  std::string PortFile(const std::string& name, bool metrics) const;
  std::string LogPath(const std::string& name) const;
  absl::Status WriteRecord();
  // Stops the services whose names satisfy `select`, learner ranks first, and forgets them.
  void StopWhere(const std::function<bool(const ServiceRecord&)>& select);
  void Note(const std::string& line) const;

  LocalClusterOptions options_;
  ClusterRecord record_;
  bool stopped_ = false;
  bool record_written_ = false;
};

}  // namespace chord::chordctl
