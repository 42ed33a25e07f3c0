// LazySwapDevice: opens the real device on first use. `memmgr-worker run`
// always has swap (the embedded RocksDB store by default), but most guests
// never need it: they should not pay for creating and removing a RocksDB
// directory. The first write-out opens it; an open that fails is reported
// by that call (and retried by the next one).
//
// Thread-safety: safe for concurrent use; mu_ guards the open only.
#ifndef MEMMGR_WORKER_SWAP_LAZY_SWAP_DEVICE_H_
#define MEMMGR_WORKER_SWAP_LAZY_SWAP_DEVICE_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/mutex.h"
#include "worker/mmu/swap_device.h"

namespace memmgr::worker {

class LazySwapDevice final : public mmu::SwapDevice {
 public:
  using Factory =
      std::function<absl::StatusOr<std::unique_ptr<mmu::SwapDevice>>()>;
  // `synchronous_io`: what the device the factory makes will say.
  LazySwapDevice(std::string description, uint32_t max_batch_pages,
                 bool synchronous_io, Factory factory)
      : description_(std::move(description)),
        max_batch_pages_(max_batch_pages),
        synchronous_io_(synchronous_io),
        factory_(std::move(factory)) {}

  bool synchronous_io() const override { return synchronous_io_; }

  uint32_t max_batch_pages() const override { return max_batch_pages_; }
  absl::StatusOr<std::vector<mmu::SwapSlot>> WritePages(
      absl::Span<const absl::string_view> pages) override {
    absl::StatusOr<mmu::SwapDevice*> d = Get();
    if (!d.ok()) return d.status();
    return (*d)->WritePages(pages);
  }
  absl::Status ReadPages(absl::Span<const mmu::SwapSlot> slots,
                         absl::Span<uint8_t* const> dst) override {
    absl::StatusOr<mmu::SwapDevice*> d = Get();
    if (!d.ok()) return d.status();
    return (*d)->ReadPages(slots, dst);
  }
  absl::Status FreeSlots(absl::Span<const mmu::SwapSlot> slots) override {
    absl::StatusOr<mmu::SwapDevice*> d = Get();
    if (!d.ok()) return d.status();
    return (*d)->FreeSlots(slots);
  }
  absl::Status DupSlots(absl::Span<const mmu::SwapSlot> slots) override {
    absl::StatusOr<mmu::SwapDevice*> d = Get();
    if (!d.ok()) return d.status();
    return (*d)->DupSlots(slots);
  }
  std::string Describe() const override {
    MutexLock l(&mu_);
    return device_ != nullptr ? device_->Describe()
                              : description_ + " (not opened yet)";
  }
  // The opened device, or nullptr (for stats).
  mmu::SwapDevice* opened() const {
    MutexLock l(&mu_);
    return device_.get();
  }

 private:
  absl::StatusOr<mmu::SwapDevice*> Get() {
    MutexLock l(&mu_);
    if (device_ == nullptr) {
      absl::StatusOr<std::unique_ptr<mmu::SwapDevice>> d = factory_();
      if (!d.ok()) return d.status();
      device_ = std::move(*d);
    }
    return device_.get();
  }

  const std::string description_;
  const uint32_t max_batch_pages_;
  const bool synchronous_io_;
  const Factory factory_;
  mutable Mutex mu_;
  std::unique_ptr<mmu::SwapDevice> device_ ABSL_GUARDED_BY(mu_);
};

}  // namespace memmgr::worker

#endif  // MEMMGR_WORKER_SWAP_LAZY_SWAP_DEVICE_H_
