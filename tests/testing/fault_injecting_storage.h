// FaultInjectingStorage: a SlotStorage that forwards to a real one (RocksDB
// in tests) and can fail writes or rot the bytes it reads — LevelDB's
// fault-injection Env habit, at our one storage seam.
//
// Thread-safety: safe for concurrent use.
#ifndef MEMMGR_TESTS_TESTING_FAULT_INJECTING_STORAGE_H_
#define MEMMGR_TESTS_TESTING_FAULT_INJECTING_STORAGE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>

#include "absl/status/status.h"
#include "server/swap/slot_storage.h"

namespace memmgr::testing {

class FaultInjectingStorage final : public SlotStorage {
 public:
  explicit FaultInjectingStorage(SlotStorage* base) : base_(base) {}

  // The next `n` writes fail with UNAVAILABLE and apply nothing.
  void FailNextWrites(int n) { fail_writes_.store(n); }
  // Reads flip one payload byte of every value larger than 64 bytes.
  void SetCorruptReads(bool on) { corrupt_reads_.store(on); }
  int writes() const { return writes_.load(); }
  // Called at the start of every Write (before the failure injection);
  // a non-OK result fails that write with it and applies nothing. The hook
  // may block (to hold a writer inside the storage while a test arranges a
  // race). Set it while no write is in flight.
  void SetWriteHook(std::function<absl::Status(const StorageBatch&)> hook) {
    std::lock_guard<std::mutex> l(hook_mu_);
    hook_ = std::move(hook);
  }

  absl::Status Write(const StorageBatch& batch, bool sync) override {
    writes_.fetch_add(1);
    std::function<absl::Status(const StorageBatch&)> hook;
    {
      std::lock_guard<std::mutex> l(hook_mu_);
      hook = hook_;
    }
    if (hook) {
      absl::Status s = hook(batch);
      if (!s.ok()) return s;
    }
    if (fail_writes_.load() > 0) {
      fail_writes_.fetch_sub(1);
      return absl::UnavailableError("injected write failure");
    }
    return base_->Write(batch, sync);
  }
  absl::StatusOr<std::optional<std::string>> Get(
      absl::string_view key) override {
    auto v = base_->Get(key);
    if (v.ok() && v->has_value()) Rot(**v);
    return v;
  }
  absl::StatusOr<std::vector<std::optional<std::string>>> MultiGet(
      const std::vector<std::string>& keys) override {
    auto v = base_->MultiGet(keys);
    if (v.ok()) {
      for (auto& s : *v) {
        if (s.has_value()) Rot(*s);
      }
    }
    return v;
  }
  absl::Status Scan(
      absl::string_view prefix,
      const std::function<absl::Status(absl::string_view, absl::string_view)>&
          fn) override {
    return base_->Scan(prefix, fn);
  }
  StorageStats GetStats() override { return base_->GetStats(); }

 private:
  void Rot(std::string& v) {
    if (corrupt_reads_.load() && v.size() > 64) v[v.size() / 2] ^= 0x40;
  }

  SlotStorage* const base_;
  std::atomic<int> fail_writes_{0};
  std::atomic<bool> corrupt_reads_{false};
  std::atomic<int> writes_{0};
  std::mutex hook_mu_;
  std::function<absl::Status(const StorageBatch&)> hook_;
};

// Owns the base storage so a SwapStore can own this wrapper.
class OwningFaultInjectingStorage final : public SlotStorage {
 public:
  OwningFaultInjectingStorage(std::unique_ptr<SlotStorage> base,
                              FaultInjectingStorage** handle)
      : base_(std::move(base)), faults_(base_.get()) {
    *handle = &faults_;
  }
  absl::Status Write(const StorageBatch& b, bool sync) override {
    return faults_.Write(b, sync);
  }
  absl::StatusOr<std::optional<std::string>> Get(absl::string_view k) override {
    return faults_.Get(k);
  }
  absl::StatusOr<std::vector<std::optional<std::string>>> MultiGet(
      const std::vector<std::string>& k) override {
    return faults_.MultiGet(k);
  }
  absl::Status Scan(
      absl::string_view p,
      const std::function<absl::Status(absl::string_view, absl::string_view)>&
          fn) override {
    return faults_.Scan(p, fn);
  }
  StorageStats GetStats() override { return faults_.GetStats(); }

 private:
  std::unique_ptr<SlotStorage> base_;
  FaultInjectingStorage faults_;
};

}  // namespace memmgr::testing

#endif  // MEMMGR_TESTS_TESTING_FAULT_INJECTING_STORAGE_H_
