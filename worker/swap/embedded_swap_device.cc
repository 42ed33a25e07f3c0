#include "worker/swap/embedded_swap_device.h"

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_util.h"
#include "memmgr/v1/memory_manager.pb.h"
#include "server/swap/rocksdb_slot_storage.h"
#include "server/swap/swap_entry.h"
#include "worker/mmu/mmu_types.h"

namespace memmgr::worker {
namespace {

static_assert(mmu::kPageSize == memmgr::kPageSize,
              "the MMU's pages and the swap store's pages must be one size");

std::vector<SwapEntry> ToEntries(absl::Span<const mmu::SwapSlot> slots) {
  std::vector<SwapEntry> entries;
  entries.reserve(slots.size());
  for (const mmu::SwapSlot& s : slots) {
    entries.push_back(SwapEntry{s.slot, s.generation});
  }
  return entries;
}

absl::StatusOr<std::string> MakeTempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl =
      std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
      "/memmgr-swap-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    return absl::InternalError(
        absl::StrCat("mkdtemp ", tmpl, ": ", std::strerror(errno)));
  }
  return tmpl;
}

}  // namespace

EmbeddedSwapDevice::EmbeddedSwapDevice(std::string dir, bool owns_dir)
    : dir_(std::move(dir)), owns_dir_(owns_dir) {}

absl::StatusOr<std::unique_ptr<EmbeddedSwapDevice>> EmbeddedSwapDevice::Open(
    Options options) {
  bool owns_dir = false;
  std::string dir = options.dir;
  if (dir.empty()) {
    absl::StatusOr<std::string> tmp = MakeTempDir();
    if (!tmp.ok()) return tmp.status();
    dir = *std::move(tmp);
    owns_dir = true;
  }
  // From here on the destructor cleans up (and removes a temp dir) on every
  // early return.
  std::unique_ptr<EmbeddedSwapDevice> device(
      new EmbeddedSwapDevice(std::move(dir), owns_dir));

  absl::StatusOr<std::unique_ptr<RocksDbSlotStorage>> storage =
      RocksDbSlotStorage::Open(device->dir_);
  if (!storage.ok()) return storage.status();
  SwapStoreOptions store_options;
  store_options.capacity_pages = options.capacity_pages;
  store_options.max_batch_pages = options.max_batch_pages;
  // A swap area dies with its worker (see the header), so fsyncing every
  // batch would buy nothing; the WAL still covers a clean reopen.
  store_options.sync = false;
  store_options.lease_ttl = absl::Hours(24);  // the store's maximum
  store_options.clock = &device->frozen_clock_;
  absl::StatusOr<std::unique_ptr<SwapStore>> store =
      SwapStore::Open(store_options, *std::move(storage));
  if (!store.ok()) return store.status();
  device->store_ = *std::move(store);
  // No lease reaper: with the frozen clock nothing ever expires.

  // Leases a crashed device left in a given directory: nobody can name
  // their slots again, so free them now.
  for (const v1::LeaseInfo& stale : device->store_->ListLeases()) {
    absl::StatusOr<uint64_t> freed =
        device->store_->UnregisterLease(stale.lease_id());
    if (!freed.ok()) return freed.status();
    MEMMGR_LOG(INFO) << "embedded swap at " << device->dir_ << ": freed "
                     << *freed << " slot(s) of a previous worker's lease";
  }

  v1::RegisterWorkerRequest spec;
  spec.set_node_name("embedded");
  // Required to be > 0 by the store; nothing reads it in-process.
  spec.set_frame_capacity_pages(1);
  absl::StatusOr<LeaseGrant> grant = device->store_->RegisterLease(spec);
  if (!grant.ok()) return grant.status();
  device->lease_id_ = grant->lease_id;
  return device;
}

EmbeddedSwapDevice::~EmbeddedSwapDevice() {
  if (store_ != nullptr && !lease_id_.empty()) {
    // Leaves a kept directory without slots nobody can name any more.
    absl::StatusOr<uint64_t> freed = store_->UnregisterLease(lease_id_);
    if (!freed.ok()) {
      MEMMGR_LOG(WARNING) << "embedded swap at " << dir_
                          << ": ending the lease: " << freed.status();
    }
  }
  store_.reset();  // closes RocksDB before its directory goes
  if (owns_dir_) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    if (ec) {
      MEMMGR_LOG(WARNING) << "embedded swap: cannot remove " << dir_ << ": "
                          << ec.message();
    }
  }
}

uint32_t EmbeddedSwapDevice::max_batch_pages() const {
  return store_->options().max_batch_pages;
}

absl::StatusOr<std::vector<mmu::SwapSlot>> EmbeddedSwapDevice::WritePages(
    absl::Span<const absl::string_view> pages) {
  // The store validates batch size and page size (INVALID_ARGUMENT).
  absl::StatusOr<std::vector<SwapEntry>> entries =
      store_->SwapOut(lease_id_, pages);
  if (!entries.ok()) return entries.status();
  std::vector<mmu::SwapSlot> slots;
  slots.reserve(entries->size());
  for (const SwapEntry& e : *entries) {
    slots.push_back(mmu::SwapSlot{e.slot, e.generation});
  }
  return slots;
}

absl::Status EmbeddedSwapDevice::ReadPages(
    absl::Span<const mmu::SwapSlot> slots, absl::Span<uint8_t* const> dst) {
  if (slots.size() != dst.size()) {
    return absl::InvalidArgumentError(absl::StrCat("ReadPages: ", slots.size(),
                                                   " slots but ", dst.size(),
                                                   " destination pages"));
  }
  for (size_t i = 0; i < dst.size(); ++i) {
    if (dst[i] == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("ReadPages: destination ", i, " is null"));
    }
  }
  std::vector<std::string> pages;
  MEMMGR_RETURN_IF_ERROR(store_->SwapIn(lease_id_, ToEntries(slots), &pages));
  // SwapIn verified each page's crc32c; copy only after every page arrived
  // whole, so a failed batch writes no destination page.
  for (size_t i = 0; i < pages.size(); ++i) {
    if (pages[i].size() != mmu::kPageSize) {
      return absl::InternalError(absl::StrCat("ReadPages: slot ", slots[i].slot,
                                              " holds ", pages[i].size(),
                                              " bytes"));
    }
  }
  for (size_t i = 0; i < pages.size(); ++i) {
    std::memcpy(dst[i], pages[i].data(), mmu::kPageSize);
  }
  return absl::OkStatus();
}

absl::Status EmbeddedSwapDevice::FreeSlots(
    absl::Span<const mmu::SwapSlot> slots) {
  return store_->FreeSlots(lease_id_, ToEntries(slots)).status();
}

absl::Status EmbeddedSwapDevice::DupSlots(
    absl::Span<const mmu::SwapSlot> slots) {
  return store_->DupSlots(lease_id_, ToEntries(slots));
}

std::string EmbeddedSwapDevice::Describe() const {
  return absl::StrCat("embedded RocksDB at ", dir_);
}

SwapStoreStats EmbeddedSwapDevice::stats() const { return store_->GetStats(); }

}  // namespace memmgr::worker
