#include "common/files/fault_injection.h"

#include <atomic>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"

namespace chord::files {
namespace {

struct Fault {
  FileOp op;
  std::string path_part;
  int err;
  int times;
};

struct Faults {
  absl::Mutex mu;
  std::vector<Fault> list ABSL_GUARDED_BY(mu);
  std::atomic<bool> any{false};
};

Faults& Registry() {
  static Faults* faults = new Faults();
  return *faults;
}

}  // namespace

void InjectFault(FileOp op, std::string path_part, int err, int times) {
  Faults& faults = Registry();
  absl::MutexLock lock(&faults.mu);
  faults.list.push_back(Fault{op, std::move(path_part), err, times});
  faults.any.store(true, std::memory_order_relaxed);
}

void ClearFaults() {
  Faults& faults = Registry();
  absl::MutexLock lock(&faults.mu);
  faults.list.clear();
  faults.any.store(false, std::memory_order_relaxed);
}

int FaultFor(FileOp op, absl::string_view path) {
  Faults& faults = Registry();
  if (!faults.any.load(std::memory_order_relaxed)) return 0;
  absl::MutexLock lock(&faults.mu);
  for (auto it = faults.list.begin(); it != faults.list.end(); ++it) {
    if (it->op != op || !absl::StrContains(path, it->path_part) || it->times <= 0) continue;
    const int err = it->err;
    if (--it->times == 0) faults.list.erase(it);
    faults.any.store(!faults.list.empty(), std::memory_order_relaxed);
    return err;
  }
  return 0;
}

}  // namespace chord::files
