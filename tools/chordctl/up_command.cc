#include "tools/chordctl/up_command.h"

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "tools/chordctl/local_cluster.h"
#include "tools/chordctl/local_prometheus.h"

namespace chord::chordctl {
namespace {

namespace fs = std::filesystem;

struct UpArgs {
  std::string state_dir;
  std::string model_dir;
  std::vector<std::string> data_roots;
  std::vector<std::string> model_roots;
  std::string bin_dir;
  int rollout_workers = 2;
  int learner_ranks = 1;
  int torch_threads = 1;
  bool detach = false;
  int max_restarts = 3;
  double start_timeout_s = 120;
  double grace_s = 30;
  std::vector<std::string> learner_args;
  std::vector<std::string> worker_args;
  bool prometheus = false;
  std::string prometheus_binary;
  std::string prometheus_rules;
  double scrape_interval_s = 5;
};

struct DownArgs {
  std::string state_dir;
  double grace_s = 30;
};

// The directory of the running chordctl binary (the service binaries are built beside it).
std::string OwnDirectory() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : self.parent_path().string();
}

// Blocks SIGINT, SIGTERM and SIGHUP while alive (threads started meanwhile inherit the mask), so
// that they are collected with sigtimedwait instead of killing chordctl mid-way; restores the
// previous mask when it dies.
class TerminationSignals {
 public:
  TerminationSignals() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set_, &previous_);
  }
  ~TerminationSignals() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }

  // Non-blocking: true once one of the signals arrived.
  bool Received() {
    if (received_ != 0) return true;
    timespec zero{0, 0};
    int sig = sigtimedwait(&set_, nullptr, &zero);
    if (sig > 0) received_ = sig;
    return received_ != 0;
  }
  int received() const { return received_; }

 private:
  sigset_t set_;
  sigset_t previous_;
  int received_ = 0;
};

void PrintCluster(const ClusterRecord& record, std::ostream& out) {
  std::vector<std::vector<std::string>> rows = {{"SERVICE", "PID", "ADDRESS", "METRICS", "LOG"}};
  for (const ServiceRecord& s : record.services) {
    rows.push_back({s.name, absl::StrCat(s.pid), s.address,
                    s.metrics_port > 0
                        ? absl::StrCat("http://127.0.0.1:", s.metrics_port, "/metrics")
                        : std::string("-"),
                    s.log});
  }
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += i + 1 == row.size() ? row[i] : absl::StrFormat("%-*s  ", widths[i], row[i]);
    }
    out << line << "\n";
  }
  const ServiceRecord* reward = record.Find("reward");
  const ServiceRecord* expert_buffer = record.Find("expert-buffer");
  const ServiceRecord* prometheus = record.Find(kPrometheusServiceName);
  if (prometheus != nullptr) {
    out << "\nprometheus: http://" << prometheus->address << " (scrape configuration "
        << record.state_dir << "/prometheus/prometheus.yml)\n";
  }
  out << "\nexport CHORD_LEARNER_ADDRESS=" << record.LearnerAddress() << "\n";
  if (reward != nullptr) out << "export CHORD_REWARD_ADDRESS=" << reward->address << "\n";
  if (expert_buffer != nullptr) {
    out << "export CHORD_EXPERT_BUFFER_ADDRESS=" << expert_buffer->address << "\n";
  }
  out << std::flush;
}

