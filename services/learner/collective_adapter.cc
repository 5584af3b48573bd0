#include "services/learner/collective_adapter.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <exception>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status/exception_status.h"
#include "common/status/status_macros.h"

namespace chord::learner {
absl::Status ProcessGroupCollective::AllReduceSum(std::vector<at::Tensor>& tensors) {
  return group_->AllReduceSum(tensors);
}

absl::Status BroadcastTensorsInBuckets(dist::ProcessGroup& group,
                                       const std::vector<at::Tensor>& tensors, int root,
                                       int64_t bucket_bytes) {
  if (group.world_size() == 1 || tensors.empty()) return absl::OkStatus();
  try {
    const bool is_root = group.rank() == root;
    size_t next = 0;
    while (next < tensors.size()) {
      const at::Tensor& first = tensors[next];
      std::vector<at::Tensor> members;
      int64_t bytes = 0;
      int64_t numel = 0;
      while (next < tensors.size()) {
        const at::Tensor& t = tensors[next];
        const int64_t t_bytes = t.numel() * static_cast<int64_t>(t.element_size());
        if (t.scalar_type() != first.scalar_type() || t.device() != first.device() ||
            (!members.empty() && bytes + t_bytes > bucket_bytes)) {
          break;
        }
        members.push_back(t);
        bytes += t_bytes;
        numel += t.numel();
        ++next;
      }
      at::Tensor flat;
      if (is_root) {
        std::vector<at::Tensor> parts;
        parts.reserve(members.size());
        for (const at::Tensor& t : members) parts.push_back(t.detach().reshape({-1}));
        flat = at::cat(parts);
      } else {
        flat = at::empty({numel}, first.options().requires_grad(false));
      }
      std::vector<at::Tensor> bucket{flat};
      RETURN_IF_ERROR(group.Broadcast(bucket, root));
      if (!is_root) {
        int64_t offset = 0;
        at::NoGradGuard no_grad;
        for (const at::Tensor& t : members) {
          // `t` shares storage with the caller's tensor: copy_ writes in place.
          at::Tensor target = t.detach();
          target.copy_(flat.narrow(0, offset, t.numel()).view(t.sizes()));
          offset += t.numel();
        }
      }
    }
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("rank ", group.rank(), "/", group.world_size(),
                                            ": broadcasting tensors: ", ExceptionMessage(e)));
  }
  return absl::OkStatus();
}

absl::Status ShareStatus(dist::ProcessGroup& group, const absl::Status& status, int root) {
  if (group.world_size() == 1) return status;
  // "<code>:<message>" from the root.
  std::string wire;
  if (group.rank() == root) {
    wire = absl::StrCat(static_cast<int>(status.code()), ":", status.message());
  }
  RETURN_IF_ERROR(group.BroadcastBytes(&wire, root));
  if (group.rank() == root) return status;
  const size_t colon = wire.find(':');
  int code = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(wire.substr(0, colon), &code)) {
    return absl::InternalError(
        absl::StrCat("rank ", group.rank(), ": malformed status from rank ", root));
  }
  if (code == 0) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(code),
                      absl::StrCat("rank ", root, ": ", wire.substr(colon + 1)));
}

}  // namespace chord::learner
