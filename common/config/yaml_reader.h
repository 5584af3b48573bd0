#pragma once

// Strict reading of YAML documents (job specs, config files): every problem is collected with its
// key path and line instead of stopping at the first, unknown keys are problems, and types are
// checked. Problems read like "spec.yaml:12: sampling.top_p: expected a number, got \"high\"".
//
//   std::vector<std::string> problems;
//   YamlReader root(node, "spec.yaml", &problems);
//   root.Read("name", &spec.name, /*required=*/true);
//   YamlReader sampling = root.Child("sampling");
//   sampling.Read("top_p", &spec.top_p);
//   root.Finish();      // reports keys nobody read, recursively for children already finished
//
// Not thread-safe; cheap to copy (children share the problem list).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "yaml-cpp/yaml.h"

namespace chord::config {

// Parses YAML text. INVALID_ARGUMENT "<source>:<line>: invalid YAML: ..." on syntax errors.
absl::StatusOr<YAML::Node> ParseYaml(const std::string& text, const std::string& source);

class YamlReader {
 public:
  // `node` must be a mapping or null (null reads as an empty mapping); anything else is a problem.
  YamlReader(YAML::Node node, std::string source, std::vector<std::string>* problems,
             std::string path = "");

  // Reads `key` into `out` when present; a missing required key is a problem. Returns true when
  // the key was present and valid.
  bool Read(const std::string& key, std::string* out, bool required = false);
  bool Read(const std::string& key, int64_t* out, bool required = false);
  bool Read(const std::string& key, int* out, bool required = false);
  bool Read(const std::string& key, double* out, bool required = false);
  bool Read(const std::string& key, bool* out, bool required = false);
  bool Read(const std::string& key, uint64_t* out, bool required = false);
  // A sequence of scalars (a single scalar reads as a one-element list).
  bool Read(const std::string& key, std::vector<std::string>* out, bool required = false);

  // The mapping under `key` (empty when absent; a problem when present but not a mapping).
  YamlReader Child(const std::string& key, bool required = false);

  // True when the key is present.
  bool Has(const std::string& key) const;

  // The raw node of a key (marks it read; undefined when absent), for values with their own
  // parser.
  YAML::Node Raw(const std::string& key);

  // Every key of this mapping, in document order.
  std::vector<std::string> Keys() const;

  // Scalar text of a key (sequences joined with ","), marking it read; for pass-through parsers.
  std::string ScalarText(const std::string& key);

  // Records a problem at `key` (its line when present).
  void Problem(const std::string& key, const std::string& message);

  // Reports every key of this mapping that was not read.
  void Finish();

  // "<path>.<key>" (or "<key>" at the top).
  std::string PathOf(const std::string& key) const;

 private:
  std::string Where(const std::string& key) const;
  // Marks `key` read; false (and a problem when required) when it is absent or null.
  bool Lookup(const std::string& key, bool required, YAML::Node* value);

  YAML::Node node_;
  std::string source_;
  std::vector<std::string>* problems_;
  std::string path_;
  std::vector<std::string> read_;
};

// Joins problems into one INVALID_ARGUMENT status ("N problems:\n  - ...") or OK when empty.
absl::Status ProblemsToStatus(const std::vector<std::string>& problems, absl::string_view what);

}  // namespace chord::config
