#include "tools/chordctl/job_commands.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <ostream>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/files/file_io.h"
#include "common/status/status_macros.h"
#include "nlohmann/json.hpp"
#include "services/learner/grpc_client.h"
#include "tools/chordctl/job_format.h"
#include "tools/chordctl/local_cluster.h"
#include "tools/chordctl/spec_overrides.h"
#include "tools/chordctl/trinity_command.h"

namespace chord::chordctl {
namespace {

struct SubmitArgs {
  LearnerArgs learner;
  std::string file;
  std::vector<std::string> overrides;
  std::string request_id;
  bool watch = false;
  bool plain = false;
  bool json = false;
  bool from_trinity = false;
};

struct JobIdArgs {
  LearnerArgs learner;
  std::string job_id;
  bool json = false;
  bool plain = false;
  bool follow = false;
  bool watch = false;
  std::string reason;
};

struct ListArgs {
  LearnerArgs learner;
  std::string state;
  int limit = 20;
  bool json = false;
};

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

std::string RandomRequestId() {
  std::random_device device;
  std::mt19937_64 rng((static_cast<uint64_t>(device()) << 32) ^ device() ^
                      static_cast<uint64_t>(absl::GetCurrentTimeNanos()));
  return absl::StrFormat("chordctl-%016x", rng());
}

// Watches `job_id` to its end (its events from `from_sequence` on; 0: all) and sets the exit code
// from its final state.
void WatchToEnd(learner::JobClient& client, const std::string& job_id, bool plain,
                CliContext& context, int64_t from_sequence = 0) {
  int columns = 0;
  winsize size{};
  if (context.out_is_tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0) columns = size.ws_col;
  WatchPrinter printer(context.out, context.out_is_tty && !plain, /*bar_width=*/20, columns);
  learner::WatchOptions options;
  options.reconnect_window = std::max(absl::Seconds(60), absl::Seconds(context.timeout_s));
  chord::v1::WatchJobRequest request;
  request.set_job_id(job_id);
  request.set_from_sequence(from_sequence);
  absl::Status status = client.Watch(request, options, [&](const chord::v1::JobEvent& event) {
    printer.OnEvent(event);
    return true;
  });
  printer.Finish();
  if (!status.ok()) return context.Fail(status);
  absl::StatusOr<chord::v1::JobStatus> job = GetJob(client, job_id);
  if (!job.ok()) return context.Fail(job.status());
  std::string steps = absl::StrCat(job->step(), "/", job->total_steps());
  double seconds =
      job->finished_unix_ms() > 0 && job->started_unix_ms() > 0
          ? static_cast<double>(job->finished_unix_ms() - job->started_unix_ms()) / 1000.0
          : -1;
  switch (job->state()) {
    case chord::v1::JOB_STATE_SUCCEEDED:
      *context.out << "job " << job_id << " SUCCEEDED in " << FormatDuration(seconds) << " (step "
                   << steps << ")";
      if (!job->output_model().empty()) *context.out << "; final model: " << job->output_model();
      *context.out << std::endl;
      context.exit_code = kExitOk;
      return;
    case chord::v1::JOB_STATE_CANCELLED:
      *context.out << "job " << job_id << " CANCELLED at step " << steps << std::endl;
      return context.Fail(kExitJobCancelled,
                          absl::StrCat("job ", job_id, " was cancelled: ",
                                       job->reason().empty() ? "no reason given" : job->reason()));
    case chord::v1::JOB_STATE_FAILED:
      *context.out << "job " << job_id << " FAILED at step " << steps << std::endl;
      return context.Fail(kExitRuntimeError,
                          absl::StrCat("job ", job_id, " failed: ",
                                       job->reason().empty() ? "no reason given" : job->reason()));
    default:
      return context.Fail(kExitRuntimeError,
                          absl::StrCat("the event stream of job ", job_id, " ended while it is ",
                                       JobStateName(job->state())));
  }
}

void RunSubmit(const SubmitArgs& args, CliContext& context) {
  absl::StatusOr<std::string> text = files::ReadFile(args.file);
  if (!text.ok()) {
    if (text.status().code() == absl::StatusCode::kNotFound) {
      return context.Fail(kExitNotFound, absl::StrCat(args.file, ": no such job spec file"));
    }
    return context.Fail(text.status());
  }
  if (args.from_trinity) text = SpecFromTrinity(args.file, *text, context);
  if (!text.ok()) return context.Fail(text.status());
  absl::StatusOr<std::string> spec = ApplySpecOverrides(*text, args.file, args.overrides);
  if (!spec.ok()) return context.Fail(spec.status());
  absl::StatusOr<std::unique_ptr<learner::JobClient>> client = MakeJobClient(args.learner, context);
  if (!client.ok()) return context.Fail(client.status());
  chord::v1::SubmitJobRequest request;
  request.set_spec_yaml(*spec);
  request.set_spec_source(args.file);
  request.set_request_id(args.request_id.empty() ? RandomRequestId() : args.request_id);
  absl::StatusOr<chord::v1::SubmitJobResponse> response = (*client)->Submit(request);
  if (!response.ok()) return context.Fail(response.status());
  if (args.json) {
    *context.out << JobStatusToJson(response->status()).dump() << std::endl;
  } else {
    *context.out << response->job_id() << std::endl;
  }
  if (args.watch) WatchToEnd(**client, response->job_id(), args.plain, context);
}

void RunGet(const JobIdArgs& args, CliContext& context) {
  absl::StatusOr<std::unique_ptr<learner::JobClient>> client = MakeJobClient(args.learner, context);
  if (!client.ok()) return context.Fail(client.status());
  absl::StatusOr<chord::v1::JobStatus> job = GetJob(**client, args.job_id);
  if (!job.ok()) return context.Fail(job.status());
  if (args.json) {
    *context.out << JobStatusToJson(*job).dump() << std::endl;
  } else {
    *context.out << JobSummary(*job, NowMs()) << std::flush;
  }
}

void RunList(const ListArgs& args, CliContext& context) {
  chord::v1::JobState state = chord::v1::JOB_STATE_UNSPECIFIED;
  if (!args.state.empty()) {
    absl::StatusOr<chord::v1::JobState> parsed = ParseJobState(args.state);
    if (!parsed.ok()) return context.Fail(kExitUsageError, parsed.status().message());
    state = *parsed;
  }
  absl::StatusOr<std::unique_ptr<learner::JobClient>> client = MakeJobClient(args.learner, context);
  if (!client.ok()) return context.Fail(client.status());
  chord::v1::ListJobsRequest request;
  request.set_limit(args.limit);
  request.set_state(state);
  absl::StatusOr<chord::v1::ListJobsResponse> listed = (*client)->List(request);
  if (!listed.ok()) return context.Fail(listed.status());
  std::vector<chord::v1::JobStatus> jobs(listed->jobs().begin(), listed->jobs().end());
  if (args.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const chord::v1::JobStatus& job : jobs) list.push_back(JobStatusToJson(job));
    *context.out << list.dump() << std::endl;
  } else {
    *context.out << JobTable(jobs, NowMs()) << std::flush;
  }
}

void RunCancel(const JobIdArgs& args, CliContext& context) {
  absl::StatusOr<std::unique_ptr<learner::JobClient>> client = MakeJobClient(args.learner, context);
  if (!client.ok()) return context.Fail(client.status());
  chord::v1::CancelJobRequest request;
  request.set_job_id(args.job_id);
  request.set_reason(args.reason);
  absl::StatusOr<chord::v1::JobStatus> job = (*client)->Cancel(request);
  if (!job.ok()) return context.Fail(job.status());
  switch (job->state()) {
    case chord::v1::JOB_STATE_CANCELLED:
      *context.out << "job " << args.job_id << " CANCELLED" << std::endl;
      return;
    case chord::v1::JOB_STATE_SUCCEEDED:
    case chord::v1::JOB_STATE_FAILED:
      *context.out << "job " << args.job_id << " had already ended " << JobStateName(job->state())
                   << " (left as it is)" << std::endl;
      return;
    default:
      *context.out << "job " << args.job_id << " is " << JobStateName(job->state())
                   << ": cancel requested, it stops at its next phase boundary (`chordctl watch "
                   << args.job_id << "` waits for it)" << std::endl;
      return;
  }
}

// The sequence of the last stored event of an ended job (its event stream ends after them).
absl::StatusOr<int64_t> LastEventSequence(learner::JobClient& client, const std::string& job_id,
                                          const CliContext& context) {
  learner::WatchOptions options;
  options.reconnect_window = std::max(absl::Seconds(60), absl::Seconds(context.timeout_s));
  chord::v1::WatchJobRequest request;
  request.set_job_id(job_id);
  int64_t last = 0;
  RETURN_IF_ERROR(client.Watch(request, options, [&](const chord::v1::JobEvent& event) {
    last = event.sequence();
    return true;
  }));
  return last;
}

void RunResume(const JobIdArgs& args, CliContext& context) {
  absl::StatusOr<std::unique_ptr<learner::JobClient>> client = MakeJobClient(args.learner, context);
  if (!client.ok()) return context.Fail(client.status());
  // --watch follows the job from its resume on: the history before it is what `logs` shows.
  int64_t watch_from = 0;
  if (args.watch) {
    absl::StatusOr<chord::v1::JobStatus> before = GetJob(**client, args.job_id);
    if (!before.ok()) return context.Fail(before.status());
    if (IsTerminal(before->state())) {
      absl::StatusOr<int64_t> last = LastEventSequence(**client, args.job_id, context);
      if (!last.ok()) return context.Fail(last.status());
      watch_from = *last + 1;
    }
  }
  chord::v1::ResumeJobRequest request;
  request.set_job_id(args.job_id);
  request.set_reason(args.reason);
  absl::StatusOr<chord::v1::JobStatus> job = (*client)->Resume(request);
  if (!job.ok()) return context.Fail(job.status());
  if (job->state() == chord::v1::JOB_STATE_QUEUED) {
    *context.out << "job " << args.job_id << " QUEUED";
    if (job->resume_count() > 0) *context.out << " (resume " << job->resume_count() << ")";
    if (job->checkpoints_size() > 0) {
      *context.out << ": it continues from its newest checkpoint ("
                   << job->checkpoints(job->checkpoints_size() - 1) << ") when the learner runs it";
    } else {
      *context.out
          << ": it has no checkpoint and starts again from step 1 when the learner runs it";
    }
    *context.out << std::endl;
  } else {
    *context.out << "job " << args.job_id << " is " << JobStateName(job->state())
                 << " (left as it is)" << std::endl;
  }
  if (args.watch) WatchToEnd(**client, args.job_id, args.plain, context, watch_from);
}

void RunWatch(const JobIdArgs& args, CliContext& context) {
  absl::StatusOr<std::unique_ptr<learner::JobClient>> client = MakeJobClient(args.learner, context);
  if (!client.ok()) return context.Fail(client.status());
  WatchToEnd(**client, args.job_id, args.plain, context);
}

void RunLogs(const JobIdArgs& args, CliContext& context) {
  absl::StatusOr<std::unique_ptr<learner::JobClient>> client = MakeJobClient(args.learner, context);
  if (!client.ok()) return context.Fail(client.status());
  learner::WatchOptions options;
  options.reconnect_window = std::max(absl::Seconds(60), absl::Seconds(context.timeout_s));
  if (!args.follow) {
    // The stream of an ended job ends after its last event; a live job's never does: stop once
    // the stored history has been replayed.
    absl::StatusOr<chord::v1::JobStatus> job = GetJob(**client, args.job_id);
    if (!job.ok()) return context.Fail(job.status());
    if (!IsTerminal(job->state())) options.idle_stop = absl::Milliseconds(500);
  }
  chord::v1::WatchJobRequest request;
  request.set_job_id(args.job_id);
  absl::Status status = (*client)->Watch(request, options, [&](const chord::v1::JobEvent& event) {
    if (args.json) {
      *context.out << JobEventToJson(event).dump() << std::endl;
    } else {
      *context.out << EventLogLine(event) << std::endl;
    }
    return true;
  });
  if (!status.ok()) context.Fail(status);
}

CLI::App* AddJobIdCommand(CLI::App& app, const std::string& name, const std::string& help,
                          const std::shared_ptr<JobIdArgs>& args) {
  CLI::App* command = app.add_subcommand(name, help);
  command->add_option("job_id", args->job_id, "The job id (from submit or list)")->required();
  AddLearnerOptions(command, &args->learner);
  return command;
}

}  // namespace

