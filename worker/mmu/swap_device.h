// SwapDevice: where reclaim writes anonymous pages and where a fault on a
// swap entry reads them back — the worker's view of a swap area (Linux's
// swap_info_struct + its block device). Two implementations live in
// worker/swap/: the embedded one (the server's SwapStore library on a temp
// RocksDB directory, in-process) and the remote one (memmgr-server over
// gRPC with a lease kept alive by Heartbeat).
//
// A slot is named by the device's own (slot, generation) pair: the
// generation makes a stale or foreign slot number unreadable (the device
// checks it). The MMU stores no slot in a pte: a pte holds a worker-local
// swap-cache index (swap_cache.h) that records the slot.
//
// Errors: UNAVAILABLE after the device gave up retrying a transient failure
// (the caller may try again later; nothing was lost), FAILED_PRECONDITION
// when the device can never serve these slots again (the lease was lost for
// good), INVALID_ARGUMENT for a bad request (a bug on our side).
//
// Thread-safety: implementations are safe for concurrent use.
#ifndef MEMMGR_WORKER_MMU_SWAP_DEVICE_H_
#define MEMMGR_WORKER_MMU_SWAP_DEVICE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace memmgr::mmu {

struct SwapSlot {
  uint64_t slot = 0;
  uint64_t generation = 0;
  friend bool operator==(const SwapSlot&, const SwapSlot&) = default;
};

class SwapDevice {
 public:
  virtual ~SwapDevice() = default;

  // The largest batch one call may carry (pages or slots).
  virtual uint32_t max_batch_pages() const = 0;

  // Stores 1..max_batch_pages() pages of kPageSize bytes each; returns one
  // slot per page, in order, each holding one reference. Durable when it
  // returns (the device acknowledged the batch).
  virtual absl::StatusOr<std::vector<SwapSlot>> WritePages(
      absl::Span<const absl::string_view> pages) = 0;
  // Reads slots[i] into dst[i] (kPageSize bytes each). All or nothing:
  // on an error no dst page is guaranteed to hold anything.
  virtual absl::Status ReadPages(absl::Span<const SwapSlot> slots,
                                 absl::Span<uint8_t* const> dst) = 0;
  // swap_free: drops one reference per slot (a slot may repeat).
  virtual absl::Status FreeSlots(absl::Span<const SwapSlot> slots) = 0;
  // swap_duplicate: adds one reference per slot (a slot may repeat).
  virtual absl::Status DupSlots(absl::Span<const SwapSlot> slots) = 0;

  // For logs and `--help`-level messages: "embedded RocksDB at /tmp/x" or
  // "memmgr-server at 127.0.0.1:7070 (lease ...)".
  virtual std::string Describe() const = 0;

  // Reads are fast enough to wait for in the faulting thread (Linux's
  // SWP_SYNCHRONOUS_IO, as for zram): parking a guest to run another while
  // the page comes costs more than the read. An in-process store is; a
  // device behind a network round trip is not.
  virtual bool synchronous_io() const { return false; }
};

}  // namespace memmgr::mmu

#endif  // MEMMGR_WORKER_MMU_SWAP_DEVICE_H_
