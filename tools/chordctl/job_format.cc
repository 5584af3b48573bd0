#include "tools/chordctl/job_format.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace chord::chordctl {
namespace {

constexpr absl::string_view kStatePrefix = "JOB_STATE_";
constexpr absl::string_view kEventPrefix = "JOB_EVENT_";

// The metric or nullptr.
const double* Find(const std::map<std::string, double>& metrics, const std::string& name) {
  auto it = metrics.find(name);
  return it == metrics.end() ? nullptr : &it->second;
}

template <typename Map>
std::map<std::string, double> ToStdMap(const Map& map) {
  return std::map<std::string, double>(map.begin(), map.end());
}

// "%.<digits>f" of the metric, or "-".
std::string Metric(const std::map<std::string, double>& metrics, const std::string& name,
                   int digits) {
  const double* value = Find(metrics, name);
  if (value == nullptr || !std::isfinite(*value)) return "-";
  return absl::StrFormat("%.*f", digits, *value);
}

// Appends " <label> <value>" when the metric exists.
void AppendMetric(const std::map<std::string, double>& metrics, const std::string& name,
                  absl::string_view label, int digits, std::string* out) {
  if (Find(metrics, name) == nullptr) return;
  absl::StrAppend(out, " ", label, " ", Metric(metrics, name, digits));
}

// " accuracy A reward R length L" of an evaluation (the event line and `get` show the same).
void AppendEvalMetrics(const std::map<std::string, double>& metrics, std::string* out) {
  AppendMetric(metrics, "eval_accuracy", "accuracy", 3, out);
  AppendMetric(metrics, "eval_reward_mean", "reward", 3, out);
  AppendMetric(metrics, "eval_response_length", "length", 1, out);
}

std::string Age(int64_t since_ms, int64_t now_ms) {
  if (since_ms <= 0) return "-";
  return FormatDuration(static_cast<double>(std::max<int64_t>(0, now_ms - since_ms)) / 1000.0);
}

std::string Padded(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      if (i + 1 == row.size()) {
        line += row[i];
      } else {
        line += row[i] + std::string(widths[i] - row[i].size() + 2, ' ');
      }
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace

std::string JobStateName(chord::v1::JobState state) {
  std::string name = chord::v1::JobState_Name(state);
  if (absl::StartsWith(name, kStatePrefix)) name = name.substr(kStatePrefix.size());
  return name.empty() ? absl::StrCat("STATE_", static_cast<int>(state)) : name;
}

absl::StatusOr<chord::v1::JobState> ParseJobState(absl::string_view name) {
  std::string upper = absl::AsciiStrToUpper(name);
  std::vector<std::string> names;
  for (int value = chord::v1::JobState_MIN + 1; value <= chord::v1::JobState_MAX; ++value) {
    if (!chord::v1::JobState_IsValid(value)) continue;
    auto state = static_cast<chord::v1::JobState>(value);
    std::string known = JobStateName(state);
    if (upper == known) return state;
    names.push_back(absl::AsciiStrToLower(known));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown job state \"", name, "\" (states: ", absl::StrJoin(names, ", "), ")"));
}

bool IsTerminal(chord::v1::JobState state) {
  return state == chord::v1::JOB_STATE_SUCCEEDED || state == chord::v1::JOB_STATE_FAILED ||
         state == chord::v1::JOB_STATE_CANCELLED;
}

std::string JobEventTypeName(chord::v1::JobEventType type) {
  std::string name = chord::v1::JobEventType_Name(type);
  if (absl::StartsWith(name, kEventPrefix)) name = name.substr(kEventPrefix.size());
  return name.empty() ? absl::StrCat("EVENT_", static_cast<int>(type)) : name;
}

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  int64_t s = static_cast<int64_t>(std::llround(seconds));
  if (s < 60) return absl::StrCat(s, "s");
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  if (s < 86400) return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
  return absl::StrFormat("%dd%02dh", s / 86400, (s % 86400) / 3600);
}

