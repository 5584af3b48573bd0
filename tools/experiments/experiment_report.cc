#include "tools/experiments/experiment_report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/files/file_io.h"
#include "common/status/status_macros.h"
#include "tools/chordctl/training_plot.h"
#include "tools/datasets/long_form_addition.h"

namespace chord::experiments {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

absl::StatusOr<json> ParseJson(absl::string_view text, const std::string& where) {
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(where, ": not JSON"));
  return value;
}

absl::StatusOr<double> Number(const json& object, const char* key, const std::string& where) {
  if (!object.is_object() || !object.contains(key) || !object[key].is_number()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", key, ": missing or not a number"));
  }
  return object[key].get<double>();
}

// A `chordctl eval --json` object: its accuracy and the share of its examples in the long form.
struct EvalResult {
  double accuracy = 0;
  double long_form = 0;
};

absl::StatusOr<EvalResult> ReadEvalFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, files::ReadFile(path));
  ASSIGN_OR_RETURN(json eval, ParseJson(absl::StripAsciiWhitespace(text), path));
  EvalResult result;
  ASSIGN_OR_RETURN(result.accuracy, Number(eval, "accuracy", path));
  if (eval.contains("examples") && eval["examples"].is_array() && !eval["examples"].empty()) {
    int64_t long_form = 0;
    for (const json& example : eval["examples"]) {
      if (example.contains("response") && example["response"].is_string() &&
          datasets::IsLongForm(example["response"].get<std::string>())) {
        ++long_form;
      }
    }
    result.long_form = static_cast<double>(long_form) / eval["examples"].size();
  }
  return result;
}

// Calls `line_fn(line, where)` for every non-blank line of a JSONL file.
template <typename Fn>
absl::Status ForEachJsonLine(const std::string& path, Fn&& line_fn) {
  ASSIGN_OR_RETURN(std::string text, files::ReadFile(path));
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    std::string where = absl::StrCat(path, ":", line_number);
    ASSIGN_OR_RETURN(json value, ParseJson(line, where));
    RETURN_IF_ERROR(line_fn(value, where));
  }
  return absl::OkStatus();
}

void Put(Curve* curve, int64_t step, double value) {
  while (!curve->empty() && curve->back().first >= step) curve->pop_back();
  curve->push_back({step, value});
}

std::string Percent(double v) { return absl::StrFormat("%.1f", 100 * v); }

// "57.3 ± 2.1 (55.0-59.5)" in percent; one value alone for a single seed.
std::string SpreadText(const Spread& s) {
  if (s.n <= 1) return Percent(s.mean);
  return absl::StrCat(Percent(s.mean), " ± ", Percent(s.std), " (", Percent(s.min), "-",
                      Percent(s.max), ")");
}

json SpreadJson(const Spread& s) {
  return {{"n", s.n}, {"mean", s.mean}, {"std", s.std}, {"min", s.min}, {"max", s.max}};
}

// The colours of the arms, in arms-file order (matplotlib's tab10, as chordctl plot uses).
constexpr const char* kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string Quoted(const std::string& text) {
  return absl::StrCat("\"", absl::StrReplaceAll(text, {{"\\", "\\\\"}, {"\"", "\\\""}}), "\"");
}

struct ArmResult {
  Arm arm;
  std::vector<Run> runs;
  Spread target_final, target_best, base_final, long_form_target, long_form_base, minutes;
  SpreadCurve target, base;
};

