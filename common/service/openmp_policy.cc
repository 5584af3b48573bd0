#include "common/service/openmp_policy.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace chord::service {
namespace {

constexpr char kMarker[] = "CHORD_OMP_WAIT_POLICY_SET";

}  // namespace

void PreferPassiveOpenMp(int argc, char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || argc < 1) return;
  // The marker stops a loop should the variable be dropped on the way (it is not, but a loop
  // would be far worse than a slow process).
  if (std::getenv(kMarker) != nullptr) return;
  if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0 || setenv(kMarker, "1", 1) != 0) return;
  execv("/proc/self/exe", argv);
  // exec failed (no /proc?): run on with the default policy.
  unsetenv("OMP_WAIT_POLICY");
}

bool OpenMpPolicyWasSetByChord() {
  const char* marker = std::getenv(kMarker);
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  return marker != nullptr && policy != nullptr && std::strcmp(policy, "PASSIVE") == 0;
}

}  // namespace chord::service
