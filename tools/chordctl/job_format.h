#pragma once

// How chordctl shows jobs and their events: state names, durations, the job table of `list`, the
// summary of `get`, one line per event (`watch` without a terminal, `logs`), the live progress
// line of `watch` on a terminal, and the JSON forms. Pure functions of their inputs (the current
// time is a parameter), so every format is unit-tested.

#include <cstdint>
#include <deque>
#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "chord/v1/learner.pb.h"
#include "nlohmann/json.hpp"

namespace chord::chordctl {

// "QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED" ("UNSPECIFIED" for 0).
std::string JobStateName(chord::v1::JobState state);

// Parses a state name in any case ("running", "RUNNING"); INVALID_ARGUMENT listing the names.
absl::StatusOr<chord::v1::JobState> ParseJobState(absl::string_view name);

// True for SUCCEEDED, FAILED and CANCELLED.
bool IsTerminal(chord::v1::JobState state);

// "STATE", "STEP", "EVAL", "CHECKPOINT", "LOG".
std::string JobEventTypeName(chord::v1::JobEventType type);

// A duration for humans: "45s", "2m10s", "1h05m", "3d04h"; "?" when negative or not finite.
std::string FormatDuration(double seconds);

// A count for humans: "950", "1.9k", "12k", "3.4M".
std::string FormatCount(double value);

// Local time "2024-05-01 12:00:00.123"; "-" for 0.
std::string FormatTimestamp(int64_t unix_ms);

// Estimates the time left from the STEP events seen: the wall-clock time per step over the last
// `window` steps (evaluations and checkpoints included), or the last step's `step_seconds` while
// fewer than two steps were seen.
class EtaEstimator {
 public:
  explicit EtaEstimator(size_t window = 20) : window_(window) {}
  void AddStep(const chord::v1::JobEvent& step_event);
  // Seconds until `total_steps`; negative when unknown.
  double SecondsLeft(int64_t total_steps) const;

 private:
  size_t window_;
  // (unix_ms, step) of the latest steps.
  std::deque<std::pair<int64_t, int64_t>> points_;
  double last_step_seconds_ = -1;
};

// What the progress line shows.
struct Progress {
  int64_t step = 0;
  int64_t total_steps = 0;
  // Metrics of the latest STEP event and the latest EVAL event.
  std::map<std::string, double> step_metrics;
  std::map<std::string, double> eval_metrics;
  // Negative: unknown.
  double eta_seconds = -1;
};

// The single updating line of `watch` on a terminal:
//   step 37/120 [=======>            ] reward 0.61 eval 0.72 mu 0.10 loss 0.213 1.9k tok/s ETA
//   2m10s
// Values not known yet show as "-". `bar_width` is the number of cells between the brackets.
std::string ProgressLine(const Progress& progress, int bar_width = 20);

// One line describing an event (without time), e.g.
//   state RUNNING
//   step 3/120 reward 0.625 mu 0.100 loss 0.2130 pg 0.0120 sft 0.4100 train_acc 0.62 ...
//   eval at step 50: accuracy 0.720 reward 0.720 length 12.3 (200 samples)
//   checkpoint at step 100: /state/jobs/j1/checkpoints/step-100
//   log: stage chord-phi starts at step 1 (120 steps)
// (the step line ends with tokens/s and the step time: "... 1.9k tok/s 1.23s").
std::string EventText(const chord::v1::JobEvent& event);

// `logs`: "<timestamp> <event text>".
std::string EventLogLine(const chord::v1::JobEvent& event);

// Prints the events of `watch`. On a terminal: STEP events update one line in place (`\r`, clear
// to end of line); other events are printed as lines above it. Otherwise one plain line per event
// (STEP lines end with the ETA). Call Finish() before printing anything else.
class WatchPrinter {
 public:
  // `max_width` (terminal columns; 0: unlimited) bounds the progress line: the bar shrinks first
  // (to 5 cells), then the line is cut, so that it never wraps (a wrapped line cannot be redrawn
  // in place).
  WatchPrinter(std::ostream* out, bool terminal, int bar_width = 20, int max_width = 0)
      : out_(out), terminal_(terminal), bar_width_(bar_width), max_width_(max_width) {}
  void OnEvent(const chord::v1::JobEvent& event);
  // Ends the progress line (a newline) if one is shown.
  void Finish();
  const Progress& progress() const { return progress_; }

 private:
  void ClearLine();
  void DrawProgress();

  std::ostream* out_;
  bool terminal_;
  int bar_width_;
  int max_width_;
  Progress progress_;
  EtaEstimator eta_;
  bool progress_shown_ = false;
};

// The table of `list`: ID, NAME, STATE, STEP, REWARD, EVAL, AGE (age relative to `now_ms`),
// columns padded to their widest cell; a header line even when `jobs` is empty.
std::string JobTable(const std::vector<chord::v1::JobStatus>& jobs, int64_t now_ms);

// The summary of `get`: one "key  value" line per field that has a value ("resumes N" once the
// job was resumed by request).
std::string JobSummary(const chord::v1::JobStatus& job, int64_t now_ms);

// JSON forms (numbers as numbers, states and event types as names).
nlohmann::json JobStatusToJson(const chord::v1::JobStatus& job);
nlohmann::json JobEventToJson(const chord::v1::JobEvent& event);

}  // namespace chord::chordctl
