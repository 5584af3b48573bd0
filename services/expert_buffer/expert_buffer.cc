#include "services/expert_buffer/expert_buffer.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <set>
#include <system_error>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/files/file_io.h"
#include "common/status/status_macros.h"
#include "nlohmann/json.hpp"
#include "services/expert_buffer/fingerprint.h"
#include "services/expert_buffer/sampler.h"
#include "spdlog/spdlog.h"

namespace chord::expert_buffer {
namespace {

constexpr size_t kMaxNameLength = 128;
constexpr absl::string_view kManifestFile = "manifest.json";
constexpr absl::string_view kInlineDir = "inline";

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

std::string QuoteName(absl::string_view name) {
  return absl::StrCat("\"", absl::CHexEscape(name.substr(0, 160)), "\"");
}

// "expert demonstrations" / "tasks", for messages.
absl::string_view KindNoun(dataset::DatasetKind kind) {
  return kind == dataset::DatasetKind::kExpert ? "expert demonstrations" : "tasks";
}

}  // namespace

absl::Status ValidateDatasetName(absl::string_view name, absl::string_view field) {
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": must not be empty"));
  bool ok = name.size() <= kMaxNameLength && std::all_of(name.begin(), name.end(), IsNameChar);
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must match [A-Za-z0-9_.-]{1,128} (got ", QuoteName(name), ")"));
  }
  return absl::OkStatus();
}

std::string Dataset::version() const { return ToHex16(fingerprint_); }

ExpertBuffer::ExpertBuffer(ExpertBufferOptions options, files::ConfinedRoots roots,
                           prometheus::Registry* registry)
    : options_(std::move(options)), roots_(std::move(roots)) {
  if (registry != nullptr) metrics_ = std::make_unique<ExpertBufferMetrics>(*registry);
}

absl::StatusOr<std::unique_ptr<ExpertBuffer>> ExpertBuffer::Create(ExpertBufferOptions options,
                                                                   prometheus::Registry* registry) {
  if (options.max_sample < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_sample: must be >= 1 (got ", options.max_sample, ")"));
  }
  if (options.load_threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("load_threads: must be >= 0 (got ", options.load_threads, ")"));
  }
  if (options.max_line_bytes < 1) {
    return absl::InvalidArgumentError("max_line_bytes: must be >= 1");
  }
  if (options.max_dataset_bytes < 1) {
    return absl::InvalidArgumentError("max_dataset_bytes: must be >= 1");
  }
  ASSIGN_OR_RETURN(
      files::ConfinedRoots roots,
      files::ConfinedRoots::Create(
          options.data_roots.empty() ? std::vector<std::string>{"/"} : options.data_roots,
          "the data root"));
  auto buffer = std::unique_ptr<ExpertBuffer>(
      new ExpertBuffer(std::move(options), std::move(roots), registry));
  if (!buffer->options_.state_dir.empty()) RETURN_IF_ERROR(buffer->Restore());
  return buffer;
}

std::string ExpertBuffer::StatePath(absl::string_view relative) const {
  return absl::StrCat(options_.state_dir, "/", relative);
}

