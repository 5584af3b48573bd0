// ThreadSanitizer annotations for the uninstrumented Abseil of the system (TSan builds only).
//
// Debian's libabsl is compiled without -fsanitize=thread, so its Mutex, CondVar and Notification
// carry no TSan annotations: TSan sees neither their locks nor their atomics, and reports every
// access to data guarded by an absl::Mutex as a race (gRPC's own locking goes through the same
// absl::Mutex). This file, linked into every executable of a TSan build, interposes the
// out-of-line entry points of those classes: each wrapper tells TSan what the real function does
// (the __tsan_mutex_* interface that Abseil itself uses when it is compiled with TSan) and calls
// the real function, found with dlsym(RTLD_NEXT). Calls from our code bind to these definitions
// at link time, calls from the shared libraries (gRPC, Abseil itself) through the dynamic
// symbol table.
//
// Between a pre_* and the matching post_* annotation TSan ignores the thread's memory accesses, so
// a Condition that Abseil evaluates while it locks or unlocks is not checked (Abseil's own
// annotations re-enable checking there; without access to its internals we cannot). Destruction
// is not annotated: gRPC frees its mutexes after reference counting with atomics TSan cannot
// see, so an annotated destruction would race with the last unlock; TSan forgets a heap mutex
// when its memory is freed anyway.

#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/base/options.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

extern "C" {
// TSan's dynamic annotations (the runtime exports them; no public header declares them).
void AnnotateHappensBefore(const char* file, int line, const volatile void* address);
void AnnotateHappensAfter(const char* file, int line, const volatile void* address);
}

namespace {

#define CHORD_STRINGIFY_INNER(x) #x
#define CHORD_STRINGIFY(x) CHORD_STRINGIFY_INNER(x)

// Itanium mangling of the names below: <length><identifier>.
std::string Id(const std::string& identifier) {
  return std::to_string(identifier.size()) + identifier;
}

// "absl" or "absl::<inline namespace>" as a nested-name prefix, and its substitution (S_ or S0_)
// for the parameter types that follow it. Functions, not globals: the wrappers run from the
// shared libraries' initialisers too, before this file's globals would be constructed.
#if ABSL_OPTION_USE_INLINE_NAMESPACE
std::string AbslPrefix() {
  return Id("absl") + Id(CHORD_STRINGIFY(ABSL_OPTION_INLINE_NAMESPACE_NAME));
}
const char* AbslSubstitution() { return "S0_"; }
#else
std::string AbslPrefix() { return Id("absl"); }
const char* AbslSubstitution() { return "S_"; }
#endif

// A parameter of type absl::<type>, written after the function's own name.
std::string AbslType(const char* type) {
  return "N" + std::string(AbslSubstitution()) + Id(type) + "E";
}
std::string CondRef() { return "RK" + AbslType("Condition"); }
std::string DurationArg() { return AbslType("Duration"); }
std::string TimeArg() { return AbslType("Time"); }
std::string MutexPtr() { return "P" + AbslType("Mutex"); }

// The real absl::<cls>::<method>(<params>) from the next object in the lookup order (libabsl).
// `method` is mangled already (Id("Lock"), or "D2" for the destructor).
template <typename F>
F Lookup(const char* cls, const std::string& method, const std::string& params,
         bool is_const = false) {
  const std::string mangled =
      std::string("_ZN") + (is_const ? "K" : "") + AbslPrefix() + Id(cls) + method + "E" + params;
  void* f = dlsym(RTLD_NEXT, mangled.c_str());
  if (f == nullptr) {
    std::fprintf(stderr, "tsan_absl_annotations: %s not found in the loaded Abseil\n",
                 mangled.c_str());
    std::abort();
  }
  return reinterpret_cast<F>(f);
}

using absl::Condition;
using absl::CondVar;
using absl::Duration;
using absl::Mutex;
using absl::Notification;
using absl::Time;

constexpr unsigned kRead = __tsan_mutex_read_lock;
constexpr unsigned kTry = __tsan_mutex_try_lock;
constexpr unsigned kTryFailed = __tsan_mutex_try_lock_failed;

// Abseil's entry points call each other (CondVar::WaitWithTimeout calls WaitWithDeadline, through
// the dynamic symbol table, so through these wrappers): only the outermost call is annotated.
thread_local int annotated_calls = 0;

class Outermost {
 public:
  Outermost() : outermost_(annotated_calls++ == 0) {}
  ~Outermost() { --annotated_calls; }
  Outermost(const Outermost&) = delete;
  Outermost& operator=(const Outermost&) = delete;
  explicit operator bool() const { return outermost_; }

