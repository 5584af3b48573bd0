#pragma once

// Whole-file reads and crash-safe writes. A file written with WriteFileAtomically is either the
// old content or the new content after a crash, never a mix: the data goes to a temp file in the
// same directory, is fsynced, renamed over the target, and the directory is fsynced.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace chord::files {

// "<what> <path>: <strerror(err)>" as NOT_FOUND (ENOENT), PERMISSION_DENIED (EACCES, EPERM) or
// INTERNAL (any other errno: an I/O error, a full disk, too many open files).
absl::Status ErrnoStatus(absl::string_view what, const std::string& path, int err);

// Reads a whole file. NOT_FOUND when it does not exist; the message names the path.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Replaces `path` with `content` atomically (see above). INTERNAL with the path on I/O errors.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view content);

// fsyncs a directory so that renames and creations inside it are durable.
absl::Status SyncDirectory(const std::string& dir);

}  // namespace chord::files
