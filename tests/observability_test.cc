// The dashboards and rules against a real Prometheus: `chordctl up --detach --prometheus` starts
// every service and Debian's Prometheus (127.0.0.1, a fresh TSDB in the test's state directory,
// 1 s scrapes, deploy/prometheus/rules.yml); a short CHORD job runs (an SFT warm-up stage, then
// CHORD-phi with rollouts, evaluations and checkpoints) and one RPC fails on purpose (`chordctl
// get` of an unknown job: NOT_FOUND). Then every query of every panel of deploy/grafana/*.json
// (dashboard variables substituted) and every recording rule of rules.yml goes through
// Prometheus' HTTP API, /api/v1/query: each must return at least one series with a finite value;
// each alert expression must evaluate without error. `chordctl plot` draws the job's curves, and
// `chordctl down` stops every process, Prometheus included.

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "tests/support/child_process.h"
#include "tests/support/png_image.h"
#include "tools/chordctl/local_cluster.h"

namespace chord {
namespace {

using ::chord::testing::CommandResult;
using ::chord::testing::RunCommand;

// The values the test gives the dashboards' variables (Grafana's built-ins included). The window
// of $__rate_interval covers the whole short job.
std::string SubstituteVariables(std::string expr, const std::string& job_id) {
  return absl::StrReplaceAll(expr, {{"${job_id}", job_id},
                                    {"$job_id", job_id},
                                    {"${instance}", ".+"},
                                    {"$instance", ".+"},
                                    {"$__rate_interval", "10m"},
                                    {"$__interval", "15s"},
                                    {"$__range", "5m"}});
}

std::string UrlEncode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += absl::StrFormat("%%%02X", c);
    }
  }
  return out;
}

class ObservabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state_ = dir_.File("state");
    model_ = dir_.File("model");
    data_ = dir_.File("data");
  }

  void TearDown() override {
    // Whatever happened, nothing may outlive the test: stop every recorded pid.
    absl::StatusOr<chordctl::ClusterRecord> record = chordctl::ReadClusterRecord(state_);
    if (record.ok()) {
      std::vector<const chordctl::ServiceRecord*> services;
      for (const auto& s : record->services) services.push_back(&s);
      chordctl::StopProcesses(services, absl::Seconds(20));
    }
  }

  CommandResult Chordctl(const std::string& args, absl::Duration timeout = absl::Seconds(120)) {
    // No token is given: chordctl reads the user token `up` wrote into the state directory.
    return RunCommand(
        absl::StrCat("env -u CHORD_TOKEN CHORD_STATE_DIR=", state_, " ", chordctl_, " ", args),
        timeout);
  }

  // Runs an instant query; returns the "data" object (an error names the query and the answer).
  absl::StatusOr<nlohmann::json> Query(const std::string& expr) {
    absl::StatusOr<std::string> body =
        testing::HttpGet(prometheus_port_, "/api/v1/query?query=" + UrlEncode(expr));
    if (!body.ok()) return body.status();
    nlohmann::json answer = nlohmann::json::parse(*body, nullptr, /*allow_exceptions=*/false);
    if (answer.is_discarded() || answer.value("status", "") != "success") {
      return absl::InternalError(absl::StrCat("query failed: ", *body));
    }
    return answer["data"];
  }

  // Empty when `expr` returns at least one series (or a scalar) with a finite value; otherwise
  // what it returned.
  std::string FiniteProblem(const std::string& expr) {
    absl::StatusOr<nlohmann::json> data = Query(expr);
    if (!data.ok()) return std::string(data.status().message());
    const std::string type = (*data)["resultType"];
    auto finite = [](const nlohmann::json& value) {
      // value = [timestamp, "string"]
      double v = std::stod(value[1].get<std::string>());
      return std::isfinite(v);
    };
    if (type == "scalar") return finite((*data)["result"]) ? "" : "a scalar that is not finite";
    if (type != "vector") return "result type " + type;
    const nlohmann::json& result = (*data)["result"];
    if (result.empty()) return "no series";
    for (const nlohmann::json& series : result) {
      if (finite(series["value"])) return "";
    }
    return absl::StrCat(result.size(), " series, none finite: ", result.dump().substr(0, 300));
  }

  testing::TempDir dir_;
  std::string state_, model_, data_;
  int prometheus_port_ = 0;
  const std::string chordctl_ = testing::BinaryPath("chordctl");
};