// The two panels (target task, base task): per arm the mean over seeds as a line and the
// min-max range as a band.
std::string CurvesScript(const std::vector<ArmResult>& arms, const std::string& png_path,
                         int64_t seeds) {
  std::string out = absl::StrCat(
      "# chord-experiments report: held-out accuracy of every arm against step\n",
      "set terminal pngcairo size 1400,560 noenhanced font \"sans,10\" background rgb \"white\"\n",
      "set output ", Quoted(png_path), "\n",
      "set encoding utf8\nset grid lc rgb \"#dddddd\"\nset border lc rgb \"#444444\"\n",
      "set xlabel \"step\"\nset ylabel \"held-out accuracy\"\nset yrange [0:1]\n",
      "set key outside right top vertical Left reverse samplen 2\n");
  for (size_t a = 0; a < arms.size(); ++a) {
    for (const auto& [name, curve] :
         {std::pair{"target", &arms[a].target}, {"base", &arms[a].base}}) {
      absl::StrAppend(&out, "$", name, a, " << EOD\n");
      for (size_t i = 0; i < curve->steps.size(); ++i) {
        const Spread& s = curve->values[i];
        absl::StrAppendFormat(&out, "%d %.6g %.6g %.6g\n", curve->steps[i], s.mean, s.min, s.max);
      }
      absl::StrAppend(&out, "EOD\n");
    }
  }
  std::string band = seeds > 1 ? absl::StrCat("mean of ", seeds, " seeds, band min-max") : "1 seed";
  absl::StrAppend(&out, "set multiplot layout 1,2 title ",
                  Quoted(absl::StrCat("CHORD comparison at small scale (", band, ")")),
                  " font \",12\"\n");
  for (const auto& [name, title] :
       {std::pair{"target", "Target task: 2-3 digit addition (expert in the long form)"},
        {"base", "Base task: 1-2 digit addition (retention)"}}) {
    std::vector<std::string> plots;
    for (size_t a = 0; a < arms.size(); ++a) {
      const SpreadCurve& curve = std::string(name) == "target" ? arms[a].target : arms[a].base;
      if (curve.steps.empty()) continue;
      std::string colour = kColours[a % (sizeof(kColours) / sizeof(kColours[0]))];
      if (seeds > 1) {
        plots.push_back(absl::StrCat("$", name, a,
                                     " using 1:3:4 with filledcurves fs transparent solid 0.12 "
                                     "noborder lc rgb \"",
                                     colour, "\" notitle"));
      }
      plots.push_back(absl::StrCat("$", name, a,
                                   " using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc rgb \"", colour,
                                   "\" title ", Quoted(arms[a].arm.label)));
    }
    absl::StrAppend(&out, "set title ", Quoted(title), "\n");
    // The key once, on the right panel.
    absl::StrAppend(&out, std::string(name) == "target" ? "unset key\n" : "set key\n");
    absl::StrAppend(&out, "plot ", absl::StrJoin(plots, ", \\\n     "), "\n");
  }
  absl::StrAppend(&out, "unset multiplot\nset output\n");
  return out;
}

std::string MarkdownTable(const std::vector<ArmResult>& arms, const EvalResult& base_on_base,
                          const EvalResult& base_on_target, int64_t seeds) {
  std::string out = absl::StrCat(
      "| arm | target task, final | target task, best evaluation | base task (retention), "
      "final | answers in the expert's long form: target / base | minutes per run |\n",
      "|---|---|---|---|---|---|\n");
  absl::StrAppend(&out, "| base model (start of every arm) | ", Percent(base_on_target.accuracy),
                  " | | ", Percent(base_on_base.accuracy), " | ", Percent(base_on_target.long_form),
                  " / ", Percent(base_on_base.long_form), " | |\n");
  for (const ArmResult& a : arms) {
    absl::StrAppend(
        &out, "| ", a.arm.label,
        a.runs.size() < static_cast<size_t>(seeds)
            ? absl::StrCat(" (", a.runs.size(), a.runs.size() == 1 ? " seed)" : " seeds)")
            : "",
        " | ", SpreadText(a.target_final), " | ", SpreadText(a.target_best), " | ",
        SpreadText(a.base_final), " | ", Percent(a.long_form_target.mean), " / ",
        Percent(a.long_form_base.mean), " | ", absl::StrFormat("%.1f", a.minutes.mean), " |\n");
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<Arm>> ReadArms(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, files::ReadFile(path));
  std::vector<Arm> arms;
  std::set<std::string> names;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    absl::string_view trimmed = absl::StripAsciiWhitespace(line);
    if (trimmed.empty() || absl::StartsWith(trimmed, "#")) continue;
    std::vector<std::string> fields = absl::StrSplit(trimmed, absl::MaxSplits('|', 2));
    std::string where = absl::StrCat(path, ":", line_number);
    if (fields.size() != 3) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": expected NAME|LABEL|OVERRIDES, got \"", trimmed, "\""));
    }
    Arm arm{std::string(absl::StripAsciiWhitespace(fields[0])),
            std::string(absl::StripAsciiWhitespace(fields[1])),
            std::string(absl::StripAsciiWhitespace(fields[2]))};
    if (arm.name.empty() || arm.label.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": empty arm name or label"));
    }
    if (!names.insert(arm.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": arm \"", arm.name, "\" given twice"));
    }
    arms.push_back(std::move(arm));
  }
  return arms;
}

