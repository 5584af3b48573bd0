#include "services/expert_buffer/fake_client.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status/status_macros.h"

namespace chord::expert_buffer {

void FakeExpertBufferClient::AddTasks(const std::string& name, std::vector<chord::v1::Task> tasks) {
  absl::MutexLock lock(&mu_);
  tasks_[name] = std::move(tasks);
}

void FakeExpertBufferClient::AddExpert(const std::string& name,
                                       std::vector<chord::v1::ExpertSample> samples) {
  absl::MutexLock lock(&mu_);
  expert_[name] = std::move(samples);
}

std::vector<FakeExpertBufferClient::Call> FakeExpertBufferClient::calls() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

std::vector<FakeExpertBufferClient::Call> FakeExpertBufferClient::calls(
    const std::string& method) const {
  absl::MutexLock lock(&mu_);
  std::vector<Call> selected;
  for (const Call& call : calls_) {
    if (call.method == method) selected.push_back(call);
  }
  return selected;
}

absl::StatusOr<FakeExpertBufferClient::Window> FakeExpertBufferClient::Take(
    size_t size, const chord::v1::SampleRequest& request) {
  if (request.n() < 1) return absl::InvalidArgumentError("n: must be >= 1");
  int64_t offset = 0;
  if (!request.cursor().empty() && !absl::SimpleAtoi(request.cursor(), &offset)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cursor: \"", request.cursor(), "\" is not a cursor of this fake"));
  }
  if (size == 0) return absl::FailedPreconditionError("dataset has no records");
  Window window;
  for (int32_t i = 0; i < request.n(); ++i) {
    window.indices.push_back(static_cast<size_t>((offset + i) % static_cast<int64_t>(size)));
  }
  window.next = offset + request.n();
  window.epoch = (window.next - 1) / static_cast<int64_t>(size);
  return window;
}

absl::StatusOr<chord::v1::LoadDatasetResponse> FakeExpertBufferClient::LoadDataset(
    const chord::v1::LoadDatasetRequest& request) {
  RETURN_IF_ERROR(failures_.Take("LoadDataset"));
  absl::MutexLock lock(&mu_);
  Call call;
  call.method = "LoadDataset";
  call.load = request;
  calls_.push_back(call);
  chord::v1::LoadDatasetResponse response;
  response.set_name(request.name());
  response.set_kind(request.kind());
  if (request.kind() == chord::v1::DATASET_KIND_TASKS && tasks_.count(request.name()) > 0) {
    response.set_num_records(static_cast<int64_t>(tasks_[request.name()].size()));
  } else if (request.kind() == chord::v1::DATASET_KIND_EXPERT &&
             expert_.count(request.name()) > 0) {
    response.set_num_records(static_cast<int64_t>(expert_[request.name()].size()));
  } else {
    return absl::NotFoundError(
        absl::StrCat("path: ", request.path(), ": the fake holds no such dataset"));
  }
  response.set_version("fake");
  return response;
}

absl::StatusOr<chord::v1::SampleExpertResponse> FakeExpertBufferClient::SampleExpert(
    const chord::v1::SampleRequest& request) {
  RETURN_IF_ERROR(failures_.Take("SampleExpert"));
  absl::MutexLock lock(&mu_);
  Call call;
  call.method = "SampleExpert";
  call.sample = request;
  calls_.push_back(call);
  auto it = expert_.find(request.dataset());
  if (it == expert_.end()) {
    return absl::NotFoundError(absl::StrCat("dataset: \"", request.dataset(), "\" is not loaded"));
  }
  ASSIGN_OR_RETURN(Window window, Take(it->second.size(), request));
  chord::v1::SampleExpertResponse response;
  for (size_t index : window.indices) *response.add_samples() = it->second[index];
  response.set_next_cursor(absl::StrCat(window.next));
  response.set_epoch(window.epoch);
  return response;
}

absl::StatusOr<chord::v1::SampleTasksResponse> FakeExpertBufferClient::SampleTasks(
    const chord::v1::SampleRequest& request) {
  RETURN_IF_ERROR(failures_.Take("SampleTasks"));
  absl::MutexLock lock(&mu_);
  Call call;
  call.method = "SampleTasks";
  call.sample = request;
  calls_.push_back(call);
  auto it = tasks_.find(request.dataset());
  if (it == tasks_.end()) {
    return absl::NotFoundError(absl::StrCat("dataset: \"", request.dataset(), "\" is not loaded"));
  }
  ASSIGN_OR_RETURN(Window window, Take(it->second.size(), request));
  chord::v1::SampleTasksResponse response;
  for (size_t index : window.indices) *response.add_tasks() = it->second[index];
  response.set_next_cursor(absl::StrCat(window.next));
  response.set_epoch(window.epoch);
  return response;
}

absl::StatusOr<chord::v1::ReadTasksResponse> FakeExpertBufferClient::ReadTasks(
    const chord::v1::ReadTasksRequest& request) {
  RETURN_IF_ERROR(failures_.Take("ReadTasks"));
  absl::MutexLock lock(&mu_);
  Call call;
  call.method = "ReadTasks";
  call.read = request;
  calls_.push_back(call);
  auto it = tasks_.find(request.dataset());
  if (it == tasks_.end()) {
    return absl::NotFoundError(absl::StrCat("dataset: \"", request.dataset(), "\" is not loaded"));
  }
  const auto& tasks = it->second;
  chord::v1::ReadTasksResponse response;
  response.set_total(static_cast<int64_t>(tasks.size()));
  int64_t end =
      request.limit() > 0 ? request.offset() + request.limit() : static_cast<int64_t>(tasks.size());
  if (read_page_size_ > 0) end = std::min(end, request.offset() + read_page_size_);
  for (int64_t i = request.offset(); i < end && i < static_cast<int64_t>(tasks.size()); ++i) {
    *response.add_tasks() = tasks[static_cast<size_t>(i)];
  }
  return response;
}

absl::StatusOr<chord::v1::StatsResponse> FakeExpertBufferClient::Stats(
    const chord::v1::StatsRequest& request) {
  RETURN_IF_ERROR(failures_.Take("Stats"));
  absl::MutexLock lock(&mu_);
  calls_.push_back(Call{"Stats", {}, {}, {}});
  chord::v1::StatsResponse response;
  for (const auto& [name, tasks] : tasks_) {
    if (!request.dataset().empty() && request.dataset() != name) continue;
    chord::v1::DatasetStats* stats = response.add_datasets();
    stats->set_name(name);
    stats->set_kind(chord::v1::DATASET_KIND_TASKS);
    stats->set_num_records(static_cast<int64_t>(tasks.size()));
  }
  for (const auto& [name, samples] : expert_) {
    if (!request.dataset().empty() && request.dataset() != name) continue;
    chord::v1::DatasetStats* stats = response.add_datasets();
    stats->set_name(name);
    stats->set_kind(chord::v1::DATASET_KIND_EXPERT);
    stats->set_num_records(static_cast<int64_t>(samples.size()));
  }
  return response;
}

}  // namespace chord::expert_buffer
