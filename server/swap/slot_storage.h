// SlotStorage: the swap store's one seam to durable storage (LevelDB's `Env`
// habit). Production uses RocksDbSlotStorage; tests wrap it to inject faults
// (a write that fails, a byte that rots) without mocking the store itself.
//
// Thread-safety: implementations are safe for concurrent use.
#ifndef MEMMGR_SERVER_SWAP_SLOT_STORAGE_H_
#define MEMMGR_SERVER_SWAP_SLOT_STORAGE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace memmgr {

// An atomic group of puts and deletes, applied in order.
class StorageBatch {
 public:
  struct Op {
    bool is_delete;
    std::string key;
    std::string value;
    // Appended to `value` when written; borrowed, not owned (see
    // PutWithBorrowedTail).
    absl::string_view borrowed_tail;
  };
  void Put(std::string key, std::string value) {
    ops_.push_back(Op{false, std::move(key), std::move(value), {}});
  }
  void Delete(std::string key) {
    ops_.push_back(Op{true, std::move(key), std::string(), {}});
  }
  // Puts key -> head + tail without copying `tail` (a page, typically):
  // the caller keeps tail's bytes alive until SlotStorage::Write returns.
  void PutWithBorrowedTail(std::string key, std::string head,
                           absl::string_view tail) {
    ops_.push_back(Op{false, std::move(key), std::move(head), tail});
  }
  const std::vector<Op>& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }
  void Reserve(size_t n) { ops_.reserve(n); }

 private:
  std::vector<Op> ops_;
};

struct StorageStats {
  uint64_t sst_bytes = 0;
  uint64_t live_data_bytes = 0;
  uint64_t memtable_bytes = 0;
};

class SlotStorage {
 public:
  virtual ~SlotStorage() = default;

  // Applies `batch` atomically. When this returns OK the batch is in the
  // write-ahead log (it survives the process being killed); with `sync` the
  // log was also fsynced (it survives power loss).
  virtual absl::Status Write(const StorageBatch& batch, bool sync) = 0;

  // Point reads; std::nullopt for an absent key.
  virtual absl::StatusOr<std::optional<std::string>> Get(
      absl::string_view key) = 0;
  // One result per key, in order. The overall status fails only on an I/O
  // error; absent keys are nullopt.
  virtual absl::StatusOr<std::vector<std::optional<std::string>>> MultiGet(
      const std::vector<std::string>& keys) = 0;

  // Calls fn(key, value) for every key starting with `prefix`, in key order;
  // stops early (and returns that status) when fn returns non-OK. The scan
  // reads a consistent view taken when it starts: fn may Write to this
  // storage, and the scan does not see those writes.
  virtual absl::Status Scan(
      absl::string_view prefix,
      const std::function<absl::Status(absl::string_view key,
                                       absl::string_view value)>& fn) = 0;

  virtual StorageStats GetStats() = 0;
};

}  // namespace memmgr

#endif  // MEMMGR_SERVER_SWAP_SLOT_STORAGE_H_
