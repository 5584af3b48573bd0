#include "services/learner/job_setup.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status/status_macros.h"

namespace chord::learner {

absl::StatusOr<ServiceAddresses> ResolveServiceAddresses(const ServicesSpec& spec,
                                                         const ServiceDefaults& defaults) {
  ServiceAddresses addresses;
  addresses.expert_buffer =
      spec.expert_buffer.empty() ? defaults.expert_buffer : spec.expert_buffer;
  addresses.reward = spec.reward.empty() ? defaults.reward : spec.reward;
  addresses.rollout_workers =
      spec.rollout_workers.empty() ? defaults.rollout_workers : spec.rollout_workers;
  if (addresses.expert_buffer.empty()) {
    return absl::FailedPreconditionError(
        "no expert buffer address (services.expert_buffer or --expert_buffer)");
  }
  if (addresses.reward.empty()) {
    return absl::FailedPreconditionError("no reward service address (services.reward or --reward)");
  }
  if (addresses.rollout_workers.empty()) {
    return absl::FailedPreconditionError(
        "no rollout workers (services.rollout_workers or --rollout_workers)");
  }
  return addresses;
}

absl::StatusOr<PreparedJob> PrepareJob(const JobSpec& spec, const ServiceDefaults& defaults,
                                       const ClientFactory& factory, const JobLog& log) {
  PreparedJob job;
  ASSIGN_OR_RETURN(job.addresses, ResolveServiceAddresses(spec.services, defaults));
  ASSIGN_OR_RETURN(job.clients, factory(job.addresses, spec.services));
  {
    // The job's verifier must exist on this reward service (it may register its own).
    ASSIGN_OR_RETURN(chord::v1::ListVerifiersResponse verifiers,
                     job.clients.reward->ListVerifiers());
    std::vector<std::string> names;
    for (const chord::v1::VerifierInfo& v : verifiers.verifiers()) names.push_back(v.name());
    if (std::find(names.begin(), names.end(), spec.verifier) == names.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "verifier: \"", spec.verifier, "\" is not a verifier of the reward service at ",
          job.addresses.reward, " (it has: ", absl::StrJoin(names, ", "), ")"));
    }
  }
  expert_buffer::ExpertBufferClient& expert_buffer = *job.clients.expert_buffer;
  auto load = [&](const DatasetRef& ref, chord::v1::DatasetKind kind) -> absl::Status {
    if (ref.path.empty()) return absl::OkStatus();
    chord::v1::LoadDatasetRequest request;
    request.set_name(ref.name);
    request.set_kind(kind);
    request.set_path(ref.path);
    ASSIGN_OR_RETURN(chord::v1::LoadDatasetResponse response, expert_buffer.LoadDataset(request));
    log.Line(absl::StrCat("dataset ", ref.name, ": ", response.num_records(), " records from ",
                          ref.path));
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(Annotate(load(spec.tasks, chord::v1::DATASET_KIND_TASKS), "datasets.tasks"));
  RETURN_IF_ERROR(Annotate(load(spec.expert, chord::v1::DATASET_KIND_EXPERT), "datasets.expert"));
  RETURN_IF_ERROR(Annotate(load(spec.eval, chord::v1::DATASET_KIND_TASKS), "datasets.eval"));
  if (!spec.eval.path.empty()) {
    // The expert buffer answers in pages (rpc::kListPageBytes): read on until max_samples tasks
    // (0: all of them) have come.
    const int64_t wanted = spec.evaluation.max_samples;
    int64_t offset = 0;
    while (true) {
      chord::v1::ReadTasksRequest request;
      request.set_dataset(spec.eval.name);
      request.set_offset(offset);
      if (wanted > 0) request.set_limit(wanted - offset);
      ASSIGN_OR_RETURN(chord::v1::ReadTasksResponse response, expert_buffer.ReadTasks(request));
      job.eval_tasks.insert(job.eval_tasks.end(), response.tasks().begin(), response.tasks().end());
      offset += response.tasks_size();
      const int64_t end = wanted > 0 ? std::min(wanted, response.total()) : response.total();
      if (offset >= end) break;
      if (response.tasks_size() == 0) {
        return absl::InternalError(
            absl::StrCat("datasets.eval: the expert buffer returned no tasks "
                         "at offset ",
                         offset, " of ", response.total()));
      }
    }
  }
  return job;
}

}  // namespace chord::learner