void RunUp(const UpArgs& args, CliContext& context) {
  LocalClusterOptions options;
  options.state_dir = args.state_dir.empty() ? DefaultStateDir() : args.state_dir;
  options.model_dir = args.model_dir;
  options.data_roots = args.data_roots;
  options.model_roots = args.model_roots;
  options.bin_dir = args.bin_dir.empty() ? OwnDirectory() : args.bin_dir;
  options.rollout_workers = args.rollout_workers;
  options.learner_ranks = args.learner_ranks;
  options.torch_threads = args.torch_threads;
  options.learner_args = args.learner_args;
  options.worker_args = args.worker_args;
  options.start_timeout = absl::Seconds(args.start_timeout_s);
  options.stop_grace = absl::Seconds(args.grace_s);
  if (args.prometheus) {
    absl::StatusOr<std::string> binary = FindPrometheusBinary(args.prometheus_binary);
    if (binary.ok()) {
      options.prometheus_binary = *binary;
      options.prometheus_rules = args.prometheus_rules.empty()
                                     ? OwnDirectory() + "/../share/chord/prometheus/rules.yml"
                                     : args.prometheus_rules;
      options.scrape_interval = absl::Seconds(args.scrape_interval_s);
    } else if (!args.prometheus_binary.empty()) {
      return context.Fail(binary.status());
    } else {
      *context.out << "--prometheus: " << binary.status().message()
                   << "; starting without Prometheus" << std::endl;
    }
  }

  TerminationSignals signals;
  options.should_stop = [&signals] { return signals.Received(); };
  options.progress = [&context](const std::string& line) { *context.out << line << std::endl; };
  absl::StatusOr<std::unique_ptr<LocalCluster>> cluster = LocalCluster::Start(options, args.detach);
  if (!cluster.ok()) return context.Fail(cluster.status());
  const ClusterRecord& record = (*cluster)->record();
  *context.out << "\n";
  PrintCluster(record, *context.out);
  if (args.detach) {
    (*cluster)->Detach();
    *context.out << "\nrunning in the background; stop with: chordctl down --state-dir "
                 << record.state_dir << std::endl;
    return;
  }
  *context.out << "\nrunning; Ctrl-C (or `chordctl down --state-dir " << record.state_dir
               << "`) stops everything" << std::endl;
  absl::Status supervised =
      (*cluster)->Supervise([&signals] { return signals.Received(); }, args.max_restarts);
  if (signals.received() != 0) {
    *context.out << "signal " << signals.received() << ": stopping the services" << std::endl;
  }
  (*cluster)->Stop();
  *context.out << "stopped" << std::endl;
  if (!supervised.ok()) context.Fail(supervised);
}

void RunDown(const DownArgs& args, CliContext& context) {
  std::string state_dir = args.state_dir.empty() ? DefaultStateDir() : args.state_dir;
  absl::StatusOr<ClusterRecord> record = ReadClusterRecord(state_dir);
  if (!record.ok()) {
    if (record.status().code() == absl::StatusCode::kNotFound) {
      *context.out << "no local cluster recorded in " << state_dir << " (nothing to stop)"
                   << std::endl;
      return;
    }
    return context.Fail(record.status());
  }
  absl::Duration grace = absl::Seconds(args.grace_s);
  auto note = [&context](const std::string& line) { *context.out << line << std::endl; };
  int running = 0;
  for (const ServiceRecord& s : record->services) {
    if (process::IsSameProcess(s.pid, s.binary, s.start_time)) ++running;
  }
  // A foreground `chordctl up` supervises the children (and would restart them): stop it first;
  // it stops them in order.
  if (record->supervisor_pid > 0 &&
      process::IsSameProcess(record->supervisor_pid, record->supervisor_binary,
                             record->supervisor_start_time)) {
    ServiceRecord supervisor;
    supervisor.name = "chordctl up";
    supervisor.pid = record->supervisor_pid;
    supervisor.binary = record->supervisor_binary;
    supervisor.start_time = record->supervisor_start_time;
    StopProcesses({&supervisor}, 2 * grace + absl::Seconds(10), note);
  }
  std::vector<const ServiceRecord*> learners, others;
  for (const ServiceRecord& s : record->services) {
    bool learner = s.name == "learner" || absl::StartsWith(s.name, "learner-");
    (learner ? learners : others).push_back(&s);
  }
  StopProcesses(learners, grace, note);
  StopProcesses(others, grace, note);
  std::error_code ec;
  fs::remove(ClusterRecordPath(state_dir), ec);
  *context.out << "stopped " << running << " service process" << (running == 1 ? "" : "es")
               << " of the local cluster in " << record->state_dir << std::endl;
}

std::string PositiveSeconds(const std::string& text) {
  double value = 0;
  if (!absl::SimpleAtod(text, &value)) return "must be a number of seconds";
  return value > 0 && value <= 86400 ? std::string() : std::string("must be in (0, 86400]");
}

}  // namespace

