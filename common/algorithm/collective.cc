#include "common/algorithm/collective.h"

#include <ATen/ATen.h>

#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/algorithm/exception_message.h"

namespace chord::algorithm {

absl::Status LocalCollective::AllReduceSum(std::vector<at::Tensor>& /*tensors*/) {
  return absl::OkStatus();
}

class InProcessCollectiveGroup::Member final : public Collective {
 public:
  Member(InProcessCollectiveGroup* group, int rank) : group_(group), rank_(rank) {}

  absl::Status AllReduceSum(std::vector<at::Tensor>& tensors) override {
    return group_->AllReduceSum(rank_, tensors);
  }
  int rank() const override { return rank_; }
  int world_size() const override { return group_->world_size(); }

 private:
  InProcessCollectiveGroup* const group_;
  const int rank_;
};

absl::StatusOr<std::unique_ptr<InProcessCollectiveGroup>> InProcessCollectiveGroup::Create(
    int world_size, absl::Duration timeout) {
  if (world_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("world_size: must be >= 1, got ", world_size));
  }
  if (timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("timeout: must be > 0");
  }
  return std::unique_ptr<InProcessCollectiveGroup>(
      new InProcessCollectiveGroup(world_size, timeout));
}

InProcessCollectiveGroup::InProcessCollectiveGroup(int world_size, absl::Duration timeout)
    : world_size_(world_size),
      timeout_(timeout),
      deposits_(world_size),
      arrived_(world_size, false) {
  for (int r = 0; r < world_size; ++r) members_.push_back(std::make_unique<Member>(this, r));
}

InProcessCollectiveGroup::~InProcessCollectiveGroup() = default;

Collective& InProcessCollectiveGroup::member(int rank) { return *members_.at(rank); }

absl::Status InProcessCollectiveGroup::AllReduceSum(int rank, std::vector<at::Tensor>& tensors) {
  absl::MutexLock lock(&mu_);
  if (!broken_.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("in-process collective group is broken: ", broken_.message()));
  }
  // A rank that finished the previous round waits until every peer has collected it.
  auto may_enter = [this, rank]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !broken_.ok() || !arrived_[rank];
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&may_enter), timeout_)) {
    broken_ = absl::DeadlineExceededError(
        absl::StrCat("rank ", rank, " waited more than ", absl::FormatDuration(timeout_),
                     " for its peers to finish the previous all-reduce"));
    return broken_;
  }
  if (!broken_.ok()) return broken_;

  deposits_[rank] = tensors;
  arrived_[rank] = true;
  ++num_arrived_;
  if (num_arrived_ == world_size_) {
    // Last to arrive: check that every rank brought the same tensors, then sum in rank order.
    for (int r = 1; r < world_size_ && broken_.ok(); ++r) {
      if (deposits_[r].size() != deposits_[0].size()) {
        broken_ = absl::InvalidArgumentError(
            absl::StrCat("all-reduce: rank ", r, " passed ", deposits_[r].size(),
                         " tensors, rank 0 passed ", deposits_[0].size()));
        break;
      }
      for (size_t i = 0; i < deposits_[0].size(); ++i) {
        if (!deposits_[r][i].sizes().equals(deposits_[0][i].sizes()) ||
            deposits_[r][i].scalar_type() != deposits_[0][i].scalar_type()) {
          broken_ =
              absl::InvalidArgumentError(absl::StrCat("all-reduce: tensor ", i, " of rank ", r,
                                                      " differs in shape or dtype from rank 0's"));
          break;
        }
      }
    }
    if (broken_.ok()) {
      try {
        result_.clear();
        for (size_t i = 0; i < deposits_[0].size(); ++i) {
          at::Tensor sum = deposits_[0][i].detach().clone();
          for (int r = 1; r < world_size_; ++r) {
            sum.add_(deposits_[r][i].detach().to(sum.device()));
          }
          result_.push_back(std::move(sum));
        }
        result_ready_ = true;
      } catch (const std::exception& e) {
        broken_ = absl::InternalError(absl::StrCat("all-reduce: ", internal::ExceptionMessage(e)));
      }
    }
  } else {
    auto done = [this]()
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !broken_.ok() || result_ready_; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&done), timeout_)) {
      broken_ = absl::DeadlineExceededError(absl::StrCat("rank ", rank, " waited more than ",
                                                         absl::FormatDuration(timeout_),
                                                         " for its peers to join the all-reduce"));
    }
  }
  if (!broken_.ok()) return broken_;

  try {
    for (size_t i = 0; i < tensors.size(); ++i) tensors[i].copy_(result_[i]);
  } catch (const std::exception& e) {
    broken_ = absl::InternalError(absl::StrCat("all-reduce: ", internal::ExceptionMessage(e)));
    return broken_;
  }
  if (++num_collected_ == world_size_) {
    for (int r = 0; r < world_size_; ++r) {
      deposits_[r].clear();
      arrived_[r] = false;
    }
    num_arrived_ = 0;
    num_collected_ = 0;
    result_.clear();
    result_ready_ = false;
  }
  return absl::OkStatus();
}

}  // namespace chord::algorithm
