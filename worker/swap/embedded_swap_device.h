// EmbeddedSwapDevice: the server's swap store library in-process — a
// SwapStore on a RocksDB directory of the worker's own, holding one lease
// that never expires. For a worker without a memmgr-server (`memmgr-worker
// run`, tests, a laptop): the same slot allocator, generations, refcounts
// and crc32c checks as the cluster, with no RPC in between.
//
// The swap area lives as long as the device: a fresh temp directory is
// removed on destruction, and a given directory is emptied of slots (its
// lease ended) but kept. A worker's swapped pages mean nothing without the
// page tables that name them, so Open also ends every lease a previous
// device left in a given directory (after a crash) instead of keeping their
// slots forever; Linux likewise forgets swap contents across a boot.
//
// Thread-safety: safe for concurrent use (SwapStore is; the device adds no
// state of its own after Open).
#ifndef MEMMGR_WORKER_SWAP_EMBEDDED_SWAP_DEVICE_H_
#define MEMMGR_WORKER_SWAP_EMBEDDED_SWAP_DEVICE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "server/swap/swap_store.h"
#include "worker/mmu/swap_device.h"

namespace memmgr::worker {

struct EmbeddedSwapDeviceOptions {
  // RocksDB directory (created if missing, kept on destruction). Empty: a
  // fresh $TMPDIR/memmgr-swap-XXXXXX (or /tmp/...), removed on destruction.
  std::string dir;
  // Slots in the swap area (4 KiB pages each): 1 << 20 = 4 GiB.
  uint64_t capacity_pages = uint64_t{1} << 20;
  // Largest WritePages/ReadPages/FreeSlots/DupSlots batch (1..4096).
  uint32_t max_batch_pages = 256;
};

class EmbeddedSwapDevice final : public mmu::SwapDevice {
 public:
  using Options = EmbeddedSwapDeviceOptions;

  static absl::StatusOr<std::unique_ptr<EmbeddedSwapDevice>> Open(
      Options options);
  // Ends the lease (frees every slot), closes RocksDB, and removes the
  // directory if Open created it. REQUIRES: no call in progress.
  ~EmbeddedSwapDevice() override;
  // RocksDB in this process: a read is tens of microseconds.
  bool synchronous_io() const override { return true; }

  EmbeddedSwapDevice(const EmbeddedSwapDevice&) = delete;
  EmbeddedSwapDevice& operator=(const EmbeddedSwapDevice&) = delete;

  uint32_t max_batch_pages() const override;
  absl::StatusOr<std::vector<mmu::SwapSlot>> WritePages(
      absl::Span<const absl::string_view> pages) override;
  absl::Status ReadPages(absl::Span<const mmu::SwapSlot> slots,
                         absl::Span<uint8_t* const> dst) override;
  absl::Status FreeSlots(absl::Span<const mmu::SwapSlot> slots) override;
  absl::Status DupSlots(absl::Span<const mmu::SwapSlot> slots) override;
  std::string Describe() const override;

  // The store's counters (slots_used, swap_out_pages, ...), for tests and
  // the worker's metrics.
  SwapStoreStats stats() const;
  const std::string& dir() const { return dir_; }

 private:
  EmbeddedSwapDevice(std::string dir, bool owns_dir);

  const std::string dir_;
  const bool owns_dir_;  // Open created dir_: remove it on destruction
  // The store's clock. It never advances, so the lease's deadline never
  // passes: the store caps lease TTLs at 24 h, and an embedded lease must
  // outlive any worker without a heartbeat thread. Declared before store_,
  // which reads it until it is destroyed.
  ManualClock frozen_clock_;
  std::unique_ptr<SwapStore> store_;
  std::string lease_id_;
};

}  // namespace memmgr::worker

#endif  // MEMMGR_WORKER_SWAP_EMBEDDED_SWAP_DEVICE_H_
