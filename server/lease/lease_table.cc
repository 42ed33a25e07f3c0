#include "server/lease/lease_table.h"

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace memmgr {

std::string LeaseTable::NewLeaseId() {
  // absl::BitGen is seeded from the OS entropy source.
  thread_local absl::BitGen gen;
  char bytes[16];
  for (char& b : bytes) b = static_cast<char>(absl::Uniform<uint8_t>(gen));
  return absl::BytesToHexString(absl::string_view(bytes, sizeof(bytes)));
}

absl::StatusOr<Lease*> LeaseTable::Resolve(absl::string_view id,
                                           absl::Time now) {
  if (id.empty()) return absl::InvalidArgumentError("lease_id is required");
  if (id.size() > 64) {
    return absl::InvalidArgumentError("lease_id is longer than 64 bytes");
  }
  auto it = by_id_.find(id);
  if (it == by_id_.end()) {
    if (tombstones_.contains(id)) {
      return absl::FailedPreconditionError(
          "lease has expired or was released; register the worker again");
    }
    return absl::UnauthenticatedError("unknown lease_id");
  }
  Lease& lease = by_number_.at(it->second);
  if (now > lease.deadline) {
    return absl::FailedPreconditionError(absl::StrCat(
        "lease expired ", absl::FormatDuration(now - lease.deadline),
        " ago; register the worker again"));
  }
  return &lease;
}

Lease* LeaseTable::Add(Lease lease) {
  const uint32_t number = lease.number;
  by_id_[lease.id] = number;
  auto [it, inserted] = by_number_.insert_or_assign(number, std::move(lease));
  return &it->second;
}

Lease* LeaseTable::FindByNumber(uint32_t number) {
  auto it = by_number_.find(number);
  return it == by_number_.end() ? nullptr : &it->second;
}

Lease* LeaseTable::FindById(absl::string_view id) {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : FindByNumber(it->second);
}

void LeaseTable::Remove(uint32_t number) {
  auto it = by_number_.find(number);
  if (it == by_number_.end()) return;
  std::string id = it->second.id;
  by_id_.erase(id);
  by_number_.erase(it);
  if (tombstones_.insert(id).second) {
    tombstone_order_.push_back(std::move(id));
    if (tombstone_order_.size() > kTombstones) {
      tombstones_.erase(tombstone_order_.front());
      tombstone_order_.pop_front();
    }
  }
}

std::vector<uint32_t> LeaseTable::Expired(absl::Time now) const {
  std::vector<uint32_t> out;
  for (const auto& [number, lease] : by_number_) {
    if (now > lease.deadline) out.push_back(number);
  }
  return out;
}

}  // namespace memmgr