void AddLearnerOptions(CLI::App* command, LearnerArgs* args) {
  AddAddressOption(command, "learner", &args->address);
}

absl::StatusOr<std::string> ResolveLearnerAddress(const LearnerArgs& args) {
  if (!args.address.empty()) return args.address;
  std::string state_dir = DefaultStateDir();
  absl::StatusOr<ClusterRecord> cluster = ReadClusterRecord(state_dir);
  if (cluster.ok() && !cluster->LearnerAddress().empty()) return cluster->LearnerAddress();
  return absl::InvalidArgumentError(
      "no learner address: pass --address HOST:PORT, set CHORD_LEARNER_ADDRESS, or start a local "
      "cluster with `chordctl up`");
}

absl::StatusOr<std::unique_ptr<learner::JobClient>> MakeJobClient(const LearnerArgs& args,
                                                                  const CliContext& context) {
  ASSIGN_OR_RETURN(std::string address, ResolveLearnerAddress(args));
  // The local cluster's user token goes only to the local cluster's learner.
  std::string local_token;
  absl::StatusOr<ClusterRecord> cluster = ReadClusterRecord(DefaultStateDir());
  if (cluster.ok() && cluster->LearnerAddress() == address) {
    local_token = UserTokenPath(cluster->state_dir);
  }
  ASSIGN_OR_RETURN(rpc::ClientOptions options, AuthorizedClientOptions(context, local_token));
  ASSIGN_OR_RETURN(std::unique_ptr<learner::GrpcJobClient> client,
                   learner::GrpcJobClient::Create(address, options));
  return std::unique_ptr<learner::JobClient>(std::move(client));
}

