#pragma once

// The failures a fake client injects (the fakes in services/<name>/fake_client.h): a test scripts
// "the next N calls of method M fail with status S", and each fake method asks Take(M) first.
// Thread-safe.
//
//   fake.failures().FailNext("Generate", absl::UnavailableError("worker down"));
//   // the next Generate call of the fake returns UNAVAILABLE, the one after it answers again

#include <deque>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace chord::rpc {

class ScriptedFailures {
 public:
  // The next `times` calls of `method` return `status` (appended after those already scripted).
  void FailNext(absl::string_view method, absl::Status status, int times = 1) {
    absl::MutexLock lock(&mu_);
    for (int i = 0; i < times; ++i) pending_[std::string(method)].push_back(status);
  }

  // The status of this call of `method`: the next scripted failure (consumed), else OK.
  absl::Status Take(absl::string_view method) {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(std::string(method));
    if (it == pending_.end() || it->second.empty()) return absl::OkStatus();
    absl::Status status = it->second.front();
    it->second.pop_front();
    return status;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, std::deque<absl::Status>> pending_ ABSL_GUARDED_BY(mu_);
};

}  // namespace chord::rpc
