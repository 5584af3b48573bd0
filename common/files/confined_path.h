#pragma once

// Paths a caller names, confined to directories the operator chose. A service that reads files on
// behalf of a remote caller (the expert buffer's datasets, the learner's models) resolves every
// path with a ConfinedRoots first, so that a caller cannot make it read outside them.
//
// Resolution:
//  - a relative path is taken relative to the first root;
//  - symlinks are resolved (std::filesystem::weakly_canonical), then the result must be one of the
//    roots or lie below one (compared by whole path components, so /data2 is not under /data);
//  - `..` cannot escape: it is resolved before the comparison.
// ReadFile also opens the resolved path with O_NOFOLLOW | O_NONBLOCK (a FIFO neither blocks nor is
// read), accepts regular files only, checks again (through /proc/self/fd) that the opened file is
// still under a root, and refuses files larger than the cap.
//
// Error codes (every message names the path the caller gave):
//   PERMISSION_DENIED  the path resolves outside every root;
//   INVALID_ARGUMENT   not a regular file (directory, FIFO, device, socket), or larger than the
//   cap; NOT_FOUND          it does not exist.
//
// Thread-safe (immutable after Create).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace chord::files {

class ConfinedRoots {
 public:
  // `roots`: directories (at least one; each must exist). They are stored resolved (absolute,
  // symlinks followed). INVALID_ARGUMENT naming `what` (e.g. "--data_root") for an empty list or
  // a root that is missing or not a directory.
  static absl::StatusOr<ConfinedRoots> Create(const std::vector<std::string>& roots,
                                              absl::string_view what);

  // The resolved absolute path of `path` if it lies under a root (see above); the path need not
  // exist. PERMISSION_DENIED otherwise, or INVALID_ARGUMENT for an empty path.
  absl::StatusOr<std::string> Resolve(const std::string& path) const;

  // Reads the regular file `path` under a root, at most `max_bytes` bytes (error codes above).
  absl::StatusOr<std::string> ReadFile(const std::string& path, int64_t max_bytes) const;

  // The resolved roots, in the order given.
  const std::vector<std::string>& roots() const { return roots_; }

  // The roots joined with ", " (for messages).
  std::string Describe() const;

 private:
  ConfinedRoots(std::vector<std::string> roots, std::string what)
      : roots_(std::move(roots)), what_(std::move(what)) {}

  bool Contains(const std::string& resolved) const;

  std::vector<std::string> roots_;
  // The setting the roots come from, named in messages.
  std::string what_;
};

}  // namespace chord::files