std::string FormatCount(double value) {
  if (!std::isfinite(value)) return "-";
  double magnitude = std::fabs(value);
  if (magnitude < 999.5) return absl::StrFormat("%.0f", value);
  if (magnitude < 9950) return absl::StrFormat("%.1fk", value / 1e3);
  if (magnitude < 999500) return absl::StrFormat("%.0fk", value / 1e3);
  if (magnitude < 9.95e6) return absl::StrFormat("%.1fM", value / 1e6);
  return absl::StrFormat("%.0fM", value / 1e6);
}

std::string FormatTimestamp(int64_t unix_ms) {
  if (unix_ms <= 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%E3S", absl::FromUnixMillis(unix_ms),
                          absl::LocalTimeZone());
}

void EtaEstimator::AddStep(const chord::v1::JobEvent& step_event) {
  points_.emplace_back(step_event.unix_ms(), step_event.step());
  while (points_.size() > window_) points_.pop_front();
  auto it = step_event.metrics().find("step_seconds");
  if (it != step_event.metrics().end()) last_step_seconds_ = it->second;
}

double EtaEstimator::SecondsLeft(int64_t total_steps) const {
  if (points_.empty()) return -1;
  int64_t left = total_steps - points_.back().second;
  if (left <= 0) return 0;
  double per_step = -1;
  if (points_.size() >= 2) {
    int64_t steps = points_.back().second - points_.front().second;
    int64_t ms = points_.back().first - points_.front().first;
    if (steps > 0 && ms >= 0) per_step = static_cast<double>(ms) / 1000.0 / steps;
  }
  if (per_step < 0) per_step = last_step_seconds_;
  if (per_step < 0) return -1;
  return per_step * static_cast<double>(left);
}

std::string ProgressLine(const Progress& progress, int bar_width) {
  bar_width = std::max(bar_width, 1);
  double fraction = progress.total_steps > 0 ? static_cast<double>(progress.step) /
                                                   static_cast<double>(progress.total_steps)
                                             : 0.0;
  fraction = std::clamp(fraction, 0.0, 1.0);
  int filled = static_cast<int>(std::floor(fraction * bar_width));
  std::string bar;
  if (filled >= bar_width) {
    bar = std::string(bar_width, '=');
  } else {
    bar = std::string(filled, '=') + ">" + std::string(bar_width - filled - 1, ' ');
  }
  const auto& m = progress.step_metrics;
  std::string tokens = "-";
  if (const double* tps = Find(m, "tokens_per_second")) tokens = FormatCount(*tps);
  std::string line = absl::StrCat(
      "step ", progress.step, "/", progress.total_steps, " [", bar, "] reward ",
      Metric(m, "reward_mean", 2), " eval ", Metric(progress.eval_metrics, "eval_accuracy", 2),
      " mu ", Metric(m, "mu", 2), " loss ", Metric(m, "loss", 3), " ", tokens, " tok/s ETA ",
      progress.eta_seconds < 0 ? std::string("?") : FormatDuration(progress.eta_seconds));
  return line;
}

std::string EventText(const chord::v1::JobEvent& event) {
  const std::map<std::string, double> m = ToStdMap(event.metrics());
  switch (event.type()) {
    case chord::v1::JOB_EVENT_STATE: {
      std::string text = absl::StrCat("state ", JobStateName(event.state()));
      if (!event.message().empty()) absl::StrAppend(&text, ": ", event.message());
      return text;
    }
    case chord::v1::JOB_EVENT_STEP: {
      std::string text = absl::StrCat("step ", event.step(), "/", event.total_steps());
      AppendMetric(m, "reward_mean", "reward", 3, &text);
      AppendMetric(m, "mu", "mu", 3, &text);
      AppendMetric(m, "loss", "loss", 4, &text);
      AppendMetric(m, "pg_loss", "pg", 4, &text);
      AppendMetric(m, "sft_loss", "sft", 4, &text);
      AppendMetric(m, "train_accuracy", "train_acc", 2, &text);
      if (const double* tps = Find(m, "tokens_per_second")) {
        absl::StrAppend(&text, " ", FormatCount(*tps), " tok/s");
      }
      if (const double* seconds = Find(m, "step_seconds")) {
        absl::StrAppend(&text, absl::StrFormat(" %.2fs", *seconds));
      }
      return text;
    }
    case chord::v1::JOB_EVENT_EVAL: {
      std::string text = absl::StrCat("eval at step ", event.step(), ":");
      AppendEvalMetrics(m, &text);
      if (const double* samples = Find(m, "eval_samples")) {
        absl::StrAppend(&text, absl::StrFormat(" (%.0f samples)", *samples));
      }
      return text;
    }
    case chord::v1::JOB_EVENT_CHECKPOINT:
      return absl::StrCat("checkpoint at step ", event.step(), ": ", event.message());
    case chord::v1::JOB_EVENT_LOG:
      return absl::StrCat("log: ", event.message());
    default:
      return absl::StrCat(JobEventTypeName(event.type()), " ", event.message());
  }
}

