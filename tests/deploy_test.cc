// The observability files as shipped: deploy/grafana's dashboards (well-formed Grafana JSON with
// the variables, every panel the issue lists, only documented metrics), deploy/prometheus's rules
// (only documented metrics), and the Helm chart helm/chord: its copies are the deploy/ files
// byte for byte, and `helm template` renders the dashboard ConfigMaps (label grafana_dashboard:
// "1") and, when enabled, a PrometheusRule holding rules.yml's groups. helm comes from
// tools/install-deps.sh (.tools/bin/helm, $HELM). `helm lint` and the services' objects:
// tests/helm_chart_test.cc.

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "tests/support/child_process.h"

namespace chord {
namespace {

namespace fs = std::filesystem;
using ::chord::testing::CommandResult;
using ::chord::testing::RunCommand;
using ::chord::testing::SourcePath;

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

nlohmann::json ReadDashboard(const std::string& name) {
  return nlohmann::json::parse(ReadText(SourcePath("deploy/grafana/" + name)), nullptr,
                               /*allow_exceptions=*/false);
}

// Every query expression of a dashboard, rows' nested panels included.
void CollectExprs(const nlohmann::json& panels, std::vector<std::string>* out) {
  for (const nlohmann::json& panel : panels) {
    if (panel.contains("panels")) CollectExprs(panel["panels"], out);
    if (!panel.contains("targets")) continue;
    for (const nlohmann::json& target : panel["targets"]) out->push_back(target.value("expr", ""));
  }
}

std::string Helm() {
  const char* helm = std::getenv("HELM");
  return helm != nullptr ? helm : SourcePath(".tools/bin/helm");
}

class DashboardTest : public ::testing::TestWithParam<std::string> {};

TEST_P(DashboardTest, IsAGrafanaDashboardWithTheVariables) {
  nlohmann::json dashboard = ReadDashboard(GetParam());
  ASSERT_FALSE(dashboard.is_discarded()) << GetParam();
  EXPECT_TRUE(absl::StartsWith(dashboard.value("title", ""), "Chord / "));
  EXPECT_FALSE(dashboard.value("uid", "").empty());
  EXPECT_GE(dashboard.value("schemaVersion", 0), 30);
  std::set<std::string> variables;
  for (const nlohmann::json& v : dashboard["templating"]["list"]) variables.insert(v["name"]);
  EXPECT_EQ(variables, (std::set<std::string>{"datasource", "job_id", "instance"}));
  std::set<int> ids;
  int panels = 0;
  for (const nlohmann::json& panel : dashboard["panels"]) {
    EXPECT_TRUE(ids.insert(panel["id"].get<int>()).second) << "duplicate id " << panel["id"];
    const nlohmann::json& grid = panel["gridPos"];
    EXPECT_LE(grid["x"].get<int>() + grid["w"].get<int>(), 24) << panel["title"];
    if (panel["type"] == "row") continue;
    ++panels;
    EXPECT_EQ(panel["datasource"]["uid"], "${datasource}") << panel["title"];
    EXPECT_FALSE(panel.value("description", "").empty()) << panel["title"];
    ASSERT_FALSE(panel["targets"].empty()) << panel["title"];
    for (const nlohmann::json& target : panel["targets"]) {
      EXPECT_FALSE(target.value("expr", "").empty()) << panel["title"];
    }
  }
  EXPECT_GE(panels, 10);
}

INSTANTIATE_TEST_SUITE_P(Dashboards, DashboardTest,
                         ::testing::Values("chord-training.json", "chord-services.json"));

// The panels issue 10 lists, by the metrics (and label values) their queries use.
TEST(DeployTest, DashboardsCoverWhatTheyPromise) {
  struct Coverage {
    std::string dashboard;
    std::vector<std::string> needles;
  };
  const std::vector<Coverage> coverage = {
      {"chord-training.json",
       {"reward_mean", "eval_accuracy", "\"mu\"", "loss|pg_loss|sft_loss", "phi_mean",
        "clip_frac_upper", "approx_kl", "grad_norm", "\"lr\"", "tokens_per_second",
        "chord_learner_phase_seconds_sum", "policy_lag", "chord_learner_weight_version",
        "chord_learner_jobs", "chord_learner_checkpoints_total",
        "chord:learner_state_dir_avail:ratio"}},
      {"chord-services.json",
       {"chord_rpc_server_handled_total", "code!=\"OK\"",
        "chord_rpc_server_handling_seconds_bucket", "histogram_quantile(0.99",
        "chord_rollout_queue_depth", "chord_rollout_batch_rows_sum",
        "chord_rollout_generated_tokens_total", "chord_reward_scored_total",
        "chord_expert_buffer_samples_served_total", "chord_weights_bytes_served_total",
        "chord_rollout_weight_fetch_seconds_bucket", "process_cpu_seconds_total",
        "process_resident_memory_bytes"}},
  };
  for (const Coverage& c : coverage) {
    std::vector<std::string> exprs;
    CollectExprs(ReadDashboard(c.dashboard)["panels"], &exprs);
    std::string all = absl::StrJoin(exprs, "\n");
    for (const std::string& needle : c.needles) {
      EXPECT_TRUE(absl::StrContains(all, needle)) << c.dashboard << " has no query with " << needle;
    }
  }
  // The training phases the step-time panel splits by are the learner's phases.
  std::string metrics_doc = ReadText(SourcePath("docs/metrics.md"));
  for (const char* phase : {"generate", "score", "train", "publish", "checkpoint"}) {
    EXPECT_TRUE(absl::StrContains(metrics_doc, absl::StrCat("`", phase, "`"))) << phase;
  }
}

// Every metric a dashboard or rule reads is in docs/metrics.md (the reference).
TEST(DeployTest, EveryMetricUsedIsDocumented) {
  std::vector<std::string> exprs;
  for (const char* name : {"chord-training.json", "chord-services.json"}) {
    CollectExprs(ReadDashboard(name)["panels"], &exprs);
  }
  YAML::Node rules = YAML::LoadFile(SourcePath("deploy/prometheus/rules.yml"));
  std::set<std::string> recorded;
  for (const YAML::Node& group : rules["groups"]) {
    for (const YAML::Node& rule : group["rules"]) {
      exprs.push_back(rule["expr"].as<std::string>());
      if (rule["record"]) recorded.insert(rule["record"].as<std::string>());
    }
  }
  const std::string doc = ReadText(SourcePath("docs/metrics.md"));
  // Metric names (not recording rules' names, which contain ':').
  const std::regex metric(R"(\b((chord|process)_[a-z_]+)\b(?!:))");
  std::set<std::string> undocumented;
  for (const std::string& expr : exprs) {
    for (auto it = std::sregex_iterator(expr.begin(), expr.end(), metric);
         it != std::sregex_iterator(); ++it) {
      std::string name = (*it)[1];
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        if (absl::EndsWith(name, suffix) && !absl::StrContains(doc, "`" + name + "`")) {
          name = name.substr(0, name.size() - std::string(suffix).size());
        }
      }
      if (!absl::StrContains(doc, "`" + name + "`")) undocumented.insert(name);
    }
  }
  EXPECT_TRUE(undocumented.empty()) << absl::StrJoin(undocumented, ", ");
  // Recording rules are documented too (docs/observability.md).
  const std::string observability = ReadText(SourcePath("docs/observability.md"));
  for (const std::string& name : recorded) {
    EXPECT_TRUE(absl::StrContains(observability, "`" + name + "`")) << name;
  }
}

// The chart ships exactly the files of deploy/ (copies, no symlinks).
TEST(DeployTest, ChartFilesAreTheDeployFiles) {
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"deploy/grafana/chord-training.json", "helm/chord/files/grafana/chord-training.json"},
      {"deploy/grafana/chord-services.json", "helm/chord/files/grafana/chord-services.json"},
      {"deploy/prometheus/rules.yml", "helm/chord/files/prometheus/rules.yml"},
  };
  for (const auto& [source, shipped] : pairs) {
    EXPECT_FALSE(fs::is_symlink(SourcePath(shipped))) << shipped;
    EXPECT_EQ(ReadText(SourcePath(source)), ReadText(SourcePath(shipped)))
        << shipped << " differs from " << source << " (copy it: make chart-files)";
  }
  std::set<std::string> dashboards;
  for (const auto& entry : fs::directory_iterator(SourcePath("helm/chord/files/grafana"))) {
    dashboards.insert(entry.path().filename().string());
  }
  EXPECT_EQ(dashboards, (std::set<std::string>{"chord-services.json", "chord-training.json"}));
}