// Collects (panel title, expr) of every panel, rows' nested panels included.
void CollectTargets(const nlohmann::json& panels,
                    std::vector<std::pair<std::string, std::string>>* out) {
  for (const nlohmann::json& panel : panels) {
    if (panel.contains("panels")) CollectTargets(panel["panels"], out);
    if (!panel.contains("targets")) continue;
    for (const nlohmann::json& target : panel["targets"]) {
      out->push_back(
          {absl::StrCat(panel.value("title", "?"), " [", target.value("refId", "?"), "]"),
           target.value("expr", "")});
    }
  }
}

TEST_F(ObservabilityTest, EveryPanelAndRecordingRuleHasDataFromARealJob) {
  CommandResult run = Chordctl("init-model --out " + model_);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  run = Chordctl(absl::StrCat("datasets make arithmetic --out ", data_,
                              " --tasks 200 --expert 200 --eval 16 --seed 3"));
  ASSERT_EQ(run.exit_code, 0) << run.output;

  run = Chordctl(absl::StrCat("up --detach --prometheus --scrape-interval 1 --state-dir ", state_,
                              " --model ", model_, " --data-root ", data_, " --rollout-workers 2"),
                 absl::Seconds(240));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  absl::StatusOr<chordctl::ClusterRecord> cluster = chordctl::ReadClusterRecord(state_);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  const chordctl::ServiceRecord* prometheus = cluster->Find("prometheus");
  ASSERT_NE(prometheus, nullptr) << run.output;
  prometheus_port_ = prometheus->metrics_port;
  EXPECT_TRUE(absl::StrContains(run.output, "prometheus: http://127.0.0.1:")) << run.output;
  EXPECT_TRUE(absl::StrContains(prometheus->address, "127.0.0.1:")) << prometheus->address;

  // Every Chord service (and Prometheus) is a healthy target under its scrape job.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        // 5 Chord services and Prometheus itself, each scraped at least once.
        absl::StatusOr<nlohmann::json> up = Query("sum(up)");
        return up.ok() && !(*up)["result"].empty() &&
               (*up)["result"][0]["value"][1].get<std::string>() == "6";
      },
      absl::Seconds(60)))
      << "not every service is scraped";
  absl::StatusOr<nlohmann::json> jobs = Query("count by (job) (up)");
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  std::vector<std::string> job_names;
  for (const auto& series : (*jobs)["result"]) job_names.push_back(series["metric"]["job"]);
  std::sort(job_names.begin(), job_names.end());
  EXPECT_EQ(absl::StrJoin(job_names, ","),
            "chord-expert-buffer,chord-learner,chord-reward,chord-rollout-worker,prometheus");

  // The job: 2 SFT warm-up steps, then CHORD-phi with rollouts; evaluations and checkpoints.
  const std::string spec = dir_.File("job.yaml");
  std::ofstream(spec) << "name: observability\n"
                      << "model: " << model_ << "\n"
                      << "datasets:\n"
                      << "  tasks: {path: " << data_ << "/tasks.jsonl}\n"
                      << "  expert: {path: " << data_ << "/expert.jsonl}\n"
                      << "  eval: {path: " << data_ << "/eval.jsonl}\n"
                      << "verifier: arithmetic\n"
                      << "steps: 8\ntrain_batch_size: 8\nsave_interval: 3\n"
                      << "algorithm: {variant: chord-phi, repeat_times: 4, sft_warmup_steps: 2}\n"
                      << "sampling: {max_new_tokens: 16}\n"
                      << "eval: {interval: 4, max_samples: 8, max_new_tokens: 16}\n";
  run = Chordctl("submit " + spec);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const std::string job_id(absl::StripAsciiWhitespace(run.output));
  run = Chordctl("watch " + job_id, absl::Seconds(300));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  // One failing RPC, so that the error panels have a series: NOT_FOUND from JobService/Get.
  run = Chordctl("get no-such-job");
  EXPECT_EQ(run.exit_code, 3) << run.output;

  // Wait until Prometheus has scraped the end of the job and the failed call.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return FiniteProblem("chord_learner_steps_total == 8").empty() &&
               FiniteProblem("chord_rpc_server_handled_total{code=\"NOT_FOUND\"}").empty();
      },
      absl::Seconds(60)))
      << "Prometheus did not see the job's 8 steps and the failed call";
  std::this_thread::sleep_for(std::chrono::seconds(3));  // a few more scrapes and rule runs

  // Every query of every panel.
  int queries = 0;
  std::vector<std::string> problems;
  for (const char* file :
       {"deploy/grafana/chord-training.json", "deploy/grafana/chord-services.json"}) {
    std::ifstream in(testing::SourcePath(file));
    nlohmann::json dashboard = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(dashboard.is_discarded()) << file;
    std::vector<std::pair<std::string, std::string>> targets;
    CollectTargets(dashboard["panels"], &targets);
    ASSERT_FALSE(targets.empty()) << file;
    for (const auto& [panel, expr] : targets) {
      ++queries;
      std::string problem = FiniteProblem(SubstituteVariables(expr, job_id));
      if (!problem.empty()) {
        problems.push_back(absl::StrCat(dashboard.value("title", file), " / ", panel, ": ", problem,
                                        "\n    ", expr));
      }
    }
  }
  // Every recording rule; every alert expression evaluates.
  YAML::Node rules = YAML::LoadFile(testing::SourcePath("deploy/prometheus/rules.yml"));
  int recording = 0, alerts = 0;
  for (const YAML::Node& group : rules["groups"]) {
    for (const YAML::Node& rule : group["rules"]) {
      std::string expr = rule["expr"].as<std::string>();
      if (rule["record"]) {
        ++recording;
        std::string problem = FiniteProblem(expr);
        if (!problem.empty()) {
          problems.push_back(
              absl::StrCat("recording rule ", rule["record"].as<std::string>(), ": ", problem));
        }
        // Prometheus evaluates the rule itself too: its series is recorded.
        problem = FiniteProblem(rule["record"].as<std::string>());
        if (!problem.empty()) {
          problems.push_back(
              absl::StrCat("recorded series ", rule["record"].as<std::string>(), ": ", problem));
        }
      } else {
        ++alerts;
        absl::StatusOr<nlohmann::json> data = Query(expr);
        if (!data.ok()) {
          problems.push_back(absl::StrCat("alert ", rule["alert"].as<std::string>(), ": ",
                                          data.status().message()));
        }
      }
    }
  }
  EXPECT_GE(queries, 40);
  EXPECT_EQ(recording, 9);
  EXPECT_EQ(alerts, 7);
  EXPECT_TRUE(problems.empty()) << problems.size() << " of " << queries << " panel queries and "
                                << recording << " recording rules without data:\n"
                                << absl::StrJoin(problems, "\n");
  // A healthy run fires no alert.
  absl::StatusOr<nlohmann::json> firing = Query("ALERTS{alertstate=\"firing\"}");
  ASSERT_TRUE(firing.ok()) << firing.status();
  EXPECT_TRUE((*firing)["result"].empty()) << (*firing)["result"].dump();

  // The job's curves as a picture.
  const std::string png = dir_.File("curves.png");
  run = Chordctl(absl::StrCat("plot ", job_id, " --out ", png, " --width 900 --height 700"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.output,
            absl::StrCat("wrote ", png, " (6 steps with reward, 4 evaluations, 2 stages)\n"));
  absl::StatusOr<testing::PngSummary> image = testing::ReadPngSummary(png);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->width, 900);
  EXPECT_EQ(image->height, 700);
  EXPECT_GT(image->distinct_colors, 20);
  EXPECT_GT(image->non_background_share, 0.01);

  // `down` stops everything, Prometheus included.
  run = Chordctl("down --state-dir " + state_);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "stopped 6 service processes")) << run.output;
  for (const auto& s : cluster->services) {
    EXPECT_FALSE(process::IsSameProcess(s.pid, s.binary, s.start_time)) << s.name;
  }
}

}  // namespace
}  // namespace chord
