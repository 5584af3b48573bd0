#pragma once

// Name -> verifier. The reward service builds one registry at start-up (CreateDefault registers
// the built-ins) and shares it read-only with every worker: Register is not thread-safe and must
// happen before the registry is shared; Find/List are then safe from any thread.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "services/reward/math_boxed_verifier.h"
#include "services/reward/verifier.h"

namespace chord::reward {

struct DefaultVerifierOptions {
  // Options of the math_boxed verifier (relative tolerance; default 1e-6).
  MathBoxedOptions math_boxed;
};

class VerifierRegistry {
 public:
  VerifierRegistry() = default;
  VerifierRegistry(const VerifierRegistry&) = delete;
  VerifierRegistry& operator=(const VerifierRegistry&) = delete;

  // A registry holding the built-ins: math_boxed, arithmetic, countdown, tool_call.
  static std::unique_ptr<VerifierRegistry> CreateDefault(
      const DefaultVerifierOptions& options = {});

  // Adds `verifier` under its name(). INVALID_ARGUMENT for a null verifier or a name that is not
  // [a-z0-9_]+; ALREADY_EXISTS when the name is taken.
  absl::Status Register(std::unique_ptr<Verifier> verifier);

  // The verifier called `name`, or null.
  const Verifier* Find(absl::string_view name) const;

  // Every verifier, sorted by name.
  std::vector<const Verifier*> List() const;

  // "arithmetic, countdown, math_boxed, tool_call" (for error messages).
  std::string KnownNames() const;

 private:
  std::map<std::string, std::unique_ptr<Verifier>, std::less<>> verifiers_;
};

}  // namespace chord::reward