// Equal as data: the same scalars, sequences in the same order, maps with the same keys (in any
// order) and equal values.
bool SameYaml(const YAML::Node& a, const YAML::Node& b) {
  if (a.Type() != b.Type()) return false;
  if (a.IsScalar()) return a.Scalar() == b.Scalar();
  if (a.size() != b.size()) return false;
  if (a.IsSequence()) {
    for (size_t i = 0; i < a.size(); ++i) {
      if (!SameYaml(a[i], b[i])) return false;
    }
    return true;
  }
  if (a.IsMap()) {
    for (const auto& entry : a) {
      const std::string key = entry.first.as<std::string>();
      if (!b[key] || !SameYaml(entry.second, b[key])) return false;
    }
    return true;
  }
  return a.IsNull() && b.IsNull();
}

// Renders the chart; returns its documents.
std::vector<YAML::Node> Template(const std::string& flags) {
  CommandResult rendered = RunCommand(
      absl::StrCat(Helm(), " template obs ", SourcePath("helm/chord"), " --namespace ml ", flags));
  EXPECT_EQ(rendered.exit_code, 0) << rendered.output;
  std::vector<YAML::Node> documents;
  for (const YAML::Node& doc : YAML::LoadAll(rendered.output)) {
    if (doc.IsMap()) documents.push_back(doc);
  }
  return documents;
}

