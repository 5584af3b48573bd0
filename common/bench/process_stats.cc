#include "common/bench/process_stats.h"

#include <sys/resource.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace chord::bench {
namespace {

// A "Name:   1234 kB" line of `path` (a /proc/<pid>/status), in bytes; -1 when absent.
int64_t StatusKbField(absl::string_view name, const std::string& path = "/proc/self/status") {
  std::ifstream status(path);
  std::string line;
  while (std::getline(status, line)) {
    absl::string_view view(line);
    if (!absl::ConsumePrefix(&view, name) || !absl::ConsumePrefix(&view, ":")) continue;
    std::vector<absl::string_view> parts =
        absl::StrSplit(view, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    int64_t kb = 0;
    if (!parts.empty() && absl::SimpleAtoi(parts[0], &kb)) return kb * 1024;
  }
  return -1;
}

double Seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

}  // namespace

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return Seconds(usage.ru_utime) + Seconds(usage.ru_stime);
}

int64_t CurrentRssBytes() {
  const int64_t rss = StatusKbField("VmRSS");
  return rss < 0 ? 0 : rss;
}

int64_t PeakRssBytes() {
  const int64_t peak = StatusKbField("VmHWM");
  if (peak >= 0) return peak;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;
}

bool ResetPeakRss() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
  clear.flush();
  return clear.good();
}

int64_t RssBytesOf(int pid) {
  return StatusKbField("VmRSS", "/proc/" + std::to_string(pid) + "/status");
}

int64_t PeakRssBytesOf(int pid) {
  return StatusKbField("VmHWM", "/proc/" + std::to_string(pid) + "/status");
}

bool ResetPeakRssOf(int pid) {
  std::ofstream clear("/proc/" + std::to_string(pid) + "/clear_refs");
  clear << "5";
  clear.flush();
  return clear.good();
}

}  // namespace chord::bench