std::string EventLogLine(const chord::v1::JobEvent& event) {
  return absl::StrCat(FormatTimestamp(event.unix_ms()), " ", EventText(event));
}

void WatchPrinter::ClearLine() {
  if (progress_shown_) {
    *out_ << "\r\x1b[K";
    progress_shown_ = false;
  }
}

void WatchPrinter::DrawProgress() {
  std::string line = ProgressLine(progress_, bar_width_);
  if (max_width_ > 0) {
    const size_t limit = static_cast<size_t>(std::max(max_width_ - 1, 1));
    int bar = bar_width_;
    while (line.size() > limit && bar > 5) line = ProgressLine(progress_, --bar);
    if (line.size() > limit) line.resize(limit);
  }
  *out_ << "\r" << line << "\x1b[K" << std::flush;
  progress_shown_ = true;
}

void WatchPrinter::OnEvent(const chord::v1::JobEvent& event) {
  if (event.total_steps() > 0) progress_.total_steps = event.total_steps();
  if (event.type() == chord::v1::JOB_EVENT_STEP) {
    progress_.step = event.step();
    progress_.step_metrics = ToStdMap(event.metrics());
    eta_.AddStep(event);
    progress_.eta_seconds = eta_.SecondsLeft(progress_.total_steps);
    if (terminal_) {
      DrawProgress();
    } else {
      std::string eta =
          progress_.eta_seconds < 0 ? std::string("?") : FormatDuration(progress_.eta_seconds);
      *out_ << EventText(event) << " ETA " << eta << std::endl;
    }
    return;
  }
  if (event.type() == chord::v1::JOB_EVENT_EVAL) progress_.eval_metrics = ToStdMap(event.metrics());
  if (terminal_) {
    bool redraw = progress_shown_;
    ClearLine();
    *out_ << EventText(event) << "\n";
    if (redraw) {
      DrawProgress();
    } else {
      *out_ << std::flush;
    }
  } else {
    *out_ << EventText(event) << std::endl;
  }
}

void WatchPrinter::Finish() {
  if (progress_shown_) {
    *out_ << "\n" << std::flush;
    progress_shown_ = false;
  }
}

std::string JobTable(const std::vector<chord::v1::JobStatus>& jobs, int64_t now_ms) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"ID", "NAME", "STATE", "STEP", "REWARD", "EVAL", "AGE"});
  for (const chord::v1::JobStatus& job : jobs) {
    const std::map<std::string, double> metrics = ToStdMap(job.metrics());
    const std::map<std::string, double> eval = ToStdMap(job.eval_metrics());
    rows.push_back({job.job_id(), job.name().empty() ? "-" : job.name(), JobStateName(job.state()),
                    absl::StrCat(job.step(), "/", job.total_steps()),
                    Metric(metrics, "reward_mean", 3), Metric(eval, "eval_accuracy", 3),
                    Age(job.created_unix_ms(), now_ms)});
  }
  return Padded(rows);
}

