#include "services/expert_buffer/metrics.h"

#include <string>

#include "common/metrics/metrics.h"

namespace chord::expert_buffer {

ExpertBufferMetrics::ExpertBufferMetrics(prometheus::Registry& registry)
    : records_(prometheus::BuildGauge()
                   .Name("chord_expert_buffer_records")
                   .Help("dataset::Records of the served version of each dataset")
                   .Register(registry)),
      samples_served_(
          prometheus::BuildCounter()
              .Name("chord_expert_buffer_samples_served_total")
              .Help("dataset::Records returned by SampleExpert and SampleTasks, per dataset")
              .Register(registry)),
      epoch_(prometheus::BuildGauge()
                 .Name("chord_expert_buffer_epoch")
                 .Help("Highest epoch (0-based) any sampling cursor has drawn from, per dataset")
                 .Register(registry)),
      loads_(prometheus::BuildCounter()
                 .Name("chord_expert_buffer_loads_total")
                 .Help("Dataset loads by result (ok or error)")
                 .Register(registry)),
      loads_ok_(loads_.Add({{"result", "ok"}})),
      loads_error_(loads_.Add({{"result", "error"}})),
      load_seconds_(prometheus::BuildHistogram()
                        .Name("chord_expert_buffer_load_seconds")
                        .Help("Time to read and validate a dataset, in seconds")
                        .Register(registry)
                        .Add({}, metrics::LatencyBuckets())),
      load_bytes_(prometheus::BuildCounter()
                      .Name("chord_expert_buffer_load_bytes_total")
                      .Help("Bytes of JSONL read by dataset loads")
                      .Register(registry)
                      .Add({})) {}

void ExpertBufferMetrics::SetServed(absl::string_view dataset, dataset::DatasetKind kind,
                                    int64_t records) {
  std::string name(dataset);
  for (dataset::DatasetKind other : {dataset::DatasetKind::kExpert, dataset::DatasetKind::kTasks}) {
    if (other == kind) continue;
    std::map<std::string, std::string> labels = {
        {"dataset", name}, {"kind", std::string(dataset::DatasetKindName(other))}};
    if (records_.Has(labels)) records_.Remove(&records_.Add(labels));
  }
  records_.Add({{"dataset", name}, {"kind", std::string(dataset::DatasetKindName(kind))}})
      .Set(static_cast<double>(records));
  // Make the per-dataset series visible (at 0) as soon as the dataset is served.
  samples_served_.Add({{"dataset", name}});
  epoch_.Add({{"dataset", name}}).Set(0);
}

void ExpertBufferMetrics::AddSamplesServed(absl::string_view dataset, int64_t count) {
  samples_served_.Add({{"dataset", std::string(dataset)}}).Increment(static_cast<double>(count));
}

void ExpertBufferMetrics::SetEpoch(absl::string_view dataset, int64_t epoch) {
  epoch_.Add({{"dataset", std::string(dataset)}}).Set(static_cast<double>(epoch));
}

void ExpertBufferMetrics::RecordLoad(bool ok, double seconds, int64_t bytes) {
  (ok ? loads_ok_ : loads_error_).Increment();
  load_seconds_.Observe(seconds);
  load_bytes_.Increment(static_cast<double>(bytes));
}

}  // namespace chord::expert_buffer
