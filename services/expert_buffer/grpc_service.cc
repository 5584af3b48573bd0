#include "services/expert_buffer/grpc_service.h"

#include "absl/strings/str_cat.h"
#include "common/rpc/grpc_status.h"
#include "common/rpc/message_limits.h"
#include "common/status/status_macros.h"

namespace chord::expert_buffer {
namespace {

absl::StatusOr<dataset::DatasetKind> KindFromProto(chord::v1::DatasetKind kind) {
  switch (kind) {
    case chord::v1::DATASET_KIND_EXPERT:
      return dataset::DatasetKind::kExpert;
    case chord::v1::DATASET_KIND_TASKS:
      return dataset::DatasetKind::kTasks;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("kind: must be DATASET_KIND_EXPERT or DATASET_KIND_TASKS (got ",
                       static_cast<int>(kind), ")"));
  }
}

chord::v1::DatasetKind KindToProto(dataset::DatasetKind kind) {
  return kind == dataset::DatasetKind::kExpert ? chord::v1::DATASET_KIND_EXPERT
                                               : chord::v1::DATASET_KIND_TASKS;
}

}  // namespace

absl::Status HandleLoadDataset(ExpertBuffer& core, const chord::v1::LoadDatasetRequest& request,
                               chord::v1::LoadDatasetResponse* response) {
  RETURN_IF_ERROR(ValidateDatasetName(request.name(), "name"));
  ASSIGN_OR_RETURN(dataset::DatasetKind kind, KindFromProto(request.kind()));
  const bool has_path = !request.path().empty();
  const bool has_content = !request.content().empty();
  if (has_path == has_content) {
    return absl::InvalidArgumentError(absl::StrCat("path: set exactly one of path and content (",
                                                   has_path ? "both are set" : "neither is set",
                                                   ")"));
  }
  ASSIGN_OR_RETURN(LoadResult result,
                   has_path ? core.LoadFile(request.name(), kind, request.path())
                            : core.LoadContent(request.name(), kind, request.content()));
  response->set_name(result.name);
  response->set_kind(KindToProto(result.kind));
  response->set_num_records(result.num_records);
  response->set_version(result.version);
  response->set_replaced(result.replaced);
  return absl::OkStatus();
}

absl::Status HandleSampleExpert(ExpertBuffer& core, const chord::v1::SampleRequest& request,
                                chord::v1::SampleExpertResponse* response) {
  ASSIGN_OR_RETURN(SampleResult result,
                   core.Sample(request.dataset(), dataset::DatasetKind::kExpert, request.n(),
                               request.cursor(), request.seed()));
  response->mutable_samples()->Reserve(static_cast<int>(result.indices.size()));
  for (int64_t index : result.indices) *response->add_samples() = result.dataset->expert(index);
  response->set_next_cursor(std::move(result.next_cursor));
  response->set_epoch(result.epoch);
  return absl::OkStatus();
}

absl::Status HandleSampleTasks(ExpertBuffer& core, const chord::v1::SampleRequest& request,
                               chord::v1::SampleTasksResponse* response) {
  ASSIGN_OR_RETURN(SampleResult result, core.Sample(request.dataset(), dataset::DatasetKind::kTasks,
                                                    request.n(), request.cursor(), request.seed()));
  response->mutable_tasks()->Reserve(static_cast<int>(result.indices.size()));
  for (int64_t index : result.indices) *response->add_tasks() = result.dataset->task(index);
  response->set_next_cursor(std::move(result.next_cursor));
  response->set_epoch(result.epoch);
  return absl::OkStatus();
}

absl::Status HandleReadTasks(ExpertBuffer& core, const chord::v1::ReadTasksRequest& request,
                             chord::v1::ReadTasksResponse* response) {
  ASSIGN_OR_RETURN(TaskSlice slice,
                   core.ReadTasks(request.dataset(), request.offset(), request.limit()));
  int64_t page_bytes = 0;
  for (int64_t i = slice.begin; i < slice.end; ++i) {
    const chord::v1::Task& task = slice.dataset->task(i);
    const auto bytes = static_cast<int64_t>(task.ByteSizeLong());
    if (i > slice.begin && page_bytes + bytes > rpc::kListPageBytes) break;
    page_bytes += bytes;
    *response->add_tasks() = task;
  }
  response->set_total(slice.dataset->size());
  return absl::OkStatus();
}

absl::Status HandleStats(ExpertBuffer& core, const chord::v1::StatsRequest& request,
                         chord::v1::StatsResponse* response) {
  ASSIGN_OR_RETURN(std::vector<DatasetStats> all, core.Stats(request.dataset()));
  for (const DatasetStats& stats : all) {
    chord::v1::DatasetStats* out = response->add_datasets();
    out->set_name(stats.name);
    out->set_kind(KindToProto(stats.kind));
    out->set_num_records(stats.num_records);
    out->set_version(stats.version);
    out->set_source_path(stats.source_path);
    out->set_source_bytes(stats.source_bytes);
    out->set_max_epoch(stats.max_epoch);
    out->set_samples_served(stats.samples_served);
    out->set_loaded_at_unix(stats.loaded_at_unix);
  }
  return absl::OkStatus();
}

grpc::Status ExpertBufferGrpcService::LoadDataset(grpc::ServerContext* /*context*/,
                                                  const chord::v1::LoadDatasetRequest* request,
                                                  chord::v1::LoadDatasetResponse* response) {
  return rpc::ToGrpcStatus(HandleLoadDataset(*core_, *request, response));
}

grpc::Status ExpertBufferGrpcService::SampleExpert(grpc::ServerContext* /*context*/,
                                                   const chord::v1::SampleRequest* request,
                                                   chord::v1::SampleExpertResponse* response) {
  return rpc::ToGrpcStatus(HandleSampleExpert(*core_, *request, response));
}

grpc::Status ExpertBufferGrpcService::SampleTasks(grpc::ServerContext* /*context*/,
                                                  const chord::v1::SampleRequest* request,
                                                  chord::v1::SampleTasksResponse* response) {
  return rpc::ToGrpcStatus(HandleSampleTasks(*core_, *request, response));
}

grpc::Status ExpertBufferGrpcService::ReadTasks(grpc::ServerContext* /*context*/,
                                                const chord::v1::ReadTasksRequest* request,
                                                chord::v1::ReadTasksResponse* response) {
  return rpc::ToGrpcStatus(HandleReadTasks(*core_, *request, response));
}

grpc::Status ExpertBufferGrpcService::Stats(grpc::ServerContext* /*context*/,
                                            const chord::v1::StatsRequest* request,
                                            chord::v1::StatsResponse* response) {
  return rpc::ToGrpcStatus(HandleStats(*core_, *request, response));
}

}  // namespace chord::expert_buffer
