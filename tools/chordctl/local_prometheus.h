#pragma once

// The local Prometheus of `chordctl up --prometheus`: a Prometheus server (Debian's `prometheus`
// package) bound to 127.0.0.1 that scrapes every service of a local cluster and evaluates Chord's
// rules (deploy/prometheus/rules.yml), so that the Grafana dashboards' queries can be run against
// a local job (docs/observability.md).
//
// Files, under the cluster's state directory:
//   prometheus/prometheus.yml   the scrape configuration (PrometheusConfig)
//   prometheus/data/            its TSDB (--storage.tsdb.path; kept across restarts)
//   logs/prometheus.log         its output
//
// Scrape jobs are named after the service kinds the rules and dashboards select on:
// chord-expert-buffer, chord-reward, chord-rollout-worker, chord-learner (every rank), plus
// `prometheus` for the server itself. Each target carries the label chord_service=<name in
// cluster.json> ("rollout-worker-1", "learner-0", ...).

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tools/chordctl/local_cluster.h"

namespace chord::chordctl {

// The name of the Prometheus process in cluster.json.
inline constexpr char kPrometheusServiceName[] = "prometheus";

struct LocalPrometheusOptions {
  // Path of the prometheus executable. Required.
  std::string binary;
  // Rules file to evaluate (absolute or relative to the working directory). Required.
  std::string rules_file;
  // Scrape and rule evaluation interval. Default 5 s.
  absl::Duration scrape_interval = absl::Seconds(5);
  // How long the server may take to listen. Default 60 s.
  absl::Duration start_timeout = absl::Seconds(60);
};

// The scrape job a cluster service belongs to ("chord-rollout-worker" for "rollout-worker-1"),
// "" for a name of no Chord service.
std::string ScrapeJobOf(const std::string& service_name);

// prometheus.yml for the services of `record` that have a metrics port (the Prometheus record
// itself is scraped as job `prometheus` when present; `self_port` > 0 adds it when it is not yet
// recorded). `rules_file` is written as given.
std::string PrometheusConfig(const ClusterRecord& record, const std::string& rules_file,
                             absl::Duration scrape_interval, int self_port);

// The prometheus executable: `configured` when not empty (NOT_FOUND when it is not executable),
// else `prometheus` on $PATH (NOT_FOUND when there is none: Debian's `prometheus` package).
absl::StatusOr<std::string> FindPrometheusBinary(const std::string& configured);

// Writes the configuration for `record`, starts Prometheus on 127.0.0.1 (a port picked free) in
// its own session, and waits until it listens. Returns its record (name "prometheus", address
// and metrics_port: its HTTP port) for cluster.json. NOT_FOUND for a missing rules file;
// UNAVAILABLE (with the tail of its log) when it exits or does not listen in time.
absl::StatusOr<ServiceRecord> StartLocalPrometheus(const ClusterRecord& record,
                                                   const LocalPrometheusOptions& options);

// Starts the Prometheus of `previous` again with the same command line (the same port and data
// directory) and waits until it listens.
absl::StatusOr<ServiceRecord> RestartLocalPrometheus(const ServiceRecord& previous,
                                                     absl::Duration start_timeout);

}  // namespace chord::chordctl
