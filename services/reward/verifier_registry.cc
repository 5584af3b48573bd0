#include "services/reward/verifier_registry.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/reward/arithmetic_verifier.h"
#include "services/reward/countdown_verifier.h"
#include "services/reward/tool_call_verifier.h"

namespace chord::reward {

std::unique_ptr<VerifierRegistry> VerifierRegistry::CreateDefault(
    const DefaultVerifierOptions& options) {
  auto registry = std::make_unique<VerifierRegistry>();
  // The built-in names are distinct and valid: these cannot fail.
  (void)registry->Register(std::make_unique<MathBoxedVerifier>(options.math_boxed));
  (void)registry->Register(std::make_unique<ArithmeticVerifier>());
  (void)registry->Register(std::make_unique<CountdownVerifier>());
  (void)registry->Register(std::make_unique<ToolCallVerifier>());
  return registry;
}

absl::Status VerifierRegistry::Register(std::unique_ptr<Verifier> verifier) {
  if (verifier == nullptr) return absl::InvalidArgumentError("null verifier");
  absl::string_view name = verifier->name();
  bool valid = !name.empty();
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) valid = false;
  }
  if (!valid) {
    return absl::InvalidArgumentError(
        absl::StrCat("verifier name \"", name, "\" is not [a-z0-9_]+"));
  }
  if (verifiers_.count(name) > 0) {
    return absl::AlreadyExistsError(absl::StrCat("verifier \"", name, "\" is already registered"));
  }
  verifiers_.emplace(std::string(name), std::move(verifier));
  return absl::OkStatus();
}

const Verifier* VerifierRegistry::Find(absl::string_view name) const {
  auto it = verifiers_.find(name);
  return it == verifiers_.end() ? nullptr : it->second.get();
}

std::vector<const Verifier*> VerifierRegistry::List() const {
  std::vector<const Verifier*> list;
  list.reserve(verifiers_.size());
  for (const auto& [name, verifier] : verifiers_) list.push_back(verifier.get());
  return list;
}

std::string VerifierRegistry::KnownNames() const {
  std::vector<absl::string_view> names;
  for (const auto& [name, verifier] : verifiers_) names.push_back(name);
  return absl::StrJoin(names, ", ");
}

}  // namespace chord::reward