absl::StatusOr<chord::v1::JobStatus> GetJob(learner::JobClient& client, const std::string& job_id) {
  chord::v1::GetJobRequest request;
  request.set_job_id(job_id);
  return client.Get(request);
}

void AddJobCommands(CLI::App& app, CliContext& context) {
  auto submit_args = std::make_shared<SubmitArgs>();
  CLI::App* submit = app.add_subcommand(
      "submit", "Submit a job spec (YAML); prints the job id (--watch: then follows it)");
  submit->add_option("file", submit_args->file, "The job spec file (YAML)")->required();
  submit->add_option("--set", submit_args->overrides,
                     "Override a key of the spec: KEY.PATH=VALUE (repeatable; VALUE is YAML)");
  submit->add_option("--request-id", submit_args->request_id,
                     "Idempotency key: a repeated submit with it returns the first job "
                     "(default: a random one)");
  submit->add_flag("--watch", submit_args->watch, "Follow the job after submitting (as `watch`)");
  submit->add_flag("--plain", submit_args->plain, "With --watch: plain lines even on a terminal");
  submit->add_flag("--json", submit_args->json, "Print the job status as one JSON object");
  submit->add_flag("--from-trinity", submit_args->from_trinity,
                   "The file is a Trinity-RFT config: convert it first (as `convert`)");
  AddLearnerOptions(submit, &submit_args->learner);
  submit->callback([submit_args, &context] { RunSubmit(*submit_args, context); });

  auto get_args = std::make_shared<JobIdArgs>();
  CLI::App* get = AddJobIdCommand(app, "get", "Show a job's state, progress and outputs", get_args);
  get->add_flag("--json", get_args->json, "Print one JSON object");
  get->callback([get_args, &context] { RunGet(*get_args, context); });

  auto list_args = std::make_shared<ListArgs>();
  CLI::App* list = app.add_subcommand("list", "List jobs, newest first");
  list->add_option("--state", list_args->state,
                   "Only jobs in this state: queued, running, succeeded, failed, cancelled");
  list->add_option("--limit", list_args->limit, "Most jobs to list")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  list->add_flag("--json", list_args->json, "Print a JSON list");
  AddLearnerOptions(list, &list_args->learner);
  list->callback([list_args, &context] { RunList(*list_args, context); });

  auto cancel_args = std::make_shared<JobIdArgs>();
  CLI::App* cancel = AddJobIdCommand(app, "cancel", "Cancel a queued or running job", cancel_args);
  cancel->add_option("--reason", cancel_args->reason, "Why (recorded in the job)");
  cancel->callback([cancel_args, &context] { RunCancel(*cancel_args, context); });

  auto resume_args = std::make_shared<JobIdArgs>();
  CLI::App* resume = AddJobIdCommand(
      app, "resume",
      "Put a failed or cancelled job back in the queue: it continues from its newest checkpoint",
      resume_args);
  resume->add_option("--reason", resume_args->reason, "Why (recorded in the job)");
  resume->add_flag("--watch", resume_args->watch,
                   "Then follow the job from the resume on (as `watch`; its exit codes)");
  resume->add_flag("--plain", resume_args->plain, "With --watch: plain lines even on a terminal");
  resume->callback([resume_args, &context] { RunResume(*resume_args, context); });

  auto watch_args = std::make_shared<JobIdArgs>();
  CLI::App* watch = AddJobIdCommand(
      app, "watch",
      "Follow a job to its end (a progress line on a terminal); exit 0 succeeded, 1 failed, 4 "
      "cancelled",
      watch_args);
  watch->add_flag("--plain", watch_args->plain, "Plain lines even on a terminal");
  watch->callback([watch_args, &context] { RunWatch(*watch_args, context); });

  auto logs_args = std::make_shared<JobIdArgs>();
  CLI::App* logs =
      AddJobIdCommand(app, "logs", "Print a job's events as timestamped lines", logs_args);
  logs->add_flag("--follow,-f", logs_args->follow, "Keep printing new events until the job ends");
  logs->add_flag("--json", logs_args->json, "One JSON object per event");
  logs->callback([logs_args, &context] { RunLogs(*logs_args, context); });
}

}  // namespace chord::chordctl