Spread SpreadOf(const std::vector<double>& values) {
  Spread s;
  s.n = static_cast<int64_t>(values.size());
  if (values.empty()) return s;
  s.min = *std::min_element(values.begin(), values.end());
  s.max = *std::max_element(values.begin(), values.end());
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / values.size();
  if (values.size() > 1) {
    double squares = 0;
    for (double v : values) squares += (v - s.mean) * (v - s.mean);
    s.std = std::sqrt(squares / (values.size() - 1));
  }
  return s;
}

SpreadCurve SpreadOfCurves(const std::vector<Curve>& curves) {
  std::map<int64_t, std::vector<double>> at;
  for (const Curve& curve : curves) {
    for (const auto& [step, value] : curve) at[step].push_back(value);
  }
  SpreadCurve out;
  for (const auto& [step, values] : at) {
    out.steps.push_back(step);
    out.values.push_back(SpreadOf(values));
  }
  return out;
}

absl::StatusOr<Run> ReadRun(const std::string& dir, const std::string& arm, int64_t seed,
                            double base_accuracy_at_start) {
  Run run;
  run.arm = arm;
  run.seed = seed;
  RETURN_IF_ERROR(ForEachJsonLine(
      dir + "/events.jsonl", [&run](const json& event, const std::string& where) -> absl::Status {
        if (event.value("type", "") != "EVAL") return absl::OkStatus();
        ASSIGN_OR_RETURN(double step, Number(event, "step", where));
        ASSIGN_OR_RETURN(double accuracy,
                         Number(event.value("metrics", json::object()), "eval_accuracy", where));
        Put(&run.target, static_cast<int64_t>(step), accuracy);
        return absl::OkStatus();
      }));
  if (run.target.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, "/events.jsonl: no EVAL event (the job evaluated nothing)"));
  }
  run.target_final = run.target.back().second;
  for (const auto& point : run.target) run.target_best = std::max(run.target_best, point.second);

  run.base.push_back({0, base_accuracy_at_start});
  RETURN_IF_ERROR(ForEachJsonLine(
      dir + "/base-eval.jsonl", [&run](const json& line, const std::string& where) -> absl::Status {
        ASSIGN_OR_RETURN(double step, Number(line, "step", where));
        ASSIGN_OR_RETURN(double accuracy,
                         Number(line.value("eval", json::object()), "accuracy", where));
        Put(&run.base, static_cast<int64_t>(step), accuracy);
        return absl::OkStatus();
      }));
  ASSIGN_OR_RETURN(EvalResult base_final, ReadEvalFile(dir + "/base-final.json"));
  ASSIGN_OR_RETURN(EvalResult target_final, ReadEvalFile(dir + "/target-final.json"));
  run.base_final = base_final.accuracy;
  run.long_form_base = base_final.long_form;
  run.long_form_target = target_final.long_form;
  ASSIGN_OR_RETURN(std::string done, files::ReadFile(dir + "/done"));
  absl::string_view seconds = absl::StripAsciiWhitespace(done);
  if (!absl::ConsumePrefix(&seconds, "seconds:") ||
      !absl::SimpleAtod(absl::StripAsciiWhitespace(seconds), &run.seconds)) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, "/done: expected \"seconds: N\", got \"", done, "\""));
  }
  return run;
}

