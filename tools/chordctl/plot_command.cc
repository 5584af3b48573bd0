#include "tools/chordctl/plot_command.h"

#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tools/chordctl/job_commands.h"
#include "tools/chordctl/job_format.h"
#include "tools/chordctl/training_plot.h"

namespace chord::chordctl {
namespace {

struct PlotArgs {
  LearnerArgs learner;
  std::string job_id;
  std::string out;
  int width = 1200;
  int height = 900;
  std::string gnuplot;
};

// `gnuplot` on $PATH ("gnuplot" when there is none: RunGnuplot then says it is missing).
std::string GnuplotOnPath() {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "", ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/gnuplot");
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "gnuplot";
}

void RunPlot(const PlotArgs& args, CliContext& context) {
  absl::StatusOr<std::unique_ptr<learner::JobClient>> client = MakeJobClient(args.learner, context);
  if (!client.ok()) return context.Fail(client.status());
  absl::StatusOr<chord::v1::JobStatus> job = GetJob(**client, args.job_id);
  if (!job.ok()) return context.Fail(job.status());
  learner::WatchOptions options;
  options.reconnect_window = absl::Seconds(context.timeout_s);
  // A running job's stream never ends: stop once the stored history has been replayed.
  if (!IsTerminal(job->state())) options.idle_stop = absl::Milliseconds(500);
  std::vector<chord::v1::JobEvent> events;
  chord::v1::WatchJobRequest request;
  request.set_job_id(args.job_id);
  absl::Status watched =
      (*client)->Watch(request, options, [&events](const chord::v1::JobEvent& event) {
        events.push_back(event);
        return true;
      });
  if (!watched.ok()) return context.Fail(watched);
  TrainingCurves curves = CurvesFromEvents(events);
  curves.job_id = args.job_id;
  curves.title =
      job->name().empty() ? args.job_id : absl::StrCat(job->name(), " (", args.job_id, ")");
  if (job->total_steps() > 0) curves.total_steps = job->total_steps();
  PlotOptions plot;
  plot.width = args.width;
  plot.height = args.height;
  absl::Status drawn = RunGnuplot(args.gnuplot.empty() ? GnuplotOnPath() : args.gnuplot,
                                  GnuplotScript(curves, args.out, plot), args.out);
  if (!drawn.ok()) return context.Fail(drawn);
  *context.out << "wrote " << args.out << " (" << curves.reward.size() << " steps with reward, "
               << curves.eval_accuracy.size() << " evaluations, " << curves.stages.size()
               << " stage" << (curves.stages.size() == 1 ? "" : "s") << ")" << std::endl;
}

}  // namespace

void AddPlotCommand(CLI::App& app, CliContext& context) {
  auto args = std::make_shared<PlotArgs>();
  CLI::App* plot = app.add_subcommand(
      "plot",
      "Draw a job's training curves (reward, held-out accuracy, mu, loss against step, stage "
      "boundaries marked) into a PNG with gnuplot");
  plot->add_option("job_id", args->job_id, "The job id (from submit or list)")->required();
  plot->add_option("--out,-o", args->out, "The PNG file to write")->required();
  plot->add_option("--width", args->width, "Picture width in pixels")
      ->check(CLI::Range(200, 10000))
      ->capture_default_str();
  plot->add_option("--height", args->height, "Picture height in pixels")
      ->check(CLI::Range(200, 10000))
      ->capture_default_str();
  plot->add_option("--gnuplot", args->gnuplot,
                   "The gnuplot executable (default: gnuplot on $PATH; Debian's gnuplot-nox)");
  AddLearnerOptions(plot, &args->learner);
  plot->callback([args, &context] { RunPlot(*args, context); });
}

}  // namespace chord::chordctl
