// Raises small thread stack sizes requested through pthread_attr_setstacksize to a floor, in the
// binaries that link it (target chord_thread_stack_floor: every service binary that links LibTorch
// and serves /metrics).
//
// Why: a process that links LibTorch with Debian's OpenBLAS (OpenMP build) and glog carries about
// 105 KB of static thread-local storage (OpenBLAS 60 KB, glog 30 KB, LibTorch 10 KB, ...), and
// glibc places static TLS on each new thread's stack. Debian's civetweb (the HTTP server behind
// prometheus-cpp's /metrics Exposer) creates its threads with a fixed 100 KB stack
// (USE_STACK_SIZE), so pthread_create fails with EINVAL and the metrics endpoint cannot start
// ("null context when constructing CivetServer"). The executable's definition interposes the
// libc one for every library (exported with --export-dynamic-symbol, see
// common/service/CMakeLists.txt) and forwards to it with at least kStackFloor bytes; larger
// requests are unchanged.

#include <dlfcn.h>
#include <pthread.h>

#include <algorithm>
#include <cstddef>

namespace {

constexpr size_t kStackFloor = 1 << 20;  // 1 MiB (virtual; pages are touched on use)

using SetStackSizeFn = int (*)(pthread_attr_t*, size_t);

SetStackSizeFn RealSetStackSize() {
  static const SetStackSizeFn real =
      reinterpret_cast<SetStackSizeFn>(dlsym(RTLD_NEXT, "pthread_attr_setstacksize"));
  return real;
}

}  // namespace

extern "C" int pthread_attr_setstacksize(pthread_attr_t* attr, size_t stack_size) {
  SetStackSizeFn real = RealSetStackSize();
  if (real == nullptr) return 0;  // keep the default stack size (at least 8 MiB on Linux)
  return real(attr, std::max(stack_size, kStackFloor));
}