absl::Status ExpertBuffer::Restore() {
  std::error_code error;
  std::filesystem::create_directories(StatePath(kInlineDir), error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("state_dir: cannot create ", StatePath(kInlineDir), ": ", error.message()));
  }
  const std::string manifest_path = StatePath(kManifestFile);
  std::set<std::string> referenced;
  if (std::filesystem::exists(manifest_path, error)) {
    ASSIGN_OR_RETURN(std::string text, files::ReadFile(manifest_path));
    struct Item {
      std::string name, kind, version, source_path, saved_copy;
    };
    std::vector<Item> items;
    try {
      nlohmann::json doc = nlohmann::json::parse(text);
      for (const nlohmann::json& entry : doc.at("datasets")) {
        Item item;
        item.name = entry.at("name").get<std::string>();
        item.kind = entry.at("kind").get<std::string>();
        item.version = entry.value("version", "");
        item.source_path = entry.value("source_path", "");
        item.saved_copy = entry.value("saved_copy", "");
        items.push_back(std::move(item));
      }
    } catch (const std::exception& e) {
      return absl::DataLossError(
          absl::StrCat(manifest_path, ": unreadable manifest (", e.what(), ")"));
    }
    for (const Item& item : items) {
      auto context = absl::StrCat(manifest_path, ": dataset ", QuoteName(item.name));
      auto kind = dataset::ParseDatasetKind(item.kind);
      if (!kind.ok()) return Annotate(kind.status(), context);
      Source source;
      std::string file;
      if (!item.saved_copy.empty()) {
        source.saved_copy = item.saved_copy;
        file = StatePath(item.saved_copy);
      } else {
        source.path = item.source_path;
        file = item.source_path;
      }
      const absl::Time start = absl::Now();
      // A file loaded by path is read under the data roots of this start (they may have changed).
      auto content = item.saved_copy.empty() ? roots_.ReadFile(file, options_.max_dataset_bytes)
                                             : files::ReadFile(file);
      if (!content.ok()) return Annotate(content.status(), context);
      auto loaded = Load(item.name, *kind, source, *content, /*persist=*/false, start);
      if (!loaded.ok()) return Annotate(loaded.status(), context);
      if (!item.version.empty() && loaded->version != item.version) {
        spdlog::warn(
            "dataset {} changed since it was loaded (version {} -> {}): cursors issued for the "
            "old version will be refused",
            item.name, item.version, loaded->version);
      }
      if (!item.saved_copy.empty()) referenced.insert(item.saved_copy);
    }
  }
  {
    absl::MutexLock commit(&commit_mu_);
    RETURN_IF_ERROR(Persist("", Entry()));
  }
  // Copies of inline content nothing refers to any more (left by an interrupted replacement).
  // (Best effort, with error codes: the standard library must not throw here.)
  std::filesystem::directory_iterator it(StatePath(kInlineDir), error);
  for (; !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    std::string relative = absl::StrCat(kInlineDir, "/", it->path().filename().string());
    std::error_code ignored;
    if (referenced.count(relative) == 0) std::filesystem::remove(it->path(), ignored);
  }
  return absl::OkStatus();
}

absl::Status ExpertBuffer::Persist(const std::string& name, const Entry& entry) {
  nlohmann::json list = nlohmann::json::array();
  auto describe = [&](const std::string& dataset_name, const Entry& e) {
    nlohmann::json item = {{"name", dataset_name},
                           {"kind", std::string(dataset::DatasetKindName(e.current->kind()))},
                           {"version", e.current->version()}};
    if (!e.saved_copy.empty()) {
      item["saved_copy"] = e.saved_copy;
    } else {
      std::error_code error;
      std::filesystem::path absolute = std::filesystem::absolute(e.current->source_path(), error);
      item["source_path"] = error ? e.current->source_path() : absolute.string();
    }
    list.push_back(std::move(item));
  };
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [dataset_name, e] : datasets_) {
      if (dataset_name == name) {
        describe(name, entry);
      } else if (e.current != nullptr) {
        describe(dataset_name, e);
      }
    }
    if (!name.empty() && datasets_.count(name) == 0) describe(name, entry);
  }
  std::string text;
  try {
    text = nlohmann::json({{"format", 1}, {"datasets", std::move(list)}}).dump(2) + "\n";
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("state_dir: cannot write the manifest: ", e.what()));
  }
  return files::WriteFileAtomically(StatePath(kManifestFile), text);
}

absl::StatusOr<LoadResult> ExpertBuffer::LoadFile(absl::string_view name, dataset::DatasetKind kind,
                                                  const std::string& path) {
  RETURN_IF_ERROR(ValidateDatasetName(name, "name"));
  if (path.empty()) return absl::InvalidArgumentError("path: must not be empty");
  const absl::Time start = absl::Now();
  auto failed = [&](const absl::Status& status) {
    if (metrics_ != nullptr) {
      metrics_->RecordLoad(false, absl::ToDoubleSeconds(absl::Now() - start), 0);
    }
    return Annotate(status, "path");
  };
  absl::StatusOr<std::string> resolved = roots_.Resolve(path);
  if (!resolved.ok()) return failed(resolved.status());
  auto content = roots_.ReadFile(path, options_.max_dataset_bytes);
  if (!content.ok()) return failed(content.status());
  Source source;
  source.path = *resolved;
  return Load(name, kind, source, *content, /*persist=*/true, start);
}

absl::StatusOr<LoadResult> ExpertBuffer::LoadContent(absl::string_view name,
                                                     dataset::DatasetKind kind,
                                                     std::string content) {
  if (static_cast<int64_t>(content.size()) > options_.max_dataset_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("content: ", content.size(), " bytes exceed the limit of ",
                     options_.max_dataset_bytes, " bytes per dataset"));
  }
  return Load(name, kind, Source(), content, /*persist=*/true, absl::Now());
}

