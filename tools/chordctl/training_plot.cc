#include "tools/chordctl/training_plot.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "common/files/file_io.h"
#include "common/status/status_macros.h"
#include "tools/chordctl/local_cluster.h"

namespace chord::chordctl {
namespace {

namespace fs = std::filesystem;

using Series = std::vector<std::pair<int64_t, double>>;

// Sets the value of `step` in `series` (a resumed job repeats steps: the latest value wins).
void Put(Series* series, int64_t step, double value) {
  if (!std::isfinite(value)) return;
  while (!series->empty() && series->back().first >= step) series->pop_back();
  series->push_back({step, value});
}

void PutMetric(const chord::v1::JobEvent& event, const char* name, Series* series) {
  auto it = event.metrics().find(name);
  if (it != event.metrics().end()) Put(series, event.step(), it->second);
}

// A string as a gnuplot double-quoted literal.
std::string Quoted(const std::string& text) {
  return absl::StrCat("\"", absl::StrReplaceAll(text, {{"\\", "\\\\"}, {"\"", "\\\""}}), "\"");
}

// "$name << EOD ... EOD": the points as an inline data block.
std::string DataBlock(const std::string& name, const Series& series) {
  std::string out = absl::StrCat("$", name, " << EOD\n");
  for (const auto& [step, value] : series) absl::StrAppendFormat(&out, "%d %.9g\n", step, value);
  return out + "EOD\n";
}

struct Curve {
  std::string block;  // data block name
  std::string title;
  const Series* series;
  std::string style;  // gnuplot "with ..." and line colour
};

// One panel of the multiplot: its curves (those without points left out), or a note.
std::string Panel(const std::string& title, const std::string& ylabel,
                  const std::vector<Curve>& curves, const std::string& yrange) {
  std::string out = absl::StrCat("set title ", Quoted(title), "\nset ylabel ", Quoted(ylabel),
                                 "\nset yrange ", yrange, "\n");
  std::vector<std::string> plots;
  for (const Curve& c : curves) {
    if (c.series->empty()) continue;
    plots.push_back(
        absl::StrCat("$", c.block, " using 1:2 with ", c.style, " title ", Quoted(c.title)));
  }
  if (plots.empty()) {
    absl::StrAppend(&out, "set label 99 ", Quoted("no values in the job's events"),
                    " at graph 0.5, 0.5 center\n",
                    // A constant above the y range: axes without a curve (gnuplot refuses to plot
                    // nothing at all).
                    "plot [] [0:1] 2 notitle\nunset label 99\n");
  } else {
    absl::StrAppend(&out, "plot ", absl::StrJoin(plots, ", \\\n     "), "\n");
  }
  return out;
}

}  // namespace

TrainingCurves CurvesFromEvents(const std::vector<chord::v1::JobEvent>& events) {
  TrainingCurves curves;
  for (const chord::v1::JobEvent& event : events) {
    if (curves.job_id.empty()) curves.job_id = event.job_id();
    if (event.total_steps() > 0) curves.total_steps = event.total_steps();
    switch (event.type()) {
      case chord::v1::JOB_EVENT_STEP:
        PutMetric(event, "reward_mean", &curves.reward);
        PutMetric(event, "mu", &curves.mu);
        PutMetric(event, "loss", &curves.loss);
        PutMetric(event, "pg_loss", &curves.pg_loss);
        PutMetric(event, "sft_loss", &curves.sft_loss);
        break;
      case chord::v1::JOB_EVENT_EVAL:
        PutMetric(event, "eval_accuracy", &curves.eval_accuracy);
        break;
      case chord::v1::JOB_EVENT_LOG: {
        // "stage <name> starts at step <n> (<steps> steps, ...)" (services/learner/driver.cc).
        absl::string_view text = event.message();
        if (!absl::ConsumePrefix(&text, "stage ")) break;
        size_t at = text.find(" starts at step ");
        if (at == absl::string_view::npos) break;
        std::string name(text.substr(0, at));
        absl::string_view rest = text.substr(at + 16);
        size_t end = rest.find_first_not_of("0123456789");
        int64_t step = 0;
        if (!absl::SimpleAtoi(rest.substr(0, end), &step)) break;
        while (!curves.stages.empty() && curves.stages.back().first >= step) {
          curves.stages.pop_back();
        }
        curves.stages.push_back({step, name});
        break;
      }
      default:
        break;
    }
  }
  curves.title = curves.job_id;
  return curves;
}

std::string GnuplotScript(const TrainingCurves& curves, const std::string& png_path,
                          const PlotOptions& options) {
  std::string out = absl::StrCat(
      "# chordctl plot: training curves of job ", curves.job_id, "\n",
      "set terminal pngcairo size ", options.width, ",", options.height,
      " noenhanced font \"sans,10\" background rgb \"white\"\n", "set output ", Quoted(png_path),
      "\n", "set encoding utf8\nset grid lc rgb \"#dddddd\"\nset key top right box opaque\n",
      "set xlabel \"step\"\nset border lc rgb \"#444444\"\n");
  int64_t last_step = curves.total_steps;
  for (const Series* s : {&curves.reward, &curves.eval_accuracy, &curves.mu, &curves.loss}) {
    if (!s->empty()) last_step = std::max(last_step, s->back().first);
  }
  absl::StrAppend(&out, "set xrange [0:", std::max<int64_t>(1, last_step), "]\n");
  // Stage boundaries: a dashed vertical line at each stage's first step (but step 1) and the
  // stage's name at the top of every panel.
  int index = 1;
  for (const auto& [step, name] : curves.stages) {
    double x = static_cast<double>(step) - 0.5;
    if (step > 1) {
      absl::StrAppendFormat(&out,
                            "set arrow %d from %.1f, graph 0 to %.1f, graph 1 nohead dt 2 lw 1.5 "
                            "lc rgb \"#7f7f7f\"\n",
                            index, x, x);
    }
    absl::StrAppendFormat(&out,
                          "set label %d %s at %.1f, graph 0.97 left offset 0.5,0 tc rgb "
                          "\"#555555\" font \",9\"\n",
                          index, Quoted(name), std::max(0.0, x));
    ++index;
  }
  absl::StrAppend(&out, DataBlock("reward", curves.reward),
                  DataBlock("eval_accuracy", curves.eval_accuracy), DataBlock("mu", curves.mu),
                  DataBlock("loss", curves.loss), DataBlock("pg_loss", curves.pg_loss),
                  DataBlock("sft_loss", curves.sft_loss));
  absl::StrAppend(&out, "set multiplot layout 2,2 title ",
                  Quoted(absl::StrCat("Chord job ", curves.title)), " font \",12\"\n");
  absl::StrAppend(&out,
                  Panel("Training reward", "reward (mean of the step's rollouts)",
                        {{"reward", "reward_mean", &curves.reward,
                          "linespoints pt 7 ps 0.4 lc rgb \"#1f77b4\""}},
                        "[*:*]"),
                  Panel("Held-out accuracy", "accuracy",
                        {{"eval_accuracy", "eval_accuracy", &curves.eval_accuracy,
                          "linespoints pt 7 ps 0.8 lc rgb \"#2ca02c\""}},
                        "[0:1]"),
                  Panel("mu (weight of the SFT term)", "mu",
                        {{"mu", "mu", &curves.mu, "lines lw 2 lc rgb \"#9467bd\""}}, "[0:*]"),
                  Panel("Loss", "loss",
                        {{"loss", "loss", &curves.loss, "lines lw 2 lc rgb \"#d62728\""},
                         {"pg_loss", "pg_loss", &curves.pg_loss, "lines lc rgb \"#ff7f0e\""},
                         {"sft_loss", "sft_loss", &curves.sft_loss, "lines lc rgb \"#8c564b\""}},
                        "[*:*]"));
  absl::StrAppend(&out, "unset multiplot\nset output\n");
  return out;
}

absl::Status RunGnuplot(const std::string& gnuplot_binary, const std::string& script,
                        const std::string& png_path) {
  if (access(gnuplot_binary.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat(gnuplot_binary,
                                            ": not found or not executable (install Debian's "
                                            "gnuplot-nox, or pass --gnuplot)"));
  }
  std::error_code ec;
  std::string dir = (fs::temp_directory_path(ec) / "chordctl-plot-XXXXXX").string();
  if (mkdtemp(dir.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("cannot create a temporary directory ", dir));
  }
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ignored;
      fs::remove_all(dir, ignored);
    }
  } cleanup{dir};
  const std::string script_path = dir + "/curves.gp";
  const std::string log_path = dir + "/gnuplot.log";
  RETURN_IF_ERROR(files::WriteFileAtomically(script_path, script));
  fs::remove(png_path, ec);
  ASSIGN_OR_RETURN(pid_t pid, SpawnWithLog({gnuplot_binary, script_path}, {}, log_path));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::string messages(absl::StripAsciiWhitespace(process::TailOfFile(log_path, 20)));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(
        absl::StrCat("gnuplot failed (wait status ", status, "): ", messages));
  }
  if (fs::file_size(png_path, ec) == 0 || ec) {
    return absl::InternalError(absl::StrCat("gnuplot wrote no picture to ", png_path,
                                            messages.empty() ? "" : ": ", messages));
  }
  return absl::OkStatus();
}

}  // namespace chord::chordctl
