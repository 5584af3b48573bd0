#pragma once

// What the benchmark tools measure about their own process: CPU time and resident memory.
// Linux only (/proc/self/status, /proc/self/clear_refs).

#include <cstdint>

namespace chord::bench {

// CPU seconds (user + system) of the whole process so far, all threads. On a busy machine wall
// time says little; CPU time says what the work costs.
double CpuSeconds();

// Resident set size now, in bytes (VmRSS; 0 when unreadable).
int64_t CurrentRssBytes();

// Peak resident set size in bytes (VmHWM; getrusage's ru_maxrss when /proc is unreadable).
int64_t PeakRssBytes();

// Resets the peak (VmHWM) to the current RSS (Linux >= 4.0); false when not permitted.
bool ResetPeakRss();

// The same of another process (a service a benchmark started): its resident set size now and its
// peak, in bytes (VmRSS / VmHWM of /proc/<pid>/status; -1 when unreadable), and a reset of its
// peak (needs the right to write /proc/<pid>/clear_refs: the same user).
int64_t RssBytesOf(int pid);
int64_t PeakRssBytesOf(int pid);
bool ResetPeakRssOf(int pid);

}  // namespace chord::bench