absl::StatusOr<LoadResult> ExpertBuffer::Load(absl::string_view name, dataset::DatasetKind kind,
                                              const Source& source, const std::string& content,
                                              bool persist, absl::Time start) {
  RETURN_IF_ERROR(ValidateDatasetName(name, "name"));
  const uint64_t fingerprint = Fingerprint64(content, static_cast<uint64_t>(kind));
  auto finish = [&](bool ok) {
    if (metrics_ != nullptr) {
      metrics_->RecordLoad(ok, absl::ToDoubleSeconds(absl::Now() - start),
                           static_cast<int64_t>(content.size()));
    }
  };
  auto unchanged = [&](const Dataset& current) {
    finish(true);
    LoadResult result;
    result.name = std::string(name);
    result.kind = kind;
    result.num_records = current.size();
    result.version = current.version();
    result.replaced = false;
    return result;
  };
  if (auto current = Find(name);
      current != nullptr && current->fingerprint() == fingerprint && current->kind() == kind) {
    return unchanged(*current);
  }

  dataset::ParseOptions parse;
  parse.dataset_name = std::string(name);
  parse.source = source.path.empty() ? absl::StrCat("<inline:", name, ">") : source.path;
  parse.threads = options_.load_threads;
  parse.max_line_bytes = options_.max_line_bytes;
  auto records = dataset::ParseJsonl(kind, content, parse);
  if (!records.ok()) {
    finish(false);
    return records.status();
  }
  auto dataset = std::make_shared<const Dataset>(
      std::string(name), fingerprint, source.path, static_cast<int64_t>(content.size()),
      absl::ToUnixSeconds(absl::Now()), std::move(*records));

  absl::MutexLock commit(&commit_mu_);
  // A concurrent load may have committed the same content meanwhile.
  if (auto current = Find(name);
      current != nullptr && current->fingerprint() == fingerprint && current->kind() == kind) {
    return unchanged(*current);
  }
  Entry entry;
  entry.current = dataset;
  if (!options_.state_dir.empty()) {
    if (source.path.empty()) {
      entry.saved_copy = source.saved_copy;
      if (entry.saved_copy.empty()) {
        entry.saved_copy = absl::StrCat(kInlineDir, "/", name, ".", dataset->version(), ".jsonl");
        absl::Status saved = files::WriteFileAtomically(StatePath(entry.saved_copy), content);
        if (!saved.ok()) {
          finish(false);
          return Annotate(saved, "state_dir: cannot save the inline content");
        }
      }
    }
    if (persist) {
      absl::Status written = Persist(std::string(name), entry);
      if (!written.ok()) {
        finish(false);
        return Annotate(written, "state_dir: cannot record the dataset");
      }
    }
  }
  std::string old_copy;
  {
    absl::MutexLock lock(&mu_);
    Entry& slot = datasets_[std::string(name)];
    old_copy = slot.saved_copy;
    slot.current = dataset;
    slot.saved_copy = entry.saved_copy;
    slot.max_epoch = 0;
  }
  if (!old_copy.empty() && old_copy != entry.saved_copy) {
    std::error_code error;
    std::filesystem::remove(StatePath(old_copy), error);
  }
  if (metrics_ != nullptr) metrics_->SetServed(name, kind, dataset->size());
  finish(true);
  double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  spdlog::info("loaded dataset {} ({}, {}): {} records, {} bytes in {:.3f}s, version {}",
               std::string(name), std::string(dataset::DatasetKindName(kind)), parse.source,
               dataset->size(), content.size(), seconds, dataset->version());
  LoadResult result;
  result.name = std::string(name);
  result.kind = kind;
  result.num_records = dataset->size();
  result.version = dataset->version();
  result.replaced = true;
  return result;
}

std::shared_ptr<const Dataset> ExpertBuffer::Find(absl::string_view name) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = datasets_.find(name);
  return it == datasets_.end() ? nullptr : it->second.current;
}

