#pragma once

// `chordctl submit FILE --set KEY.PATH=VALUE`: changes keys of a YAML job spec before it is sent,
// so one spec file serves several runs (the quickstart sets its model and dataset paths this way).
//
//   --set steps=20                       top-level key
//   --set algorithm.lr=1e-3              nested key (maps are created when missing)
//   --set datasets.tasks.path=/data/t.jsonl
//   --set services.rollout_workers=[a:1,b:2]   the value is read as YAML (a list here)
//
// The value is parsed as YAML (a scalar, a [list] or a {map}); text that is not valid YAML is
// kept as a string. Without overrides the file is sent byte for byte (the server's problems then
// cite its lines); with overrides the document is re-emitted, so lines may shift.

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace chord::chordctl {

// Applies "KEY.PATH=VALUE" overrides in order to the YAML document `yaml_text` (from `source`,
// for errors). INVALID_ARGUMENT for a malformed override ("--set x: expected KEY=VALUE"), a
// document that is not a YAML map, or a path through a value that is not a map.
absl::StatusOr<std::string> ApplySpecOverrides(const std::string& yaml_text,
                                               const std::string& source,
                                               const std::vector<std::string>& overrides);

}  // namespace chord::chordctl