 private:
  const bool outermost_;
};

// `call` (the real function) as a lock operation on `mu`.
template <typename Call>
void AsLock(void* mu, unsigned flags, Call call) {
  Outermost outer;
  if (outer) __tsan_mutex_pre_lock(mu, flags);
  call();
  if (outer) __tsan_mutex_post_lock(mu, flags, 0);
}

// `call` as an unlock of `mu`.
template <typename Call>
void AsUnlock(void* mu, unsigned flags, Call call) {
  Outermost outer;
  if (outer) __tsan_mutex_pre_unlock(mu, flags);
  call();
  if (outer) __tsan_mutex_post_unlock(mu, flags);
}

// `call` as a try-lock of `mu`; returns what it returned (true: locked).
template <typename Call>
bool AsTryLock(void* mu, unsigned flags, Call call) {
  Outermost outer;
  if (outer) __tsan_mutex_pre_lock(mu, flags | kTry);
  const bool locked = call();
  if (outer) __tsan_mutex_post_lock(mu, flags | kTry | (locked ? 0 : kTryFailed), 0);
  return locked;
}

// `call` as a wait that releases `mu` (held exclusively) and holds it again on return (Await,
// CondVar::Wait).
template <typename Call>
void AsWait(void* mu, Call call) {
  Outermost outer;
  if (outer) {
    __tsan_mutex_pre_unlock(mu, 0);
    __tsan_mutex_post_unlock(mu, 0);
    __tsan_mutex_pre_lock(mu, 0);
  }
  call();
  if (outer) __tsan_mutex_post_lock(mu, 0, 0);
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  static auto real = Lookup<void (*)(Mutex*)>("Mutex", Id("Lock"), "v");
  AsLock(this, 0, [&] { real(this); });
}

void Mutex::ReaderLock() {
  static auto real = Lookup<void (*)(Mutex*)>("Mutex", Id("ReaderLock"), "v");
  AsLock(this, kRead, [&] { real(this); });
}

void Mutex::Unlock() {
  static auto real = Lookup<void (*)(Mutex*)>("Mutex", Id("Unlock"), "v");
  AsUnlock(this, 0, [&] { real(this); });
}

void Mutex::ReaderUnlock() {
  static auto real = Lookup<void (*)(Mutex*)>("Mutex", Id("ReaderUnlock"), "v");
  AsUnlock(this, kRead, [&] { real(this); });
}

bool Mutex::TryLock() {
  static auto real = Lookup<bool (*)(Mutex*)>("Mutex", Id("TryLock"), "v");
  return AsTryLock(this, 0, [&] { return real(this); });
}

bool Mutex::ReaderTryLock() {
  static auto real = Lookup<bool (*)(Mutex*)>("Mutex", Id("ReaderTryLock"), "v");
  return AsTryLock(this, kRead, [&] { return real(this); });
}

void Mutex::LockWhen(const Condition& cond) {
  static auto real = Lookup<void (*)(Mutex*, const Condition&)>("Mutex", Id("LockWhen"), CondRef());
  AsLock(this, 0, [&] { real(this, cond); });
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  static auto real =
      Lookup<void (*)(Mutex*, const Condition&)>("Mutex", Id("ReaderLockWhen"), CondRef());
  AsLock(this, kRead, [&] { real(this, cond); });
}

// The LockWhen...With* calls hold the mutex on return whether the condition became true or not.
bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static auto real = Lookup<bool (*)(Mutex*, const Condition&, Duration)>(
      "Mutex", Id("LockWhenWithTimeout"), CondRef() + DurationArg());
  bool met = false;
  AsLock(this, 0, [&] { met = real(this, cond, timeout); });
  return met;
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static auto real = Lookup<bool (*)(Mutex*, const Condition&, Duration)>(
      "Mutex", Id("ReaderLockWhenWithTimeout"), CondRef() + DurationArg());
  bool met = false;
  AsLock(this, kRead, [&] { met = real(this, cond, timeout); });
  return met;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  static auto real = Lookup<bool (*)(Mutex*, const Condition&, Time)>(
      "Mutex", Id("LockWhenWithDeadline"), CondRef() + TimeArg());
  bool met = false;
  AsLock(this, 0, [&] { met = real(this, cond, deadline); });
  return met;
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  static auto real = Lookup<bool (*)(Mutex*, const Condition&, Time)>(
      "Mutex", Id("ReaderLockWhenWithDeadline"), CondRef() + TimeArg());
  bool met = false;
  AsLock(this, kRead, [&] { met = real(this, cond, deadline); });
  return met;
}

