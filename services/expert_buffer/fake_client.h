#pragma once

// FakeExpertBufferClient: an ExpertBufferClient (client.h) over datasets held in memory, for the
// unit tests of other services (the learner's driver). No core, no server, no file.
//
// Semantics, simpler than the service's but with the same shape:
//  - Add{Tasks,Expert}(name, records) holds a dataset. LoadDataset answers num_records of the held
//    dataset of that name and kind (NOT_FOUND when none is held) and records the request.
//  - Sample{Tasks,Expert}: the cursor is the decimal offset of the next record ("" = 0); a batch
//    is the n records from there in order, wrapping around (epoch = how often it wrapped), and
//    next_cursor is the offset after it. The same cursor gives the same batch, as with the service.
//    A cursor that is not a number is FAILED_PRECONDITION; n < 1 is INVALID_ARGUMENT.
//  - ReadTasks: records [offset, offset + limit) (limit 0: all), at most read_page_size() of
//    them per answer (0: no limit), as the service pages by bytes.
//  - Every request is recorded (requests()), and failures().FailNext("SampleTasks", status)
//    makes the next call of that method fail.
// Thread-safe.

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/rpc/scripted_failures.h"
#include "services/expert_buffer/client.h"

namespace chord::expert_buffer {

class FakeExpertBufferClient final : public ExpertBufferClient {
 public:
  // One call as the fake saw it.
  struct Call {
    std::string method;
    chord::v1::SampleRequest sample;  // SampleTasks / SampleExpert
    chord::v1::LoadDatasetRequest load;
    chord::v1::ReadTasksRequest read;
  };

  // Holds `tasks` / `samples` under `name` (replacing a held dataset of that name).
  void AddTasks(const std::string& name, std::vector<chord::v1::Task> tasks);
  void AddExpert(const std::string& name, std::vector<chord::v1::ExpertSample> samples);

  // Most tasks one ReadTasks answer holds (0: all that were asked for).
  void set_read_page_size(int64_t n) { read_page_size_ = n; }
  int64_t read_page_size() const { return read_page_size_; }

  rpc::ScriptedFailures& failures() { return failures_; }
  // Every call so far, in order.
  std::vector<Call> calls() const;
  // The calls of one method.
  std::vector<Call> calls(const std::string& method) const;

  absl::StatusOr<chord::v1::LoadDatasetResponse> LoadDataset(
      const chord::v1::LoadDatasetRequest& request) override;
  absl::StatusOr<chord::v1::SampleExpertResponse> SampleExpert(
      const chord::v1::SampleRequest& request) override;
  absl::StatusOr<chord::v1::SampleTasksResponse> SampleTasks(
      const chord::v1::SampleRequest& request) override;
  absl::StatusOr<chord::v1::ReadTasksResponse> ReadTasks(
      const chord::v1::ReadTasksRequest& request) override;
  absl::StatusOr<chord::v1::StatsResponse> Stats(const chord::v1::StatsRequest& request) override;

 private:
  // The records [offset, offset + n) of a dataset of `size` records, wrapping around.
  struct Window {
    std::vector<size_t> indices;
    int64_t next = 0;
    int64_t epoch = 0;
  };
  static absl::StatusOr<Window> Take(size_t size, const chord::v1::SampleRequest& request);

  rpc::ScriptedFailures failures_;
  std::atomic<int64_t> read_page_size_{0};
  mutable absl::Mutex mu_;
  std::map<std::string, std::vector<chord::v1::Task>> tasks_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<chord::v1::ExpertSample>> expert_ ABSL_GUARDED_BY(mu_);
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
};

}  // namespace chord::expert_buffer