std::string JobSummary(const chord::v1::JobStatus& job, int64_t now_ms) {
  std::vector<std::vector<std::string>> rows;
  auto add = [&rows](const std::string& key, const std::string& value) {
    if (!value.empty()) rows.push_back({key, value});
  };
  add("job", job.job_id());
  add("name", job.name());
  add("state", JobStateName(job.state()));
  add("reason", job.reason());
  add("step", absl::StrCat(job.step(), "/", job.total_steps()));
  if (job.resume_count() > 0) add("resumes", absl::StrCat(job.resume_count()));
  if (job.created_unix_ms() > 0) {
    add("created", absl::StrCat(FormatTimestamp(job.created_unix_ms()), " (",
                                Age(job.created_unix_ms(), now_ms), " ago)"));
  }
  if (job.started_unix_ms() > 0) add("started", FormatTimestamp(job.started_unix_ms()));
  if (job.finished_unix_ms() > 0) {
    add("finished", FormatTimestamp(job.finished_unix_ms()));
    if (job.started_unix_ms() > 0) {
      add("duration",
          FormatDuration(static_cast<double>(job.finished_unix_ms() - job.started_unix_ms()) /
                         1000.0));
    }
  }
  const std::map<std::string, double> m = ToStdMap(job.metrics());
  if (!m.empty()) {
    std::string text;
    AppendMetric(m, "reward_mean", "reward", 3, &text);
    AppendMetric(m, "mu", "mu", 3, &text);
    AppendMetric(m, "loss", "loss", 4, &text);
    AppendMetric(m, "pg_loss", "pg_loss", 4, &text);
    AppendMetric(m, "sft_loss", "sft_loss", 4, &text);
    AppendMetric(m, "phi_mean", "phi", 3, &text);
    AppendMetric(m, "train_accuracy", "train_accuracy", 3, &text);
    if (const double* tps = Find(m, "tokens_per_second")) {
      absl::StrAppend(&text, " ", FormatCount(*tps), " tok/s");
    }
    add("last step", std::string(absl::StripLeadingAsciiWhitespace(text)));
  }
  const std::map<std::string, double> e = ToStdMap(job.eval_metrics());
  if (!e.empty()) {
    std::string text;
    AppendEvalMetrics(e, &text);
    add("last eval", std::string(absl::StripLeadingAsciiWhitespace(text)));
  }
  if (job.checkpoints_size() > 0) {
    add("checkpoint", job.checkpoints(job.checkpoints_size() - 1));
    if (job.checkpoints_size() > 1) {
      add("checkpoints", absl::StrCat(job.checkpoints_size(), " kept"));
    }
  }
  add("output", job.output_model());
  return Padded(rows);
}

nlohmann::json JobStatusToJson(const chord::v1::JobStatus& job) {
  nlohmann::json out = {
      {"job_id", job.job_id()},
      {"name", job.name()},
      {"state", JobStateName(job.state())},
      {"reason", job.reason()},
      {"created_unix_ms", job.created_unix_ms()},
      {"started_unix_ms", job.started_unix_ms()},
      {"finished_unix_ms", job.finished_unix_ms()},
      {"step", job.step()},
      {"total_steps", job.total_steps()},
      {"metrics", ToStdMap(job.metrics())},
      {"eval_metrics", ToStdMap(job.eval_metrics())},
      {"checkpoints", std::vector<std::string>(job.checkpoints().begin(), job.checkpoints().end())},
      {"output_model", job.output_model()},
      {"resume_count", job.resume_count()},
      {"spec_yaml", job.spec_yaml()},
  };
  return out;
}

nlohmann::json JobEventToJson(const chord::v1::JobEvent& event) {
  nlohmann::json out = {
      {"job_id", event.job_id()},
      {"sequence", event.sequence()},
      {"type", JobEventTypeName(event.type())},
      {"unix_ms", event.unix_ms()},
      {"step", event.step()},
      {"total_steps", event.total_steps()},
      {"metrics", ToStdMap(event.metrics())},
      {"message", event.message()},
  };
  if (event.type() == chord::v1::JOB_EVENT_STATE) out["state"] = JobStateName(event.state());
  return out;
}

}  // namespace chord::chordctl