absl::StatusOr<ReportSummary> WriteReport(const ReportOptions& options) {
  ASSIGN_OR_RETURN(std::vector<Arm> arms_file, ReadArms(options.arms_file));
  ASSIGN_OR_RETURN(EvalResult base_on_base, ReadEvalFile(options.base_dir + "/base-final.json"));
  ASSIGN_OR_RETURN(EvalResult base_on_target,
                   ReadEvalFile(options.base_dir + "/target-final.json"));
  std::string doc;
  size_t doc_begin = 0, doc_end = 0;
  if (!options.doc_file.empty()) {
    ASSIGN_OR_RETURN(doc, files::ReadFile(options.doc_file));
    doc_begin = doc.find(kDocBegin);
    doc_end = doc.find(kDocEnd);
    if (doc_begin == std::string::npos || doc_end == std::string::npos || doc_end < doc_begin) {
      return absl::InvalidArgumentError(absl::StrCat(options.doc_file, ": no \"", kDocBegin,
                                                     "\" ... \"", kDocEnd, "\" block to replace"));
    }
  }

  ReportSummary summary;
  std::vector<ArmResult> arms;
  int64_t seeds = 0;
  for (const Arm& arm : arms_file) {
    fs::path arm_dir = fs::path(options.runs_dir) / arm.name;
    std::error_code ec;
    if (!fs::is_directory(arm_dir, ec)) continue;
    std::vector<std::pair<int64_t, fs::path>> seed_dirs;
    for (const fs::directory_entry& entry : fs::directory_iterator(arm_dir, ec)) {
      std::string name = entry.path().filename().string();
      int64_t seed = 0;
      if (!absl::StartsWith(name, "seed-") || !absl::SimpleAtoi(name.substr(5), &seed)) continue;
      if (!fs::exists(entry.path() / "done")) {
        ++summary.unfinished;
        continue;
      }
      seed_dirs.push_back({seed, entry.path()});
    }
    std::sort(seed_dirs.begin(), seed_dirs.end());
    if (seed_dirs.empty()) continue;
    ArmResult result{arm, {}, {}, {}, {}, {}, {}, {}, {}, {}};
    for (const auto& [seed, dir] : seed_dirs) {
      ASSIGN_OR_RETURN(Run run, ReadRun(dir.string(), arm.name, seed, base_on_base.accuracy));
      result.runs.push_back(std::move(run));
    }
    auto collect = [&result](double Run::*field, double scale = 1) {
      std::vector<double> values;
      for (const Run& run : result.runs) values.push_back(run.*field * scale);
      return SpreadOf(values);
    };
    result.target_final = collect(&Run::target_final);
    result.target_best = collect(&Run::target_best);
    result.base_final = collect(&Run::base_final);
    result.long_form_target = collect(&Run::long_form_target);
    result.long_form_base = collect(&Run::long_form_base);
    result.minutes = collect(&Run::seconds, 1.0 / 60);
    std::vector<Curve> target, base;
    for (const Run& run : result.runs) {
      target.push_back(run.target);
      base.push_back(run.base);
    }
    result.target = SpreadOfCurves(target);
    result.base = SpreadOfCurves(base);
    seeds = std::max<int64_t>(seeds, static_cast<int64_t>(result.runs.size()));
    summary.runs += static_cast<int64_t>(result.runs.size());
    arms.push_back(std::move(result));
  }
  if (arms.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(options.runs_dir, ": no finished run of any arm of ", options.arms_file));
  }

  std::error_code ec;
  fs::create_directories(options.out_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", options.out_dir));
  const std::string png = options.out_dir + "/curves.png";
  RETURN_IF_ERROR(chordctl::RunGnuplot(options.gnuplot, CurvesScript(arms, png, seeds), png));

  std::string run_info;
  if (!options.run_info_file.empty()) {
    ASSIGN_OR_RETURN(run_info, files::ReadFile(options.run_info_file));
  }
  std::string table = MarkdownTable(arms, base_on_base, base_on_target, seeds);
  std::string seeds_note =
      seeds > 1
          ? absl::StrCat("Held-out accuracy in percent, mean ± standard deviation over ", seeds,
                         " seeds (min-max in parentheses); the long-form shares are "
                         "means.")
          : "Held-out accuracy in percent, one seed.";
  auto results_block = [&](const std::string& image) {
    std::string out = absl::StrCat(seeds_note, "\n\n", table,
                                   "\n![held-out accuracy of every arm "
                                   "against step, target and base "
                                   "task](",
                                   image, ")\n");
    if (!run_info.empty()) {
      absl::StrAppend(&out, "\nRun:\n\n```\n", absl::StripTrailingAsciiWhitespace(run_info),
                      "\n```\n");
    }
    if (summary.unfinished > 0) {
      absl::StrAppend(&out, "\n", summary.unfinished, " unfinished run folder(s) were left out.\n");
    }
    return out;
  };
  RETURN_IF_ERROR(files::WriteFileAtomically(
      options.out_dir + "/results.md",
      absl::StrCat("# Results of make experiments\n\n", results_block("curves.png"))));

  json results = {{"seeds", seeds}, {"arms", json::array()}};
  results["base_model"] = {{"target_accuracy", base_on_target.accuracy},
                           {"base_accuracy", base_on_base.accuracy}};
  for (const ArmResult& a : arms) {
    json runs = json::array();
    for (const Run& r : a.runs) {
      json target = json::array(), base = json::array();
      for (const auto& [step, v] : r.target) target.push_back({step, v});
      for (const auto& [step, v] : r.base) base.push_back({step, v});
      runs.push_back({{"seed", r.seed},
                      {"target_final", r.target_final},
                      {"target_best", r.target_best},
                      {"base_final", r.base_final},
                      {"long_form_target", r.long_form_target},
                      {"long_form_base", r.long_form_base},
                      {"seconds", r.seconds},
                      {"target_curve", target},
                      {"base_curve", base}});
    }
    results["arms"].push_back({{"name", a.arm.name},
                               {"label", a.arm.label},
                               {"overrides", a.arm.overrides},
                               {"target_final", SpreadJson(a.target_final)},
                               {"target_best", SpreadJson(a.target_best)},
                               {"base_final", SpreadJson(a.base_final)},
                               {"long_form_target", SpreadJson(a.long_form_target)},
                               {"long_form_base", SpreadJson(a.long_form_base)},
                               {"minutes", SpreadJson(a.minutes)},
                               {"runs", runs}});
  }
  RETURN_IF_ERROR(
      files::WriteFileAtomically(options.out_dir + "/results.json", results.dump(1) + "\n"));

  if (!options.doc_file.empty()) {
    std::string images = options.doc_images_dir.empty()
                             ? fs::path(options.doc_file).parent_path().string()
                             : options.doc_images_dir;
    fs::create_directories(images, ec);
    fs::copy_file(png, fs::path(images) / "curves.png", fs::copy_options::overwrite_existing, ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot copy ", png, " into ", images));
    std::string link =
        fs::relative(fs::path(images) / "curves.png", fs::path(options.doc_file).parent_path(), ec)
            .string();
    std::string replaced = absl::StrCat(doc.substr(0, doc_begin + strlen(kDocBegin)), "\n",
                                        results_block(link), doc.substr(doc_end));
    RETURN_IF_ERROR(files::WriteFileAtomically(options.doc_file, replaced));
  }

  summary.text = absl::StrCat(seeds_note, "\n\n", table, "\ncurves  ", png, "\ntable   ",
                              options.out_dir, "/results.md (and results.json)\n");
  if (!options.doc_file.empty()) absl::StrAppend(&summary.text, "page    ", options.doc_file, "\n");
  return summary;
}

}  // namespace chord::experiments