absl::StatusOr<SampleResult> ExpertBuffer::Sample(absl::string_view dataset_name,
                                                  dataset::DatasetKind kind, int64_t n,
                                                  absl::string_view cursor_text, uint64_t seed) {
  RETURN_IF_ERROR(ValidateDatasetName(dataset_name, "dataset"));
  if (n < 1 || n > options_.max_sample) {
    return absl::InvalidArgumentError(
        absl::StrCat("n: must be in [1, ", options_.max_sample, "] (got ", n, ")"));
  }
  std::shared_ptr<const Dataset> dataset = Find(dataset_name);
  if (dataset == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("dataset: no dataset named ", QuoteName(dataset_name), " is loaded"));
  }
  if (dataset->kind() != kind) {
    return absl::FailedPreconditionError(absl::StrCat("dataset: ", QuoteName(dataset_name),
                                                      " holds ", KindNoun(dataset->kind()),
                                                      ", not ", KindNoun(kind)));
  }
  Cursor cursor;
  if (cursor_text.empty()) {
    cursor.dataset = std::string(dataset_name);
    cursor.version = dataset->fingerprint();
    cursor.seed = seed;
  } else {
    ASSIGN_OR_RETURN(cursor, DecodeCursor(cursor_text));
    if (cursor.dataset != dataset_name) {
      return absl::InvalidArgumentError(absl::StrCat("cursor: issued for dataset ",
                                                     QuoteName(cursor.dataset), ", not ",
                                                     QuoteName(dataset_name)));
    }
    if (cursor.version != dataset->fingerprint()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cursor: dataset ", QuoteName(dataset_name),
          " changed since the cursor was issued (cursor version ", ToHex16(cursor.version),
          ", served version ", dataset->version(), "); start a new sequence without a cursor"));
    }
    if (cursor.position >= dataset->size()) {
      return absl::InvalidArgumentError(absl::StrCat("cursor: position ", cursor.position,
                                                     " is out of range for ", dataset->size(),
                                                     " records"));
    }
  }
  SampleResult result;
  result.dataset = dataset;
  DrawIndices(static_cast<uint64_t>(dataset->size()), n, &cursor, &result.indices);
  result.next_cursor = EncodeCursor(cursor);
  result.epoch = cursor.epoch;
  // The epoch of the last record drawn.
  const int64_t last_epoch = cursor.position == 0 ? cursor.epoch - 1 : cursor.epoch;
  int64_t max_epoch = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = datasets_.find(dataset_name);
    if (it != datasets_.end()) {
      Entry& entry = it->second;
      entry.samples_served += n;
      if (entry.current == dataset) entry.max_epoch = std::max(entry.max_epoch, last_epoch);
      max_epoch = entry.max_epoch;
    }
  }
  if (metrics_ != nullptr) {
    metrics_->AddSamplesServed(dataset_name, n);
    metrics_->SetEpoch(dataset_name, max_epoch);
  }
  return result;
}

absl::StatusOr<TaskSlice> ExpertBuffer::ReadTasks(absl::string_view dataset_name, int64_t offset,
                                                  int64_t limit) {
  RETURN_IF_ERROR(ValidateDatasetName(dataset_name, "dataset"));
  if (offset < 0) {
    return absl::InvalidArgumentError(absl::StrCat("offset: must be >= 0 (got ", offset, ")"));
  }
  if (limit < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit: must be >= 0 (0 means all; got ", limit, ")"));
  }
  std::shared_ptr<const Dataset> dataset = Find(dataset_name);
  if (dataset == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("dataset: no dataset named ", QuoteName(dataset_name), " is loaded"));
  }
  if (dataset->kind() != dataset::DatasetKind::kTasks) {
    return absl::FailedPreconditionError(absl::StrCat(
        "dataset: ", QuoteName(dataset_name), " holds ", KindNoun(dataset->kind()), ", not tasks"));
  }
  if (offset > dataset->size()) {
    return absl::OutOfRangeError(absl::StrCat("offset: ", offset, " is past the end of dataset ",
                                              QuoteName(dataset_name), " (", dataset->size(),
                                              " tasks)"));
  }
  TaskSlice slice;
  slice.begin = offset;
  slice.end = limit == 0 ? dataset->size() : std::min(dataset->size(), offset + limit);
  slice.dataset = std::move(dataset);
  return slice;
}

absl::StatusOr<std::vector<DatasetStats>> ExpertBuffer::Stats(absl::string_view dataset) const {
  if (!dataset.empty()) RETURN_IF_ERROR(ValidateDatasetName(dataset, "dataset"));
  std::vector<DatasetStats> out;
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [name, entry] : datasets_) {
    if (entry.current == nullptr || (!dataset.empty() && name != dataset)) continue;
    const Dataset& d = *entry.current;
    DatasetStats stats;
    stats.name = name;
    stats.kind = d.kind();
    stats.num_records = d.size();
    stats.version = d.version();
    stats.source_path = d.source_path();
    stats.source_bytes = d.source_bytes();
    stats.max_epoch = entry.max_epoch;
    stats.samples_served = entry.samples_served;
    stats.loaded_at_unix = d.loaded_at_unix();
    out.push_back(std::move(stats));
  }
  if (!dataset.empty() && out.empty()) {
    return absl::NotFoundError(
        absl::StrCat("dataset: no dataset named ", QuoteName(dataset), " is loaded"));
  }
  return out;
}

}  // namespace chord::expert_buffer
