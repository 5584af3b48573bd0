// The Helm chart helm/chord with its services (docs/deploy.md), checked offline:
//  - `helm lint --strict` with the default values and every example under helm/chord/examples/;
//  - `helm template` of each validated against Kubernetes' OpenAPI schemas and the Prometheus
//    Operator's and cert-manager's CRD schemas (tests/k8s_validate.mjs, npm packages from
//    tools/install-deps.sh), unknown fields included;
//  - bad values refused with the schema's message (ranks 0, a string for a number, an unknown key)
//    and the checks the schema cannot express;
//  - the rendered objects: the learner's rank environment (RANK from the pod index, MASTER_ADDR =
//    pod 0 through the headless Service), the rank-0 Service, tokens only as files, the security
//    context and probes of every container, GPU, rollout workers registering with the learner,
//    NetworkPolicies, ServiceMonitors, the TLS certificate's names, and that every flag passed is
//    a flag of the binary;
//  - NOTES.txt tells how to port-forward and use chordctl.
// helm: $HELM (.tools/bin/helm); node: $NODE; the npm packages: $K8S_MODELS
// (.tools/node/node_modules).

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/support/child_process.h"

namespace chord {
namespace {

namespace fs = std::filesystem;
using ::chord::testing::BinaryPath;
using ::chord::testing::CommandResult;
using ::chord::testing::RunCommand;
using ::chord::testing::SourcePath;
using ::chord::testing::TempDir;

constexpr char kRelease[] = "chord";
constexpr char kNamespace[] = "ml";

std::string Env(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

std::string Helm() { return Env("HELM", SourcePath(".tools/bin/helm")); }
std::string Node() { return Env("NODE", "node"); }
std::string K8sModels() { return Env("K8S_MODELS", SourcePath(".tools/node/node_modules")); }
std::string Chart() { return SourcePath("helm/chord"); }

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// The example values files, by name.
std::vector<std::string> Examples() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(SourcePath("helm/chord/examples"))) {
    if (entry.path().extension() == ".yaml") names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

CommandResult HelmTemplate(const std::string& flags) {
  return RunCommand(absl::StrCat(Helm(), " template ", kRelease, " ", Chart(), " --namespace ",
                                 kNamespace, " ", flags));
}

std::vector<YAML::Node> Documents(const std::string& text) {
  std::vector<YAML::Node> documents;
  for (const YAML::Node& doc : YAML::LoadAll(text)) {
    if (doc.IsMap()) documents.push_back(doc);
  }
  return documents;
}

// Renders the chart with `flags`; fails the test on an error.
std::vector<YAML::Node> Render(const std::string& flags) {
  CommandResult rendered = HelmTemplate(flags);
  EXPECT_EQ(rendered.exit_code, 0) << flags << "\n" << rendered.output;
  return Documents(rendered.output);
}

YAML::Node Find(const std::vector<YAML::Node>& documents, const std::string& kind,
                const std::string& name) {
  for (const YAML::Node& doc : documents) {
    if (doc["kind"].as<std::string>() == kind &&
        doc["metadata"]["name"].as<std::string>() == name) {
      return doc;
    }
  }
  ADD_FAILURE() << "no " << kind << "/" << name;
  return YAML::Node();
}

std::vector<YAML::Node> OfKind(const std::vector<YAML::Node>& documents, const std::string& kind) {
  std::vector<YAML::Node> out;
  for (const YAML::Node& doc : documents) {
    if (doc["kind"].as<std::string>() == kind) out.push_back(doc);
  }
  return out;
}

// The Deployment or StatefulSet `name`.
YAML::Node FindWorkload(const std::vector<YAML::Node>& documents, const std::string& name) {
  for (const YAML::Node& doc : documents) {
    const std::string kind = doc["kind"].as<std::string>();
    if ((kind == "Deployment" || kind == "StatefulSet") &&
        doc["metadata"]["name"].as<std::string>() == name) {
      return doc;
    }
  }
  ADD_FAILURE() << "no workload " << name;
  return YAML::Node();
}

// The workloads (Deployments, StatefulSets) and their pod specs.
std::vector<YAML::Node> Workloads(const std::vector<YAML::Node>& documents) {
  std::vector<YAML::Node> out = OfKind(documents, "Deployment");
  for (const YAML::Node& set : OfKind(documents, "StatefulSet")) out.push_back(set);
  return out;
}

std::vector<std::string> Args(const YAML::Node& container) {
  std::vector<std::string> args;
  for (const YAML::Node& arg : container["args"]) args.push_back(arg.as<std::string>());
  return args;
}

// The value of --name=VALUE in `args`, or "" when absent.
std::string Flag(const std::vector<std::string>& args, const std::string& name) {
  for (const std::string& arg : args) {
    absl::string_view rest = arg;
    if (absl::ConsumePrefix(&rest, "--" + name + "=")) return std::string(rest);
  }
  return "";
}

bool HasFlag(const std::vector<std::string>& args, const std::string& name) {
  for (const std::string& arg : args) {
    if (arg == "--" + name || absl::StartsWith(arg, "--" + name + "=")) return true;
  }
  return false;
}

std::map<std::string, std::string> Env(const YAML::Node& container) {
  std::map<std::string, std::string> env;
  for (const YAML::Node& var : container["env"]) {
    env[var["name"].as<std::string>()] = var["value"] ? var["value"].as<std::string>() : "";
  }
  return env;
}

YAML::Node Container(const YAML::Node& workload, const std::string& name) {
  for (const YAML::Node& container : workload["spec"]["template"]["spec"]["containers"]) {
    if (container["name"].as<std::string>() == name) return container;
  }
  ADD_FAILURE() << "no container " << name;
  return YAML::Node();
}

// Whether every label of `selector` is in `labels`.
bool Selects(const YAML::Node& selector, const YAML::Node& labels) {
  if (!selector || selector.size() == 0) return false;
  for (const auto& entry : selector) {
    const std::string key = entry.first.as<std::string>();
    if (!labels[key] || labels[key].as<std::string>() != entry.second.as<std::string>()) {
      return false;
    }
  }
  return true;
}

const std::vector<std::string>& RequireTools() {
  static const std::vector<std::string> missing = [] {
    std::vector<std::string> out;
    if (!fs::exists(Helm())) out.push_back(Helm() + " (run tools/install-deps.sh)");
    if (!fs::exists(K8sModels() + "/kubernetes-models/index.js")) {
      out.push_back(K8sModels() + "/kubernetes-models (run tools/install-deps.sh)");
    }
    return out;
  }();
  return missing;
}

class HelmChartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(RequireTools().empty()) << "missing: " << absl::StrJoin(RequireTools(), ", ");
  }
};

TEST_F(HelmChartTest, LintStrictPassesWithEveryValuesFile) {
  std::vector<std::string> flags = {""};
  for (const std::string& example : Examples()) {
    flags.push_back("-f " + SourcePath("helm/chord/examples/" + example));
  }
  EXPECT_GE(flags.size(), 4u) << "cpu-small, gpu-multinode, with-monitoring expected";
  for (const std::string& flag : flags) {
    CommandResult lint = RunCommand(absl::StrCat(Helm(), " lint --strict ", Chart(), " ", flag));
    EXPECT_EQ(lint.exit_code, 0) << flag << "\n" << lint.output;
    EXPECT_TRUE(absl::StrContains(lint.output, "1 chart(s) linted, 0 chart(s) failed"))
        << flag << "\n"
        << lint.output;
  }
  for (const char* name : {"cpu-small.yaml", "gpu-multinode.yaml", "with-monitoring.yaml"}) {
    EXPECT_TRUE(fs::exists(SourcePath(absl::StrCat("helm/chord/examples/", name)))) << name;
  }
}

TEST_F(HelmChartTest, RenderedObjectsMatchTheKubernetesAndCrdSchemas) {
  TempDir dir;
  std::vector<std::pair<std::string, std::string>> renders = {
      {"default.yaml", ""},
      // Every optional object: generated TLS, HPA, ServiceMonitors, PrometheusRule, reward PDB.
      {"everything.yaml",
       "--set tls.enabled=true --set rolloutWorker.autoscaling.enabled=true "
       "--set metrics.serviceMonitor.enabled=true --set metrics.prometheusRule.enabled=true "
       "--set reward.replicas=2 --set learner.gpu.enabled=true --set learner.ranks=2 "
       "--set-json 'networkPolicy.learnerGrpcFrom=[{\"namespaceSelector\":{\"matchLabels\":"
       "{\"kubernetes.io/metadata.name\":\"ingress\"}}}]'"},
  };
  for (const std::string& example : Examples()) {
    renders.push_back({example, "-f " + SourcePath("helm/chord/examples/" + example)});
  }
  std::string files;
  for (const auto& [name, flags] : renders) {
    CommandResult rendered = HelmTemplate(flags);
    ASSERT_EQ(rendered.exit_code, 0) << name << "\n" << rendered.output;
    std::ofstream(dir.File(name)) << rendered.output;
    absl::StrAppend(&files, " ", dir.File(name));
  }
  // And one the validator must refuse: a typo in a field, a list for a number, an unknown kind.
  // (One node run for all: loading the schemas is most of its time.)
  std::string broken = ReadText(dir.File("default.yaml"));
  ASSERT_TRUE(absl::StrContains(broken, "podManagementPolicy: Parallel"));
  ASSERT_TRUE(absl::StrContains(broken, "maxUnavailable: 1"));
  absl::StrReplaceAll({{"podManagementPolicy: Parallel", "podManagmentPolicy: Parallel"},
                       {"maxUnavailable: 1", "maxUnavailable: [1]"}},
                      &broken);
  broken += "\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n";
  std::ofstream(dir.File("broken.yaml")) << broken;
  CommandResult result =
      RunCommand(absl::StrCat(Node(), " ", SourcePath("tests/k8s_validate.mjs"), " --modules ",
                              K8sModels(), files, " ", dir.File("broken.yaml")));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  std::vector<std::string> problems;
  for (absl::string_view line : absl::StrSplit(result.output, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "k8s_validate: ")) continue;  // the summary
    problems.emplace_back(line);
    EXPECT_TRUE(absl::StartsWith(line, dir.File("broken.yaml") + ": ")) << line;
  }
  const std::string all = absl::StrJoin(problems, "\n");
  EXPECT_TRUE(
      absl::StrContains(all, "StatefulSet/chord-learner: unknown field /spec/podManagmentPolicy"))
      << result.output;
  EXPECT_TRUE(absl::StrContains(all, "PodDisruptionBudget/chord-rollout-worker: schema:"))
      << result.output;
  EXPECT_TRUE(absl::StrContains(all, "Widget/w: no schema for apiVersion example.com/v1"))
      << result.output;
  EXPECT_TRUE(absl::StrContains(result.output, ", 3 with problems")) << result.output;
  for (const char* kind : {"StatefulSet", "Deployment", "Service", "NetworkPolicy",
                           "PodDisruptionBudget", "HorizontalPodAutoscaler", "ServiceMonitor",
                           "PrometheusRule", "Certificate", "Secret", "ConfigMap"}) {
    EXPECT_TRUE(absl::StrContains(result.output, absl::StrCat(" ", kind)))
        << kind << " not checked";
  }
}

