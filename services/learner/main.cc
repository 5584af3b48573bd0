// chord-learner: one process per data-parallel rank (torchrun's MASTER_ADDR, MASTER_PORT, RANK,
// WORLD_SIZE). Rank 0 hosts the JobService and the WeightService and drives jobs; ranks > 0
// follow rank 0's commands. Every rank serves health and /metrics.

#include <ATen/Parallel.h>
#include <c10/core/Device.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/config/flag_config.h"
#include "common/dist/dist_options.h"
#include "common/dist/process_group.h"
#include "common/files/confined_path.h"
#include "common/metrics/metrics.h"
#include "common/rpc/server_runner.h"
#include "common/service/openmp_policy.h"
#include "common/service/service_host.h"
#include "common/status/status_macros.h"
#include "common/weights/grpc_service.h"
#include "common/weights/weight_publisher.h"
#include "services/learner/driver.h"
#include "services/learner/grpc_clients.h"
#include "services/learner/grpc_service.h"
#include "services/learner/job_manager.h"
#include "services/learner/job_store.h"
#include "services/learner/learner_rank.h"
#include "services/learner/metrics.h"
#include "services/learner/options.h"
#include "services/learner/rank_coordinator.h"
#include "services/learner/rank_trainer.h"
#include "services/learner/weight_version_counter.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, state_dir, "",
          "Directory of the job store, job outputs and checkpoints (required on rank 0)");
ABSL_FLAG(std::string, expert_buffer, "", "Default chord-expert-buffer address (host:port)");
ABSL_FLAG(std::string, reward, "", "Default chord-reward address (host:port)");
ABSL_FLAG(std::vector<std::string>, rollout_workers, {},
          "Default chord-rollout-worker addresses (comma-separated host:port)");
ABSL_FLAG(std::string, device, "cpu", "Training device: cpu, or cuda (uses cuda:LOCAL_RANK)");
ABSL_FLAG(std::string, backend, "", "Collective backend: gloo or nccl (default: nccl on cuda)");
// Defaults are the options structs' own (options.h, common/dist, common/weights).
ABSL_FLAG(double, dist_timeout_s, absl::ToDoubleSeconds(chord::dist::DistOptions().timeout),
          "A collective (or the rendezvous) that waits longer for a peer rank fails");
ABSL_FLAG(double, heartbeat_s,
          absl::ToDoubleSeconds(chord::learner::JobManagerOptions().heartbeat_interval),
          "Idle heartbeat period from rank 0 to the other ranks");
ABSL_FLAG(int, torch_threads, 0, "LibTorch intra-op threads (0 = LibTorch's default)");
ABSL_FLAG(int, keep_weight_versions, chord::weights::PublisherOptions().keep_versions,
          "Weight versions the WeightService keeps for fetchers");
ABSL_FLAG(int, max_resumes, chord::learner::JobManagerOptions().max_resumes,
          "Times a job interrupted by a learner crash or a broken rank group is resumed before it "
          "is failed (graceful stops do not count)");
ABSL_FLAG(std::vector<std::string>, model_root, {},
          "Directories a job spec's model must lie under, after symlinks are resolved "
          "(comma-separated); the learner's own job outputs under --state_dir are always allowed. "
          "Empty: the working directory");
ABSL_FLAG(bool, allow_service_overrides,
          chord::learner::JobManagerOptions().allow_service_overrides,
          "Accept services.expert_buffer / services.reward / services.rollout_workers in job "
          "specs (off: such a spec is refused with PERMISSION_DENIED)");
ABSL_FLAG(int, max_queued_jobs, chord::learner::JobManagerOptions().max_queued_jobs,
          "Most jobs queued at once; Submit past it: RESOURCE_EXHAUSTED");
ABSL_FLAG(int, max_watch_streams, chord::learner::JobManagerOptions().max_watch_streams,
          "Most Watch streams open at once; one more: RESOURCE_EXHAUSTED");

