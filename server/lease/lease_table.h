// LeaseTable: the live worker leases (one per registered worker), indexed by
// the opaque lease id workers present and by the small lease number that
// swap_map entries store as their owner. Also remembers recently ended lease
// ids, so a worker presenting one learns it must re-register
// (FAILED_PRECONDITION) rather than that its id is garbage (UNAUTHENTICATED).
//
// Thread-safety: not thread-safe; SwapStore guards it with its mutex.
#ifndef MEMMGR_SERVER_LEASE_LEASE_TABLE_H_
#define MEMMGR_SERVER_LEASE_LEASE_TABLE_H_

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "memmgr/v1/memory_manager.pb.h"

namespace memmgr {

struct Lease {
  std::string id;
  uint32_t number = 0;
  v1::RegisterWorkerRequest spec;
  absl::Time deadline;  // expires when now > deadline
  uint64_t slots = 0;   // live or in-flight slots owned
};

class LeaseTable {
 public:
  // Lease ids of ended leases remembered for FAILED_PRECONDITION answers.
  static constexpr size_t kTombstones = 4096;

  // A fresh random lease id (32 hex characters, 128 bits of entropy).
  static std::string NewLeaseId();

  // The live lease `id` names at time `now`:
  //   empty or over-long id                 -> INVALID_ARGUMENT
  //   deadline passed, or ended lease       -> FAILED_PRECONDITION
  //   never issued                          -> UNAUTHENTICATED
  absl::StatusOr<Lease*> Resolve(absl::string_view id, absl::Time now);

  Lease* Add(Lease lease);
  Lease* FindByNumber(uint32_t number);
  // The lease with this id, live or past its deadline; nullptr if none.
  Lease* FindById(absl::string_view id);
  // Removes the lease and remembers its id as ended.
  void Remove(uint32_t number);
  // Numbers of leases whose deadline is before `now`.
  std::vector<uint32_t> Expired(absl::Time now) const;

  size_t size() const { return by_number_.size(); }
  template <typename Fn>
  void ForEach(Fn fn) const {
    for (const auto& [number, lease] : by_number_) fn(lease);
  }

 private:
  absl::flat_hash_map<uint32_t, Lease> by_number_;
  absl::flat_hash_map<std::string, uint32_t> by_id_;
  std::deque<std::string> tombstone_order_;
  absl::flat_hash_set<std::string> tombstones_;
};

}  // namespace memmgr

#endif  // MEMMGR_SERVER_LEASE_LEASE_TABLE_H_
