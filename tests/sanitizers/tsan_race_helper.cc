// A program for tsan_annotations_test (TSan builds only): `guarded` shares data between threads
// through every Abseil primitive that tsan_absl_annotations.cc annotates and must run without a
// report; `race` and `two_mutexes` race on purpose and must be reported.

#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace {

int Guarded() {
  absl::Mutex mu;
  int counter = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        absl::MutexLock lock(&mu);
        ++counter;
      }
    });
  }
  for (std::thread& t : threads) t.join();

  // CondVar: a value handed over under the mutex.
  int handed = 0;
  bool ready = false;
  absl::CondVar cv;
  std::thread producer([&] {
    absl::MutexLock lock(&mu);
    handed = 42;
    ready = true;
    cv.Signal();
  });
  {
    absl::MutexLock lock(&mu);
    while (!ready) cv.WaitWithTimeout(&mu, absl::Seconds(10));
  }
  producer.join();

  // Await with a Condition, and readers.
  int stage = 0;
  std::thread stepper([&] {
    absl::MutexLock lock(&mu);
    stage = 1;
  });
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](int* s) { return *s == 1; }, &stage));
  }
  stepper.join();
  {
    absl::ReaderMutexLock lock(&mu);
    if (stage != 1) return 1;
  }

  // Notification: data written before Notify, read after the wait.
  int payload = 0;
  absl::Notification done;
  std::thread notifier([&] {
    payload = 7;
    done.Notify();
  });
  done.WaitForNotification();
  const int seen = payload;
  notifier.join();

  std::printf("guarded: counter %d, handed %d, payload %d\n", counter, handed, seen);
  return counter == 4000 && handed == 42 && seen == 7 ? 0 : 1;
}

int Race() {
  int shared = 0;
  std::thread other([&] { ++shared; });
  ++shared;
  other.join();
  std::printf("race: %d\n", shared);
  return 0;
}

// Each thread holds a different mutex: no order between the writes.
int TwoMutexes() {
  absl::Mutex a, b;
  int shared = 0;
  std::thread other([&] {
    absl::MutexLock lock(&a);
    ++shared;
  });
  {
    absl::MutexLock lock(&b);
    ++shared;
  }
  other.join();
  std::printf("two_mutexes: %d\n", shared);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "";
  if (std::strcmp(mode, "guarded") == 0) return Guarded();
  if (std::strcmp(mode, "race") == 0) return Race();
  if (std::strcmp(mode, "two_mutexes") == 0) return TwoMutexes();
  std::fprintf(stderr, "usage: %s guarded|race|two_mutexes\n", argv[0]);
  return 2;
}