void AddUpDownCommands(CLI::App& app, CliContext& context) {
  auto up_args = std::make_shared<UpArgs>();
  CLI::App* up = app.add_subcommand(
      "up",
      "Start all services locally (expert buffer, reward, rollout workers, learner) on free "
      "ports with one state directory");
  up->add_option("--state-dir", up_args->state_dir,
                 "State directory: job store, checkpoints, logs, ports, cluster.json "
                 "(default $CHORD_STATE_DIR, else ./.chord)");
  up->add_option("--model", up_args->model_dir,
                 "Model folder of the rollout workers (default: <state-dir>/model, the tiny "
                 "preset, written if missing)");
  up->add_option("--data-root", up_args->data_roots,
                 "Directory the expert buffer may read datasets from (repeat for more; default: "
                 "the working directory); other paths are refused")
      ->allow_extra_args(false);
  up->add_option("--model-root", up_args->model_roots,
                 "Directory the learner may read job specs' models from (repeat for more; "
                 "default: the working directory); the --model folder is always allowed")
      ->allow_extra_args(false);
  up->add_option("--rollout-workers", up_args->rollout_workers, "Rollout worker processes")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  up->add_option("--learner-ranks", up_args->learner_ranks,
                 "Learner ranks (data-parallel processes over Gloo)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  up->add_option("--torch-threads", up_args->torch_threads,
                 "LibTorch threads of each learner rank and rollout worker")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  up->add_option("--bin-dir", up_args->bin_dir,
                 "Directory of the service binaries (default: chordctl's own directory)");
  up->add_flag("--detach,-d", up_args->detach,
               "Start, record cluster.json and return; the services keep running");
  up->add_option("--max-restarts", up_args->max_restarts,
                 "Foreground: restarts of dead services before giving up")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  up->add_option("--start-timeout", up_args->start_timeout_s,
                 "Seconds each service may take to serve")
      ->check(PositiveSeconds, "SECONDS")
      ->capture_default_str();
  up->add_option("--grace", up_args->grace_s, "Seconds of SIGTERM before SIGKILL when stopping")
      ->check(PositiveSeconds, "SECONDS")
      ->capture_default_str();
  up->add_option("--learner-arg", up_args->learner_args,
                 "Extra flag for every learner rank, e.g. --learner-arg=--max_resumes=5")
      ->allow_extra_args(false);
  up->add_option("--worker-arg", up_args->worker_args,
                 "Extra flag for every rollout worker, e.g. --worker-arg=--max_batch_size=32")
      ->allow_extra_args(false);
  up->add_flag("--prometheus", up_args->prometheus,
               "Also start a local Prometheus (when installed) scraping every service with "
               "Chord's rules; prints its URL");
  up->add_option("--prometheus-binary", up_args->prometheus_binary,
                 "With --prometheus: the prometheus executable (default: `prometheus` on $PATH)");
  up->add_option("--prometheus-rules", up_args->prometheus_rules,
                 "With --prometheus: the rules file (default: share/chord/prometheus/rules.yml "
                 "beside chordctl's directory, a copy of deploy/prometheus/rules.yml)");
  up->add_option("--scrape-interval", up_args->scrape_interval_s,
                 "With --prometheus: seconds between scrapes and rule evaluations")
      ->check(PositiveSeconds, "SECONDS")
      ->capture_default_str();
  up->callback([up_args, &context] { RunUp(*up_args, context); });

  auto down_args = std::make_shared<DownArgs>();
  CLI::App* down =
      app.add_subcommand("down", "Stop the local cluster recorded in <state-dir>/cluster.json");
  down->add_option("--state-dir", down_args->state_dir,
                   "State directory (default $CHORD_STATE_DIR, else ./.chord)");
  down->add_option("--grace", down_args->grace_s, "Seconds of SIGTERM before SIGKILL")
      ->check(PositiveSeconds, "SECONDS")
      ->capture_default_str();
  down->callback([down_args, &context] { RunDown(*down_args, context); });
}

}  // namespace chord::chordctl