TEST(DeployTest, HelmTemplateRendersTheDashboardConfigMaps) {
  ASSERT_TRUE(fs::exists(Helm())) << Helm() << " missing: run tools/install-deps.sh";
  std::vector<YAML::Node> documents = Template("");
  std::set<std::string> names;
  for (const YAML::Node& doc : documents) {
    ASSERT_NE(doc["kind"].as<std::string>(), "PrometheusRule") << "no PrometheusRule by default";
    if (doc["kind"].as<std::string>() != "ConfigMap") continue;  // the services' objects
    names.insert(doc["metadata"]["name"].as<std::string>());
    EXPECT_EQ(doc["metadata"]["namespace"].as<std::string>(), "ml");
    EXPECT_EQ(doc["metadata"]["labels"]["grafana_dashboard"].as<std::string>(), "1");
    EXPECT_EQ(doc["metadata"]["annotations"]["grafana_folder"].as<std::string>(), "Chord");
    ASSERT_EQ(doc["data"].size(), 1u);
    for (const auto& entry : doc["data"]) {
      const std::string file = entry.first.as<std::string>();
      std::string source = ReadText(SourcePath("deploy/grafana/" + file));
      EXPECT_EQ(entry.second.as<std::string>(),
                std::string(absl::StripTrailingAsciiWhitespace(source)))
          << file;
    }
  }
  EXPECT_EQ(names, (std::set<std::string>{"obs-chord-services", "obs-chord-training"}));
  // Dashboards off: no ConfigMap.
  for (const YAML::Node& doc : Template("--set metrics.grafanaDashboards.enabled=false")) {
    EXPECT_NE(doc["kind"].as<std::string>(), "ConfigMap") << doc["metadata"]["name"];
  }
}

TEST(DeployTest, HelmTemplateRendersThePrometheusRule) {
  ASSERT_TRUE(fs::exists(Helm())) << Helm() << " missing: run tools/install-deps.sh";
  std::vector<YAML::Node> documents = Template(
      "--set metrics.prometheusRule.enabled=true --set metrics.prometheusRule.labels.release=kps");
  YAML::Node rule;
  for (const YAML::Node& doc : documents) {
    if (doc["kind"].as<std::string>() == "PrometheusRule") rule = doc;
  }
  ASSERT_TRUE(rule) << "no PrometheusRule";
  EXPECT_EQ(rule["apiVersion"].as<std::string>(), "monitoring.coreos.com/v1");
  EXPECT_EQ(rule["metadata"]["name"].as<std::string>(), "obs-rules");
  EXPECT_EQ(rule["metadata"]["labels"]["release"].as<std::string>(), "kps");
  // spec.groups is rules.yml's groups: rule by rule, the same names, expressions and durations.
  YAML::Node source = YAML::LoadFile(SourcePath("deploy/prometheus/rules.yml"));
  const YAML::Node& groups = rule["spec"]["groups"];
  ASSERT_EQ(groups.size(), source["groups"].size());
  for (size_t g = 0; g < groups.size(); ++g) {
    EXPECT_TRUE(SameYaml(groups[g], source["groups"][g])) << "group " << g << ":\n"
                                                          << YAML::Dump(groups[g]);
  }
  // And Prometheus accepts it as a rules file.
  testing::TempDir dir;
  YAML::Node file;
  file["groups"] = groups;
  std::ofstream(dir.File("rules.yml")) << YAML::Dump(file) << "\n";
  CommandResult check = RunCommand("promtool check rules " + dir.File("rules.yml"));
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_TRUE(absl::StrContains(check.output, "SUCCESS: 16 rules found")) << check.output;
}

TEST(DeployTest, ValuesSchemaRejectsBadValues) {
  ASSERT_TRUE(fs::exists(Helm())) << Helm() << " missing: run tools/install-deps.sh";
  CommandResult wrong_type =
      RunCommand(absl::StrCat(Helm(), " template obs ", SourcePath("helm/chord"),
                              " --set-string metrics.prometheusRule.enabled=yes"));
  EXPECT_NE(wrong_type.exit_code, 0) << wrong_type.output;
  EXPECT_TRUE(absl::StrContains(wrong_type.output, "enabled")) << wrong_type.output;
  CommandResult unknown = RunCommand(
      absl::StrCat(Helm(), " template obs ", SourcePath("helm/chord"), " --set metrics.typo=1"));
  EXPECT_NE(unknown.exit_code, 0) << unknown.output;
  EXPECT_TRUE(absl::StrContains(unknown.output, "typo")) << unknown.output;
}

}  // namespace
}  // namespace chord