namespace chord::learner {
namespace {

// Range checks of the learner's own numeric flags, every problem in one error.
absl::Status CheckFlags() {
  std::vector<std::string> problems;
  auto positive = [&problems](const char* flag, double value) {
    if (!(value > 0)) problems.push_back(absl::StrCat("--", flag, ": must be > 0, got ", value));
  };
  auto non_negative = [&problems](const char* flag, double value) {
    if (!(value >= 0)) problems.push_back(absl::StrCat("--", flag, ": must be >= 0, got ", value));
  };
  positive("dist_timeout_s", absl::GetFlag(FLAGS_dist_timeout_s));
  positive("heartbeat_s", absl::GetFlag(FLAGS_heartbeat_s));
  non_negative("torch_threads", absl::GetFlag(FLAGS_torch_threads));
  positive("keep_weight_versions", absl::GetFlag(FLAGS_keep_weight_versions));
  non_negative("max_resumes", absl::GetFlag(FLAGS_max_resumes));
  positive("max_queued_jobs", absl::GetFlag(FLAGS_max_queued_jobs));
  positive("max_watch_streams", absl::GetFlag(FLAGS_max_watch_streams));
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(problems, "; "));
}

absl::Status Run() {
  RETURN_IF_ERROR(CheckFlags());
  ASSIGN_OR_RETURN(dist::DistOptions dist_options, dist::DistOptionsFromProcessEnv());
  std::string host_name =
      dist_options.world_size > 1 ? absl::StrCat("learner-", dist_options.rank) : "learner";
  ASSIGN_OR_RETURN(auto host, service::ServiceHost::Create(host_name));
  if (absl::GetFlag(FLAGS_torch_threads) > 0) {
    at::set_num_threads(absl::GetFlag(FLAGS_torch_threads));
  }
  LearnerRankOptions rank_options;
  std::string device = absl::GetFlag(FLAGS_device);
  if (device == "cuda") {
    rank_options.device = c10::Device(c10::kCUDA, dist_options.local_rank);
    dist_options.backend = dist::Backend::kNccl;
  } else if (device != "cpu") {
    return absl::InvalidArgumentError(
        absl::StrCat("--device: must be cpu or cuda, got \"", device, "\""));
  }
  if (!absl::GetFlag(FLAGS_backend).empty()) {
    ASSIGN_OR_RETURN(dist_options.backend, dist::ParseBackend(absl::GetFlag(FLAGS_backend)));
  }
  dist_options.timeout = absl::Seconds(absl::GetFlag(FLAGS_dist_timeout_s));

  if (dist_options.world_size > 1) {
    spdlog::info("rank {}/{}: joining the group at {}:{}", dist_options.rank,
                 dist_options.world_size, dist_options.master_addr, dist_options.master_port);
  }
  ASSIGN_OR_RETURN(auto group, dist::ProcessGroup::Create(dist_options));
  ASSIGN_OR_RETURN(auto rank, LearnerRank::Create(rank_options, group.get()));

  if (dist_options.rank != 0) {
    // A follower: serve health and metrics, execute rank 0's commands.
    JobServiceImpl job_service(nullptr, dist_options.rank);
    rpc::ServerOptions server_options = host->server_options();
    server_options.security.method_roles = JobServiceMethodRoles();
    ASSIGN_OR_RETURN(auto runner, rpc::ServerRunner::Start(server_options, {&job_service}));
    std::atomic<bool> done{false};
    absl::Status result;
    // Signals are blocked in every thread; the watcher's thread handles them. All ranks are
    // usually signalled together (chordctl down, a Kubernetes rollout): rank 0 then checkpoints
    // the running job, which needs this rank, and sends SHUTDOWN. So a follower keeps following
    // for up to --shutdown_grace_s before it exits on its own.
    const absl::Duration grace = host->server_options().shutdown_grace;
    const int rank_index = dist_options.rank;
    rpc::TerminationWatcher signals([&done, rank_index, grace](int sig) {
      spdlog::info("rank {}: signal {}: waiting up to {} for rank 0 to stop the group", rank_index,
                   sig, absl::FormatDuration(grace));
      absl::Time deadline = absl::Now() + grace;
      while (!done && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(50));
      if (done) return;
      spdlog::warn("rank {}: rank 0 did not stop the group within {}: exiting", rank_index,
                   absl::FormatDuration(grace));
      std::_Exit(0);
    });
    result = RunFollower(group.get(), rank.get());
    done = true;
    runner->Shutdown();
    if (!result.ok()) {
      spdlog::error("rank {}: {}", dist_options.rank, result.ToString());
      return result;
    }
    return absl::OkStatus();
  }

  std::string state_dir = absl::GetFlag(FLAGS_state_dir);
  if (state_dir.empty()) return absl::InvalidArgumentError("--state_dir: required on rank 0");
  ASSIGN_OR_RETURN(auto store, JobStore::Open(state_dir + "/jobs.db"));
  ASSIGN_OR_RETURN(auto versions, WeightVersionCounter::Open(state_dir + "/weight_version"));
  weights::PublisherOptions publisher_options;
  publisher_options.keep_versions = absl::GetFlag(FLAGS_keep_weight_versions);
  publisher_options.registry = &host->registry();
  ASSIGN_OR_RETURN(auto publisher, weights::WeightPublisher::Create(publisher_options));
  LearnerMetrics metrics(host->registry());
  // chord_learner_state_dir_{avail,size}_bytes: the volume that checkpoints and outputs fill.
  host->AddCollectable(
      std::make_shared<metrics::FilesystemCollector>("chord_learner_state_dir", state_dir));
  RankCoordinator coordinator(group.get(), rank.get());
  RankTrainer trainer(&coordinator, publisher.get());

  DriverContext context;
  context.store = store.get();
  context.trainer = &trainer;
  context.versions = versions.get();
  context.metrics = &metrics;
  context.heartbeat_interval = absl::Seconds(absl::GetFlag(FLAGS_heartbeat_s));
  JobManagerOptions manager_options;
  manager_options.state_dir = state_dir;
  manager_options.defaults.expert_buffer = absl::GetFlag(FLAGS_expert_buffer);
  manager_options.defaults.reward = absl::GetFlag(FLAGS_reward);
  manager_options.defaults.rollout_workers = absl::GetFlag(FLAGS_rollout_workers);
  manager_options.defaults.client = host->client_options();
  manager_options.heartbeat_interval = absl::Seconds(absl::GetFlag(FLAGS_heartbeat_s));
  manager_options.max_resumes = absl::GetFlag(FLAGS_max_resumes);
  std::vector<std::string> model_roots = absl::GetFlag(FLAGS_model_root);
  if (model_roots.empty()) model_roots.push_back(".");
  ASSIGN_OR_RETURN(manager_options.model_roots,
                   files::ConfinedRoots::Create(model_roots, "the model root"));
  spdlog::info("job specs' models are read from under {} (--model_root) and {}/jobs",
               manager_options.model_roots->Describe(), state_dir);
  manager_options.allow_service_overrides = absl::GetFlag(FLAGS_allow_service_overrides);
  manager_options.max_queued_jobs = absl::GetFlag(FLAGS_max_queued_jobs);
  manager_options.max_watch_streams = absl::GetFlag(FLAGS_max_watch_streams);
  JobManager manager(manager_options, context, GrpcClientFactory(host->client_options()));

  JobServiceImpl job_service(&manager, 0);
  weights::WeightServiceOptions weight_options;
  weight_options.max_message_bytes =
      static_cast<uint64_t>(host->server_options().max_send_message_bytes);
  ASSIGN_OR_RETURN(auto weight_service,
                   weights::WeightServiceImpl::Create(publisher.get(), weight_options));
  rpc::ServerOptions server_options = host->server_options();
  server_options.security.method_roles = JobServiceMethodRoles();
  server_options.security.method_roles.merge(weights::WeightServiceMethodRoles());
  ASSIGN_OR_RETURN(auto runner,
                   rpc::ServerRunner::Start(server_options, {&job_service, weight_service.get()}));
  absl::Status loop;
  {
    // Ends before `manager` does (the loop returned), so its thread never touches a dead manager.
    rpc::TerminationWatcher signals([&manager](int sig) {
      spdlog::info("signal {}: stopping (a running job is checkpointed and resumes on restart)",
                   sig);
      manager.Shutdown();
    });
    loop = manager.RunLoop();
  }
  publisher->Close();
  runner->Shutdown();
  return loop;
}

}  // namespace
}  // namespace chord::learner

int main(int argc, char** argv) {
  chord::service::PreferPassiveOpenMp(argc, argv);
  chord::rpc::BlockTerminationSignals();
  auto args = chord::config::ParseFlagsWithConfig(
      argc, argv,
      "chord-learner: CHORD training ranks; rank 0 serves the JobService and WeightService.\n"
      "Usage: chord-learner --state_dir DIR [--expert_buffer H:P --reward H:P "
      "--rollout_workers H:P,...]");
  if (!args.ok()) return chord::service::ExitCode(args.status(), "chord-learner");
  if (args->size() > 1) {
    return chord::service::ExitCode(
        absl::InvalidArgumentError(absl::StrCat("unexpected argument \"", (*args)[1], "\"")),
        "chord-learner");
  }
  return chord::service::ExitCode(chord::learner::Run(), "chord-learner");
}