TEST_F(HelmChartTest, BadValuesAreRefusedWithAClearMessage) {
  struct Case {
    std::string flags;
    std::vector<std::string> message;
  };
  const std::vector<Case> cases = {
      {"--set learner.ranks=0", {"learner.ranks", "greater than or equal to 1"}},
      {"--set-string learner.ranks=two", {"learner.ranks", "Expected: integer, given: string"}},
      {"--set learner.rnaks=2", {"learner", "Additional property rnaks is not allowed"}},
      {"--set-string ports.grpc=50051", {"ports.grpc", "integer"}},
      {"--set rolloutWorker.dtype=float16", {"rolloutWorker.dtype", "must be one of"}},
      {"--set learner.extraArgs[0]=oops", {"learner.extraArgs.0", "pattern"}},
      {"--set typo=1", {"Additional property typo is not allowed"}},
      {"--set learner.shutdownGraceSeconds=600",
       {"learner.shutdownGraceSeconds (600) must be less than "
        "learner.terminationGracePeriodSeconds (600)"}},
      {"--set tls.enabled=true --set tls.certManager.enabled=true",
       {"tls.certManager.enabled needs tls.certManager.issuerRef.name"}},
      {"--set rolloutWorker.autoscaling.minReplicas=9",
       {"rolloutWorker.autoscaling.minReplicas (9) must not exceed maxReplicas (8)"}},
  };
  for (const Case& c : cases) {
    CommandResult result = HelmTemplate(c.flags);
    EXPECT_NE(result.exit_code, 0) << c.flags << "\n" << result.output;
    for (const std::string& needle : c.message) {
      EXPECT_TRUE(absl::StrContains(result.output, needle))
          << c.flags << ": no \"" << needle << "\" in\n"
          << result.output;
    }
  }
  CommandResult long_name =
      RunCommand(absl::StrCat(Helm(), " template a-release-name-of-more-than-30-chars ", Chart()));
  EXPECT_NE(long_name.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(long_name.output, "the chord chart needs 30 at most"))
      << long_name.output;
}

