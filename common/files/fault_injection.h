#pragma once

// A seam for disk-fault tests. Chord's file operations (file_io.h, the learner's checkpoints)
// ask FaultFor(op, path) before they touch the disk and fail with the errno a test injected:
// ENOSPC for a full disk, EIO for a failing device or fsync. Nothing is injected in production;
// the check then costs one relaxed atomic load.
//
//   files::InjectFault(files::FileOp::kSync, "/checkpoints/", EIO);
//   ... the next fsync of a path containing "/checkpoints/" fails with EIO ...
//   files::ClearFaults();

#include <string>

#include "absl/strings/string_view.h"

namespace chord::files {

enum class FileOp { kOpen, kRead, kWrite, kSync, kRename };

// The next `times` operations `op` on a path that contains `path_part` fail with `err`.
void InjectFault(FileOp op, std::string path_part, int err, int times = 1);

// Removes every injected fault that is not used up yet.
void ClearFaults();

// 0, or the errno the operation `op` on `path` must fail with (using up one injected fault).
int FaultFor(FileOp op, absl::string_view path);

}  // namespace chord::files