void Mutex::Await(const Condition& cond) {
  static auto real = Lookup<void (*)(Mutex*, const Condition&)>("Mutex", Id("Await"), CondRef());
  AsWait(this, [&] { real(this, cond); });
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  static auto real = Lookup<bool (*)(Mutex*, const Condition&, Duration)>(
      "Mutex", Id("AwaitWithTimeout"), CondRef() + DurationArg());
  bool met = false;
  AsWait(this, [&] { met = real(this, cond, timeout); });
  return met;
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  static auto real = Lookup<bool (*)(Mutex*, const Condition&, Time)>(
      "Mutex", Id("AwaitWithDeadline"), CondRef() + TimeArg());
  bool met = false;
  AsWait(this, [&] { met = real(this, cond, deadline); });
  return met;
}

void CondVar::Wait(Mutex* mu) {
  static auto real = Lookup<void (*)(CondVar*, Mutex*)>("CondVar", Id("Wait"), MutexPtr());
  AsWait(mu, [&] { real(this, mu); });
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  static auto real = Lookup<bool (*)(CondVar*, Mutex*, Duration)>("CondVar", Id("WaitWithTimeout"),
                                                                  MutexPtr() + DurationArg());
  bool timed_out = false;
  AsWait(mu, [&] { timed_out = real(this, mu, timeout); });
  return timed_out;
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  static auto real = Lookup<bool (*)(CondVar*, Mutex*, Time)>("CondVar", Id("WaitWithDeadline"),
                                                              MutexPtr() + TimeArg());
  bool timed_out = false;
  AsWait(mu, [&] { timed_out = real(this, mu, deadline); });
  return timed_out;
}

// Notification: Notify happens before every wait that sees it (the waits may return through an
// atomic flag that TSan cannot see, without touching the mutex).
void Notification::Notify() {
  static auto real = Lookup<void (*)(Notification*)>("Notification", Id("Notify"), "v");
  AnnotateHappensBefore(__FILE__, __LINE__, this);
  real(this);
}

void Notification::WaitForNotification() const {
  static auto real =
      Lookup<void (*)(const Notification*)>("Notification", Id("WaitForNotification"), "v", true);
  real(this);
  AnnotateHappensAfter(__FILE__, __LINE__, this);
}

bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  static auto real = Lookup<bool (*)(const Notification*, Duration)>(
      "Notification", Id("WaitForNotificationWithTimeout"), DurationArg(), true);
  const bool notified = real(this, timeout);
  if (notified) AnnotateHappensAfter(__FILE__, __LINE__, this);
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(Time deadline) const {
  static auto real = Lookup<bool (*)(const Notification*, Time)>(
      "Notification", Id("WaitForNotificationWithDeadline"), TimeArg(), true);
  const bool notified = real(this, deadline);
  if (notified) AnnotateHappensAfter(__FILE__, __LINE__, this);
  return notified;
}

ABSL_NAMESPACE_END
}  // namespace absl
