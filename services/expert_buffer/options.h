#pragma once

// Settings of the expert buffer core (main.cc maps its flags onto them).

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace chord::expert_buffer {

struct ExpertBufferOptions {
  // Directory where the buffer records which datasets are loaded (manifest.json) and keeps copies
  // of datasets sent inline, so that a restarted service serves the same datasets and old cursors
  // keep working. Created if missing. Empty: nothing survives a restart.
  std::string state_dir;
  // Threads that parse one dataset in parallel; 0 means std::thread::hardware_concurrency().
  int load_threads = 0;
  // Longest JSONL line a dataset may have, in bytes.
  size_t max_line_bytes = 16u << 20;
  // Largest `n` one Sample call may ask for.
  int max_sample = 65536;
  // Directories datasets loaded by path must lie under (after symlinks are resolved; see
  // common/files/confined_path.h); a relative path is taken relative to the first. Anything else
  // is refused with PERMISSION_DENIED. Empty: any path of this machine (library use and tests;
  // the chord-expert-buffer binary always sets it, from --data_root).
  std::vector<std::string> data_roots;
  // Largest dataset file (or inline content) one load may read, in bytes.
  int64_t max_dataset_bytes = int64_t{1} << 30;
};

}  // namespace chord::expert_buffer