TEST_F(HelmChartTest, LearnerRanksFindRankZeroThroughTheHeadlessService) {
  std::vector<YAML::Node> docs = Render("--set learner.ranks=3");
  YAML::Node set = Find(docs, "StatefulSet", "chord-learner");
  ASSERT_TRUE(set);
  EXPECT_EQ(set["spec"]["replicas"].as<int>(), 3);
  EXPECT_EQ(set["spec"]["podManagementPolicy"].as<std::string>(), "Parallel");
  EXPECT_EQ(set["spec"]["updateStrategy"]["type"].as<std::string>(), "OnDelete");
  EXPECT_EQ(set["spec"]["serviceName"].as<std::string>(), "chord-learner-headless");
  YAML::Node container = Container(set, "learner");
  ASSERT_TRUE(container);
  std::map<std::string, std::string> env = Env(container);
  EXPECT_EQ(env["WORLD_SIZE"], "3");
  EXPECT_EQ(env["LOCAL_RANK"], "0");
  EXPECT_EQ(env["MASTER_ADDR"], "chord-learner-0.chord-learner-headless.ml.svc");
  EXPECT_EQ(env["MASTER_PORT"], "29500");
  bool rank_from_index = false;
  for (const YAML::Node& var : container["env"]) {
    if (var["name"].as<std::string>() != "RANK") continue;
    EXPECT_FALSE(var["value"]) << "RANK must come from the pod, not a value";
    rank_from_index = var["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>() ==
                      "metadata.labels['apps.kubernetes.io/pod-index']";
  }
  EXPECT_TRUE(rank_from_index) << YAML::Dump(container["env"]);
  // The headless Service publishes every rank, ready or not (the rendezvous comes first), with
  // the c10d port MASTER_PORT names.
  YAML::Node headless = Find(docs, "Service", "chord-learner-headless");
  ASSERT_TRUE(headless);
  EXPECT_EQ(headless["spec"]["clusterIP"].as<std::string>(), "None");
  EXPECT_TRUE(headless["spec"]["publishNotReadyAddresses"].as<bool>());
  const YAML::Node& pod_labels = set["spec"]["template"]["metadata"]["labels"];
  EXPECT_TRUE(Selects(headless["spec"]["selector"], pod_labels));
  bool c10d = false;
  for (const YAML::Node& port : headless["spec"]["ports"]) {
    c10d |= port["port"].as<std::string>() == env["MASTER_PORT"];
  }
  EXPECT_TRUE(c10d);
  // Each rank's state directory is its own PersistentVolumeClaim.
  ASSERT_EQ(set["spec"]["volumeClaimTemplates"].size(), 1u);
  const std::string claim =
      set["spec"]["volumeClaimTemplates"][0]["metadata"]["name"].as<std::string>();
  std::string state_mount;
  for (const YAML::Node& mount : container["volumeMounts"]) {
    if (mount["name"].as<std::string>() == claim)
      state_mount = mount["mountPath"].as<std::string>();
  }
  EXPECT_EQ(Flag(Args(container), "state_dir"), state_mount);
  EXPECT_EQ(set["spec"]["template"]["spec"]["terminationGracePeriodSeconds"].as<int>(), 600);
  EXPECT_EQ(Flag(Args(container), "shutdown_grace_s"), "540");
  EXPECT_EQ(Flag(Args(container), "device"), "cpu");
  EXPECT_EQ(Flag(Args(container), "backend"), "gloo");
}

TEST_F(HelmChartTest, LearnerServiceReachesRankZeroOnly) {
  std::vector<YAML::Node> docs = Render("--set learner.ranks=2");
  YAML::Node service = Find(docs, "Service", "chord-learner");
  YAML::Node set = Find(docs, "StatefulSet", "chord-learner");
  ASSERT_TRUE(service && set);
  const YAML::Node& selector = service["spec"]["selector"];
  EXPECT_EQ(selector["statefulset.kubernetes.io/pod-name"].as<std::string>(), "chord-learner-0");
  // Apart from the pod name, the selector is the pods' labels.
  YAML::Node labels = YAML::Clone(set["spec"]["template"]["metadata"]["labels"]);
  labels["statefulset.kubernetes.io/pod-name"] = "chord-learner-0";
  EXPECT_TRUE(Selects(selector, labels));
  std::set<std::string> ports;
  for (const YAML::Node& port : service["spec"]["ports"])
    ports.insert(port["name"].as<std::string>());
  EXPECT_EQ(ports, (std::set<std::string>{"grpc", "metrics"}));
  // Rollout workers and users reach the learner through it.
  YAML::Node workers = Find(docs, "Deployment", "chord-rollout-worker");
  std::vector<std::string> args = Args(Container(workers, "rollout-worker"));
  EXPECT_EQ(Flag(args, "weight_source"), "chord-learner.ml.svc:50051");
  EXPECT_EQ(Flag(args, "register_with"), "chord-learner.ml.svc:50051");
}

// Every token the chart could hand out: the generated Secrets' values, decoded.
std::vector<std::string> SecretValues(const std::vector<YAML::Node>& docs) {
  std::vector<std::string> values;
  for (const YAML::Node& secret : OfKind(docs, "Secret")) {
    for (const auto& entry : secret["data"]) {
      std::string decoded;
      EXPECT_TRUE(absl::Base64Unescape(entry.second.as<std::string>(), &decoded));
      values.push_back(decoded);
    }
  }
  return values;
}

TEST_F(HelmChartTest, TokensAndKeysReachPodsOnlyAsFiles) {
  std::vector<YAML::Node> docs = Render("--set tls.enabled=true");
  std::vector<std::string> secrets = SecretValues(docs);
  ASSERT_EQ(secrets.size(), 5u) << "user.token, internal.token, tls.crt, tls.key, ca.crt";
  int containers = 0;
  for (const YAML::Node& workload : Workloads(docs)) {
    const std::string pod = YAML::Dump(workload["spec"]["template"]);
    for (const std::string& secret : secrets) {
      EXPECT_FALSE(absl::StrContains(pod, absl::StripAsciiWhitespace(secret)))
          << workload["metadata"]["name"] << " carries a secret value";
    }
    for (const YAML::Node& container : workload["spec"]["template"]["spec"]["containers"]) {
      ++containers;
      const std::string name = container["name"].as<std::string>();
      for (const YAML::Node& var : container["env"]) {
        const std::string var_name = var["name"].as<std::string>();
        EXPECT_FALSE(absl::StrContains(var_name, "TOKEN")) << name << ": " << var_name;
        EXPECT_FALSE(var["valueFrom"] && var["valueFrom"]["secretKeyRef"])
            << name << ": " << var_name;
      }
      EXPECT_FALSE(container["envFrom"]) << name;
      std::vector<std::string> args = Args(container);
      EXPECT_EQ(Flag(args, "internal_token_file"), "/etc/chord/tokens/internal.token") << name;
      // Only the learner holds the user token.
      EXPECT_EQ(HasFlag(args, "user_token_file"), name == "learner") << name;
      EXPECT_EQ(Flag(args, "tls_key_file"), "/etc/chord/tls/tls.key") << name;
      EXPECT_FALSE(HasFlag(args, "insecure")) << name;
    }
  }
  EXPECT_EQ(containers, 4);
  // An existing Secret: the chart creates none and mounts that one.
  std::vector<YAML::Node> existing = Render(
      "--set auth.existingSecret=mine --set tls.enabled=true --set tls.existingSecret=certs");
  EXPECT_TRUE(OfKind(existing, "Secret").empty());
  const std::string pod = YAML::Dump(Find(existing, "StatefulSet", "chord-learner")["spec"]);
  EXPECT_TRUE(absl::StrContains(pod, "secretName: mine")) << pod;
  EXPECT_TRUE(absl::StrContains(pod, "secretName: certs")) << pod;
}

TEST_F(HelmChartTest, EveryContainerIsLockedDownAndProbed) {
  for (bool tls : {false, true}) {
    std::vector<YAML::Node> docs = Render(tls ? "--set tls.enabled=true" : "");
    ASSERT_EQ(Workloads(docs).size(), 4u);
    for (const YAML::Node& workload : Workloads(docs)) {
      const YAML::Node& spec = workload["spec"]["template"]["spec"];
      const std::string name = workload["metadata"]["name"].as<std::string>();
      EXPECT_TRUE(spec["securityContext"]["runAsNonRoot"].as<bool>()) << name;
      EXPECT_EQ(spec["securityContext"]["seccompProfile"]["type"].as<std::string>(),
                "RuntimeDefault")
          << name;
      EXPECT_FALSE(spec["automountServiceAccountToken"].as<bool>()) << name;
      std::set<std::string> empty_dirs;
      for (const YAML::Node& volume : spec["volumes"]) {
        if (volume["emptyDir"]) empty_dirs.insert(volume["name"].as<std::string>());
      }
      std::vector<YAML::Node> all;
      for (const YAML::Node& c : spec["initContainers"]) all.push_back(c);
      for (const YAML::Node& c : spec["containers"]) all.push_back(c);
      for (const YAML::Node& container : all) {
        const std::string where = absl::StrCat(name, "/", container["name"].as<std::string>());
        const YAML::Node& security = container["securityContext"];
        ASSERT_TRUE(security) << where;
        EXPECT_TRUE(security["runAsNonRoot"].as<bool>()) << where;
        EXPECT_TRUE(security["readOnlyRootFilesystem"].as<bool>()) << where;
        EXPECT_FALSE(security["allowPrivilegeEscalation"].as<bool>()) << where;
        EXPECT_EQ(security["capabilities"]["drop"].size(), 1u) << where;
        EXPECT_EQ(security["capabilities"]["drop"][0].as<std::string>(), "ALL") << where;
        EXPECT_EQ(security["seccompProfile"]["type"].as<std::string>(), "RuntimeDefault") << where;
        EXPECT_TRUE(container["resources"]["requests"]) << where;
        EXPECT_TRUE(container["resources"]["limits"]["memory"]) << where;
      }
      for (const YAML::Node& container : spec["containers"]) {
        const std::string where = absl::StrCat(name, "/", container["name"].as<std::string>());
        // /tmp is writable although the root filesystem is not.
        bool tmp = false;
        for (const YAML::Node& mount : container["volumeMounts"]) {
          tmp |= mount["mountPath"].as<std::string>() == "/tmp" &&
                 empty_dirs.count(mount["name"].as<std::string>());
        }
        EXPECT_TRUE(tmp) << where;
        std::vector<std::string> kinds = {"readinessProbe", "livenessProbe"};
        if (name != "chord-reward") kinds.push_back("startupProbe");  // loading takes time
        for (const std::string& kind : kinds) {
          const YAML::Node& probe = container[kind];
          ASSERT_TRUE(probe) << where << " has no " << kind;
          if (tls) {
            // Kubernetes' grpc probe cannot speak TLS.
            EXPECT_EQ(probe["tcpSocket"]["port"].as<std::string>(), "grpc") << where << kind;
          } else {
            EXPECT_EQ(probe["grpc"]["port"].as<int>(), 50051) << where << " " << kind;
          }
        }
        EXPECT_EQ(Flag(Args(container), "port"), "50051") << where;
        EXPECT_EQ(Flag(Args(container), "host"), "0.0.0.0") << where;
        EXPECT_EQ(Flag(Args(container), "metrics_port"), "9090") << where;
        EXPECT_EQ(HasFlag(Args(container), "insecure"), !tls) << where;
      }
      // Prometheus' scrape annotations.
      const YAML::Node& annotations = workload["spec"]["template"]["metadata"]["annotations"];
      EXPECT_EQ(annotations["prometheus.io/scrape"].as<std::string>(), "true") << name;
      EXPECT_EQ(annotations["prometheus.io/port"].as<std::string>(), "9090") << name;
    }
  }
}

TEST_F(HelmChartTest, GpuSwitchesTheLearnerToCudaAndNccl) {
  std::vector<YAML::Node> docs =
      Render("-f " + SourcePath("helm/chord/examples/gpu-multinode.yaml"));
  YAML::Node set = Find(docs, "StatefulSet", "chord-learner");
  ASSERT_TRUE(set);
  YAML::Node container = Container(set, "learner");
  std::vector<std::string> args = Args(container);
  EXPECT_EQ(Flag(args, "device"), "cuda");
  EXPECT_EQ(Flag(args, "backend"), "nccl");
  EXPECT_EQ(container["resources"]["limits"]["nvidia.com/gpu"].as<int>(), 1);
  EXPECT_EQ(Env(container)["WORLD_SIZE"], "4");
  EXPECT_EQ(set["spec"]["template"]["spec"]["terminationGracePeriodSeconds"].as<int>(), 1800);
  bool shm = false;
  for (const YAML::Node& mount : container["volumeMounts"]) {
    shm |= mount["mountPath"].as<std::string>() == "/dev/shm";
  }
  EXPECT_TRUE(shm);
  // HPA instead of a fixed replica count.
  YAML::Node workers = Find(docs, "Deployment", "chord-rollout-worker");
  EXPECT_FALSE(workers["spec"]["replicas"]);
  YAML::Node hpa = Find(docs, "HorizontalPodAutoscaler", "chord-rollout-worker");
  ASSERT_TRUE(hpa);
  EXPECT_EQ(hpa["apiVersion"].as<std::string>(), "autoscaling/v2");
  EXPECT_EQ(hpa["spec"]["scaleTargetRef"]["name"].as<std::string>(), "chord-rollout-worker");
  EXPECT_EQ(hpa["spec"]["maxReplicas"].as<int>(), 32);
}

TEST_F(HelmChartTest, RolloutWorkersAdvertiseTheirPodAddress) {
  std::vector<YAML::Node> docs = Render("--set rolloutWorker.replicas=5");
  YAML::Node workers = Find(docs, "Deployment", "chord-rollout-worker");
  ASSERT_TRUE(workers);
  EXPECT_EQ(workers["spec"]["replicas"].as<int>(), 5);
  EXPECT_TRUE(OfKind(docs, "HorizontalPodAutoscaler").empty());
  YAML::Node container = Container(workers, "rollout-worker");
  EXPECT_EQ(Flag(Args(container), "advertise_address"), "$(POD_IP):50051");
  bool pod_ip = false;
  for (const YAML::Node& var : container["env"]) {
    pod_ip |= var["name"].as<std::string>() == "POD_IP" &&
              var["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>() == "status.podIP";
  }
  EXPECT_TRUE(pod_ip);
  // The learner no longer takes a static worker list.
  YAML::Node learner = Container(Find(docs, "StatefulSet", "chord-learner"), "learner");
  EXPECT_FALSE(HasFlag(Args(learner), "rollout_workers"));
  EXPECT_EQ(Flag(Args(learner), "worker_lease_s"), "15");
  EXPECT_EQ(Flag(Args(learner), "expert_buffer"), "chord-expert-buffer.ml.svc:50051");
  EXPECT_EQ(Flag(Args(learner), "reward"), "chord-reward.ml.svc:50051");
  // The expert buffer keeps datasets and cursors on its claim.
  YAML::Node buffer = Find(docs, "StatefulSet", "chord-expert-buffer");
  ASSERT_TRUE(buffer);
  EXPECT_EQ(buffer["spec"]["replicas"].as<int>(), 1);
  EXPECT_EQ(buffer["spec"]["volumeClaimTemplates"].size(), 1u);
  std::vector<std::string> args = Args(Container(buffer, "expert-buffer"));
  EXPECT_TRUE(absl::StartsWith(Flag(args, "data_root"), "/var/lib/chord/expert-buffer/"));
  EXPECT_TRUE(absl::StartsWith(Flag(args, "state_dir"), "/var/lib/chord/expert-buffer/"));
}

TEST_F(HelmChartTest, NetworkPoliciesLetOnlyTheLearnerIn) {
  std::vector<YAML::Node> docs = Render("");
  YAML::Node learner = Find(docs, "NetworkPolicy", "chord-learner");
  ASSERT_TRUE(learner);
  const YAML::Node& ingress = learner["spec"]["ingress"];
  ASSERT_EQ(ingress.size(), 3u);
  // Rank to rank: every TCP port (no port named).
  EXPECT_EQ(ingress[0]["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
                .as<std::string>(),
            "learner");
  EXPECT_EQ(ingress[0]["ports"][0]["protocol"].as<std::string>(), "TCP");
  EXPECT_FALSE(ingress[0]["ports"][0]["port"]);
  // The gRPC port from anywhere by default.
  EXPECT_EQ(ingress[1]["ports"][0]["port"].as<int>(), 50051);
  EXPECT_FALSE(ingress[1]["from"]);
  // Metrics from the Prometheus namespace.
  EXPECT_EQ(ingress[2]["ports"][0]["port"].as<int>(), 9090);
  EXPECT_EQ(ingress[2]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                .as<std::string>(),
            "monitoring");
  for (const char* component : {"rollout-worker", "expert-buffer", "reward"}) {
    YAML::Node policy = Find(docs, "NetworkPolicy", absl::StrCat("chord-", component));
    ASSERT_TRUE(policy) << component;
    const YAML::Node& rules = policy["spec"]["ingress"];
    ASSERT_EQ(rules.size(), 2u) << component;
    EXPECT_EQ(rules[0]["from"].size(), 1u);
    EXPECT_EQ(rules[0]["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
                  .as<std::string>(),
              "learner")
        << component;
    EXPECT_EQ(rules[0]["ports"][0]["port"].as<int>(), 50051) << component;
    EXPECT_EQ(rules[1]["ports"][0]["port"].as<int>(), 9090) << component;
  }
  // Narrowed: the rollout workers keep their way in.
  std::vector<YAML::Node> narrowed = Render(
      "--set-json 'networkPolicy.learnerGrpcFrom=[{\"namespaceSelector\":{\"matchLabels\":"
      "{\"team\":\"ml\"}}}]'");
  const YAML::Node& from =
      Find(narrowed, "NetworkPolicy", "chord-learner")["spec"]["ingress"][1]["from"];
  ASSERT_EQ(from.size(), 2u);
  EXPECT_EQ(from[0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"].as<std::string>(),
            "rollout-worker");
  EXPECT_EQ(from[1]["namespaceSelector"]["matchLabels"]["team"].as<std::string>(), "ml");
  EXPECT_TRUE(OfKind(Render("--set networkPolicy.enabled=false"), "NetworkPolicy").empty());
}

TEST_F(HelmChartTest, ServiceMonitorPerServiceWithTheRulesJobNames) {
  std::vector<YAML::Node> docs =
      Render("-f " + SourcePath("helm/chord/examples/with-monitoring.yaml"));
  std::vector<YAML::Node> monitors = OfKind(docs, "ServiceMonitor");
  ASSERT_EQ(monitors.size(), 4u);
  std::set<std::string> jobs;
  for (const YAML::Node& monitor : monitors) {
    EXPECT_EQ(monitor["spec"]["jobLabel"].as<std::string>(), "chord-job");
    EXPECT_EQ(monitor["metadata"]["labels"]["release"].as<std::string>(), "kube-prometheus-stack");
    EXPECT_EQ(monitor["spec"]["endpoints"][0]["port"].as<std::string>(), "metrics");
    // It selects exactly one Service, which has a metrics port and names the job.
    int selected = 0;
    for (const YAML::Node& service : OfKind(docs, "Service")) {
      if (!Selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])) {
        continue;
      }
      ++selected;
      jobs.insert(service["metadata"]["labels"]["chord-job"].as<std::string>());
      bool metrics = false;
      for (const YAML::Node& port : service["spec"]["ports"]) {
        metrics |= port["name"].as<std::string>() == "metrics";
      }
      EXPECT_TRUE(metrics);
      // The learner's is the headless Service: every rank is scraped.
      if (monitor["metadata"]["name"].as<std::string>() == "chord-learner") {
        EXPECT_EQ(service["metadata"]["name"].as<std::string>(), "chord-learner-headless");
      }
    }
    EXPECT_EQ(selected, 1) << monitor["metadata"]["name"];
  }
  EXPECT_EQ(jobs, (std::set<std::string>{"chord-learner", "chord-rollout-worker",
                                         "chord-expert-buffer", "chord-reward"}));
  EXPECT_EQ(OfKind(docs, "PrometheusRule").size(), 1u);
  // Scrape annotations off in this example.
  for (const YAML::Node& workload : Workloads(docs)) {
    const YAML::Node& annotations = workload["spec"]["template"]["metadata"]["annotations"];
    EXPECT_FALSE(annotations && annotations["prometheus.io/scrape"]);
  }
}

// Every host a service dials, and the rollout workers' TLS name, is in the certificate.
TEST_F(HelmChartTest, TlsCertificateNamesEveryServiceDialled) {
  std::vector<std::string> dialled = {"chord-learner.ml.svc", "chord-expert-buffer.ml.svc",
                                      "chord-reward.ml.svc", "chord-rollout-worker.ml.svc",
                                      "localhost"};
  // Generated by Helm.
  std::vector<YAML::Node> docs = Render("--set tls.enabled=true");
  YAML::Node secret = Find(docs, "Secret", "chord-tls");
  ASSERT_TRUE(secret);
  EXPECT_EQ(secret["type"].as<std::string>(), "kubernetes.io/tls");
  TempDir dir;
  std::string cert, ca;
  ASSERT_TRUE(absl::Base64Unescape(secret["data"]["tls.crt"].as<std::string>(), &cert));
  ASSERT_TRUE(absl::Base64Unescape(secret["data"]["ca.crt"].as<std::string>(), &ca));
  std::ofstream(dir.File("tls.crt")) << cert;
  std::ofstream(dir.File("ca.crt")) << ca;
  CommandResult text = RunCommand("openssl x509 -noout -text -in " + dir.File("tls.crt"));
  ASSERT_EQ(text.exit_code, 0) << text.output;
  for (const std::string& name : dialled) {
    EXPECT_TRUE(absl::StrContains(text.output, "DNS:" + name)) << name << "\n" << text.output;
  }
  EXPECT_TRUE(absl::StrContains(text.output,
                                "TLS Web Server Authentication, TLS Web Client Authentication"))
      << text.output;
  CommandResult verify = RunCommand(
      absl::StrCat("openssl verify -CAfile ", dir.File("ca.crt"), " ", dir.File("tls.crt")));
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  YAML::Node learner = Container(Find(docs, "StatefulSet", "chord-learner"), "learner");
  EXPECT_EQ(Flag(Args(learner), "rollout_tls_server_name"), "chord-rollout-worker.ml.svc");
  EXPECT_EQ(Flag(Args(learner), "tls_ca_file"), "/etc/chord/tls/ca.crt");
  EXPECT_FALSE(HasFlag(Args(learner), "tls_client_ca_file"));  // users need no client certificate
  for (const char* name : {"expert-buffer", "reward"}) {
    YAML::Node workload = FindWorkload(docs, absl::StrCat("chord-", name));
    ASSERT_TRUE(workload) << name;
    EXPECT_EQ(Flag(Args(Container(workload, name)), "tls_client_ca_file"), "/etc/chord/tls/ca.crt")
        << name << ": mutual TLS inside the release";
  }
  // From cert-manager: the same names, both usages.
  std::vector<YAML::Node> managed = Render(
      "--set tls.enabled=true --set tls.certManager.enabled=true "
      "--set tls.certManager.issuerRef.name=chord-ca");
  EXPECT_TRUE(OfKind(managed, "Secret").size() == 1u) << "only the tokens";
  YAML::Node certificate = Find(managed, "Certificate", "chord-chord");
  ASSERT_TRUE(certificate);
  EXPECT_EQ(certificate["spec"]["secretName"].as<std::string>(), "chord-tls");
  std::set<std::string> names;
  for (const YAML::Node& name : certificate["spec"]["dnsNames"])
    names.insert(name.as<std::string>());
  for (const std::string& name : dialled) EXPECT_TRUE(names.count(name)) << name;
  std::set<std::string> usages;
  for (const YAML::Node& usage : certificate["spec"]["usages"])
    usages.insert(usage.as<std::string>());
  EXPECT_TRUE(usages.count("server auth") && usages.count("client auth"));
}

// Flags of contracts-level features that the binaries of this build may not have yet (the elastic
// rollout workers). A flag here that the binary does have fails the test: remove it then.
const std::map<std::string, std::set<std::string>>& PendingFlags() {
  static const auto* pending = new std::map<std::string, std::set<std::string>>{
      {"chord-learner", {"worker_lease_s", "rollout_tls_server_name"}},
      {"chord-rollout-worker", {"register_with", "advertise_address"}},
  };
  return *pending;
}

TEST_F(HelmChartTest, EveryFlagPassedIsAFlagOfTheBinary) {
  std::vector<YAML::Node> docs = Render("--set tls.enabled=true --set tls.learnerClientCerts=true");
  std::vector<YAML::Node> plain = Render("");
  for (const YAML::Node& doc : Workloads(plain)) docs.push_back(doc);
  std::map<std::string, std::set<std::string>> known;
  int checked = 0;
  for (const YAML::Node& workload : Workloads(docs)) {
    for (const YAML::Node& container : workload["spec"]["template"]["spec"]["containers"]) {
      ASSERT_EQ(container["command"].size(), 1u);
      const std::string binary = container["command"][0].as<std::string>();
      if (!known.count(binary)) {
        ASSERT_TRUE(fs::exists(BinaryPath(binary))) << BinaryPath(binary);
        CommandResult help = RunCommand(BinaryPath(binary) + " --helpfull");
        std::set<std::string>& flags = known[binary];
        for (absl::string_view line : absl::StrSplit(help.output, '\n')) {
          line = absl::StripLeadingAsciiWhitespace(line);
          if (!absl::ConsumePrefix(&line, "--")) continue;
          flags.insert(std::string(line.substr(0, line.find_first_of(" =("))));
        }
        ASSERT_GT(flags.size(), 20u) << binary << " --helpfull:\n" << help.output;
        auto pending = PendingFlags().find(binary);
        if (pending != PendingFlags().end()) {
          for (const std::string& flag : pending->second) {
            EXPECT_FALSE(flags.count(flag))
                << binary << " now has --" << flag << ": remove it from PendingFlags()";
          }
        }
      }
      for (const std::string& arg : Args(container)) {
        absl::string_view flag = arg;
        ASSERT_TRUE(absl::ConsumePrefix(&flag, "--")) << binary << ": " << arg;
        std::string name(flag.substr(0, flag.find('=')));
        ++checked;
        auto pending = PendingFlags().find(binary);
        if (pending != PendingFlags().end() && pending->second.count(name)) continue;
        EXPECT_TRUE(known[binary].count(name)) << binary << " has no flag --" << name;
      }
    }
  }
  EXPECT_EQ(known.size(), 4u);
  EXPECT_GT(checked, 60);
}

// NOTES.txt rendered as helm install prints it (through tpl in a copy of the chart, since
// `helm template` leaves NOTES.txt out).
std::string RenderNotes(const std::string& flags) {
  TempDir dir;
  const fs::path chart = fs::path(dir.path()) / "chord";
  fs::copy(Chart(), chart, fs::copy_options::recursive);
  fs::copy_file(chart / "templates" / "NOTES.txt", chart / "notes-source.txt");
  std::ofstream(chart / "templates" / "notes.yaml")
      << "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n"
      << "  notes: {{ tpl (.Files.Get \"notes-source.txt\") . | toJson }}\n";
  CommandResult rendered =
      RunCommand(absl::StrCat(Helm(), " template ", kRelease, " ", chart.string(), " --namespace ",
                              kNamespace, " --show-only templates/notes.yaml ", flags));
  EXPECT_EQ(rendered.exit_code, 0) << rendered.output;
  std::vector<YAML::Node> docs = Documents(rendered.output);
  if (docs.size() != 1) return "";
  return docs[0]["data"]["notes"].as<std::string>();
}

TEST_F(HelmChartTest, NotesTellHowToReachTheLearnerAndUseChordctl) {
  const std::string notes = RenderNotes("--set tls.enabled=true");
  for (const char* needle :
       {"kubectl -n ml port-forward svc/chord-learner 50051:50051",
        "kubectl -n ml get secret chord-tokens -o jsonpath='{.data.user\\.token}' | base64 -d > "
        "user.token",
        "kubectl -n ml get secret chord-tls -o jsonpath='{.data.ca\\.crt}' | base64 -d > ca.crt",
        "export CHORD_LEARNER_ADDRESS=localhost:50051 CHORD_TOKEN_FILE=$PWD/user.token",
        "export CHORD_TLS_CA=$PWD/ca.crt", "chordctl models push ./my-model --name my-model",
        "chordctl models list", "chordctl datasets upload tasks.jsonl --name tasks",
        "chordctl submit job.yaml", "chordctl watch JOB",
        "kubectl -n ml scale deployment/chord-rollout-worker --replicas=4",
        "chordctl models pull JOB --out ./trained", "state-chord-learner-0"}) {
    EXPECT_TRUE(absl::StrContains(notes, needle)) << "no \"" << needle << "\" in\n" << notes;
  }
  // The names NOTES uses are the rendered objects' names.
  std::vector<YAML::Node> docs = Render("--set tls.enabled=true");
  EXPECT_TRUE(Find(docs, "Service", "chord-learner"));
  EXPECT_TRUE(Find(docs, "Secret", "chord-tokens"));
  EXPECT_TRUE(Find(docs, "Deployment", "chord-rollout-worker"));
  EXPECT_EQ(Find(docs, "StatefulSet",
                 "chord-learner")["spec"]["volumeClaimTemplates"][0]["metadata"]["name"]
                .as<std::string>(),
            "state");
  const std::string plain = RenderNotes("");
  EXPECT_TRUE(absl::StrContains(plain, "CHORD_LEARNER_ADDRESS=127.0.0.1:50051")) << plain;
  EXPECT_TRUE(absl::StrContains(plain, "TLS is off")) << plain;
  EXPECT_FALSE(absl::StrContains(plain, "ca.crt")) << plain;
}

}  // namespace
}  // namespace chord
