#include "server/swap/swap_store.h"

#include <algorithm>
#include <limits>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_util.h"
#include "server/lease/lease_record.pb.h"
#include "server/swap/storage_format.h"

namespace memmgr {
namespace {

// Generations are reserved durably in blocks, so a restart never reissues a
// generation a worker may still hold in a (stale) swap entry.
constexpr uint64_t kGenerationBlock = uint64_t{1} << 20;
// Deletes per storage batch when a lease ends with many slots.
constexpr size_t kEndLeaseChunk = 8192;

absl::Status Annotate(const absl::Status& s, absl::string_view prefix) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(prefix, s.message()));
}

absl::Status ValidateSpec(const v1::RegisterWorkerRequest& spec) {
  if (spec.node_name().empty() || spec.node_name().size() > 253) {
    return absl::InvalidArgumentError("node_name must be 1..253 bytes");
  }
  if (spec.frame_capacity_pages() == 0) {
    return absl::InvalidArgumentError("frame_capacity_pages must be > 0");
  }
  if (spec.address().size() > 255) {
    return absl::InvalidArgumentError("address is longer than 255 bytes");
  }
  if (spec.numa_node() > 1023) {
    return absl::InvalidArgumentError(
        absl::StrCat("numa_node ", spec.numa_node(), " is out of 0..1023"));
  }
  if (spec.distances_size() > 1024) {
    return absl::InvalidArgumentError("more than 1024 node distances");
  }
  for (const auto& [node, distance] : spec.distances()) {
    if (distance < 10 || distance > 254) {
      return absl::InvalidArgumentError(
          absl::StrCat("distance to node ", node, " is ", distance,
                       "; distances are in [10, 254] (10 = local)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

SwapStore::SwapStore(SwapStoreOptions options,
                     std::unique_ptr<SlotStorage> storage)
    : options_(std::move(options)),
      storage_(std::move(storage)),
      swap_map_(options_.capacity_pages) {}

absl::StatusOr<std::unique_ptr<SwapStore>> SwapStore::Open(
    SwapStoreOptions options, std::unique_ptr<SlotStorage> storage) {
  if (options.capacity_pages == 0 ||
      options.capacity_pages > (uint64_t{1} << 36)) {
    return absl::InvalidArgumentError(
        "swap capacity must be 1..2^36 pages (256 TiB)");
  }
  // A batch's slots form runs of at most kMaxRunSlots (one record each).
  static_assert(kMaxRunSlots == SwapMap::kMaxRunLength);
  if (options.max_batch_pages == 0 || options.max_batch_pages > kMaxRunSlots) {
    return absl::InvalidArgumentError("max_batch_pages must be 1..4096");
  }
  if (options.lease_ttl < absl::Milliseconds(10) ||
      options.lease_ttl > absl::Hours(24)) {
    return absl::InvalidArgumentError("lease TTL must be 10ms..24h");
  }
  if (options.clock == nullptr) options.clock = Clock::Real();
  if (options.max_compressed_bytes < 64 ||
      options.max_compressed_bytes > kPageSize) {
    return absl::InvalidArgumentError("max_compressed_bytes must be 64..4096");
  }
  std::unique_ptr<ZswapPool> zswap;
  if (options.zswap_max_pool_bytes != 0) {
    ZswapPoolOptions zo;
    zo.max_pool_bytes = options.zswap_max_pool_bytes;
    zo.accept_threshold_percent = options.zswap_accept_threshold_percent;
    absl::StatusOr<std::unique_ptr<ZswapPool>> pool = ZswapPool::Create(zo);
    if (!pool.ok()) return pool.status();
    zswap = *std::move(pool);
  }
  std::unique_ptr<SwapStore> store(
      new SwapStore(std::move(options), std::move(storage)));
  store->zswap_ = std::move(zswap);
  MEMMGR_RETURN_IF_ERROR(store->Rebuild());
  return store;
}

SwapStore::~SwapStore() {
  {
    MutexLock l(&reaper_mu_);
    stopping_ = true;
  }
  reaper_cv_.SignalAll();
  if (reaper_.joinable()) reaper_.join();
}

absl::Status SwapStore::Rebuild() {
  MutexLock l(&mu_);
  absl::StatusOr<std::optional<std::string>> format = storage_->Get(kFormatKey);
  if (!format.ok()) return format.status();
  if (!format->has_value()) {
    bool empty = true;
    absl::Status scan =
        storage_->Scan("", [&](absl::string_view, absl::string_view) {
          empty = false;
          return absl::CancelledError("stop at the first key");
        });
    if (!scan.ok() && !absl::IsCancelled(scan)) return scan;
    if (!empty) {
      return absl::FailedPreconditionError(
          "data directory holds a database without a memmgr format marker; "
          "refusing to use it");
    }
    StorageBatch init;
    init.Put(std::string(kFormatKey), EncodeU64(kFormatVersion));
    init.Put(std::string(kGenerationKey), EncodeU64(1));
    init.Put(std::string(kNextLeaseKey), EncodeU64(1));
    return storage_->Write(init, /*sync=*/true);
  }
  absl::StatusOr<uint64_t> version = DecodeU64(**format);
  if (!version.ok()) return version.status();
  if (*version != kFormatVersion && *version != kFormatVersionV1) {
    return absl::FailedPreconditionError(
        absl::StrCat("data directory has swap store format ", *version,
                     "; this server reads format ", kFormatVersion,
                     " (and converts format ", kFormatVersionV1, ")"));
  }
  for (auto [key, target] : {std::pair{kGenerationKey, &next_generation_},
                             std::pair{kNextLeaseKey, &next_lease_}}) {
    absl::StatusOr<std::optional<std::string>> v = storage_->Get(key);
    if (!v.ok()) return v.status();
    if (!v->has_value()) {
      return absl::DataLossError(absl::StrCat("missing ", key, " record"));
    }
    absl::StatusOr<uint64_t> n = DecodeU64(**v);
    if (!n.ok()) return Annotate(n.status(), absl::StrCat(key, ": "));
    *target = *n;
  }
  generation_reserved_ = next_generation_;
  if (*version == kFormatVersionV1) {
    // Marked format 2 before the first record is converted: a crash midway
    // leaves a format-2 directory with some 's' records, which the next
    // start finishes converting below, and which a format-1 server refuses
    // rather than reading the half it still understands.
    MEMMGR_LOG(INFO) << "converting the data directory from format "
                     << kFormatVersionV1 << " to " << kFormatVersion;
    StorageBatch mark;
    mark.Put(std::string(kFormatKey), EncodeU64(kFormatVersion));
    MEMMGR_RETURN_IF_ERROR(storage_->Write(mark, /*sync=*/true));
  }
  MEMMGR_RETURN_IF_ERROR(ConvertV1SlotRecords());

  const absl::Time deadline = options_.clock->Now() + options_.lease_ttl;
  MEMMGR_RETURN_IF_ERROR(storage_->Scan(
      std::string(1, kLeasePrefix),
      [&](absl::string_view key, absl::string_view value) {
        mu_.AssertHeld();  // the scan runs synchronously inside Rebuild
        uint64_t number;
        internal::LeaseRecord record;
        if (!ParseNumberKey(key, kLeasePrefix, &number) ||
            !record.ParseFromArray(value.data(), value.size()) ||
            record.number() != number ||
            number > std::numeric_limits<uint32_t>::max()) {
          return absl::DataLossError("malformed lease record");
        }
        Lease lease;
        lease.id = record.lease_id();
        lease.number = static_cast<uint32_t>(number);
        lease.spec = record.spec();
        lease.deadline = deadline;
        leases_.Add(std::move(lease));
        return absl::OkStatus();
      }));

  StorageBatch orphans;
  uint64_t orphan_runs = 0;
  MEMMGR_RETURN_IF_ERROR(storage_->Scan(
      std::string(1, kRunMetaPrefix),
      [&](absl::string_view key, absl::string_view value) -> absl::Status {
        mu_.AssertHeld();  // the scan runs synchronously inside Rebuild
        uint64_t first_generation;
        if (!ParseNumberKey(key, kRunMetaPrefix, &first_generation)) {
          return absl::DataLossError("malformed run key");
        }
        absl::StatusOr<RunMeta> run = DecodeRunMeta(value);
        if (!run.ok()) {
          return Annotate(run.status(),
                          absl::StrCat("run ", first_generation, ": "));
        }
        if (run->first_generation != first_generation) {
          return absl::DataLossError(
              absl::StrCat("run record ", first_generation,
                           " holds first generation ", run->first_generation));
        }
        if (first_generation + run->length() > next_generation_) {
          return absl::DataLossError(absl::StrCat(
              "run ", first_generation, " of ", run->length(),
              " slots has generations beyond the reserved ", next_generation_));
        }
        Lease* owner = leases_.FindByNumber(run->owner);
        if (owner == nullptr) {
          // Its lease ended but the crash came before the run's delete.
          DeleteRunRecords(*run, &orphans);
          ++orphan_runs;
          return absl::OkStatus();
        }
        const uint16_t length = static_cast<uint16_t>(run->length());
        for (uint16_t i = 0; i < length; ++i) {
          if (run->counts[i] == 0) continue;
          MEMMGR_RETURN_IF_ERROR(swap_map_.RestoreLive(
              run->first_slot + i,
              SwapMap::Slot{first_generation + i, owner->number,
                            run->counts[i]},
              SwapMap::RunPos{i, length}));
          ++owner->slots;
        }
        return absl::OkStatus();
      }));
  if (!orphans.empty()) {
    MEMMGR_LOG(INFO) << "deleting " << orphan_runs
                     << " slot runs of ended leases";
    MEMMGR_RETURN_IF_ERROR(storage_->Write(orphans, /*sync=*/true));
  }
  MEMMGR_LOG(INFO) << "swap store rebuilt: " << swap_map_.used()
                   << " slots used of " << swap_map_.capacity() << ", "
                   << leases_.size() << " leases";
  return absl::OkStatus();
}

absl::Status SwapStore::ConvertV1SlotRecords() {
  // Records per batch: each batch is atomic, so any crash leaves every
  // format-1 record either converted or not.
  constexpr size_t kChunk = 1024;
  StorageBatch batch;
  size_t in_batch = 0;
  uint64_t converted = 0;
  uint64_t orphans = 0;
  absl::flat_hash_set<uint64_t> generations;  // run keys must be unique
  // The scan reads a view from before its start; it does not see the
  // conversion's own writes.
  absl::Status scanned = storage_->Scan(
      std::string(1, kSlotMetaV1Prefix),
      [&](absl::string_view key, absl::string_view value) -> absl::Status {
        uint64_t slot;
        if (!ParseNumberKey(key, kSlotMetaV1Prefix, &slot)) {
          return absl::DataLossError("malformed format-1 slot key");
        }
        absl::StatusOr<SlotMetaV1> meta = DecodeSlotMetaV1(value);
        if (!meta.ok()) {
          return Annotate(meta.status(), absl::StrCat("slot ", slot, ": "));
        }
        batch.Delete(std::string(key));
        if (meta->owner > std::numeric_limits<uint32_t>::max()) {
          // No lease has such a number: an orphan, as format 1 read it.
          batch.Delete(NumberKey(kPageDataPrefix, slot));
          ++orphans;
        } else {
          if (!generations.insert(meta->generation).second) {
            return absl::DataLossError(absl::StrCat("format-1 slot ", slot,
                                                    " repeats generation ",
                                                    meta->generation));
          }
          RunMeta run;
          run.owner = static_cast<uint32_t>(meta->owner);
          run.first_slot = slot;
          run.first_generation = meta->generation;
          run.counts = {meta->refcount};
          batch.Put(RunKey(run.first_generation), EncodeRunMeta(run));
        }
        if (++in_batch == kChunk) {
          MEMMGR_RETURN_IF_ERROR(storage_->Write(batch, /*sync=*/false));
          converted += in_batch;
          batch = StorageBatch();
          in_batch = 0;
        }
        return absl::OkStatus();
      });
  MEMMGR_RETURN_IF_ERROR(
      Annotate(scanned, "converting format-1 slot records: "));
  if (in_batch == 0 && converted == 0) return absl::OkStatus();
  // The last batch (never empty: it restates the format marker) is fsynced,
  // which makes the whole conversion durable.
  batch.Put(std::string(kFormatKey), EncodeU64(kFormatVersion));
  MEMMGR_RETURN_IF_ERROR(Annotate(storage_->Write(batch, /*sync=*/true),
                                  "converting format-1 slot records: "));
  converted += in_batch;
  MEMMGR_LOG(INFO) << "converted " << converted - orphans
                   << " format-1 slot records to one-slot runs (" << orphans
                   << " orphans deleted)";
  return absl::OkStatus();
}

void SwapStore::StartLeaseReaper() {
  if (reaper_.joinable()) return;
  reaper_ = std::thread([this] { ReaperLoop(); });
}

void SwapStore::ReaperLoop() {
  const absl::Duration period = std::clamp(
      options_.lease_ttl / 4, absl::Milliseconds(10), absl::Seconds(1));
  MutexLock l(&reaper_mu_);
  while (!stopping_) {
    reaper_cv_.WaitWithTimeout(&reaper_mu_, period);
    if (stopping_) break;
    reaper_mu_.Unlock();
    const size_t n = ExpireLeases();
    if (n > 0) MEMMGR_LOG(INFO) << "expired " << n << " lease(s)";
    reaper_mu_.Lock();
  }
}

absl::Status SwapStore::ValidateBatchSize(size_t n,
                                          absl::string_view what) const {
  if (n == 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": empty batch"));
  }
  if (n > options_.max_batch_pages) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": batch of ", n,
                     " exceeds --max_batch_pages=", options_.max_batch_pages));
  }
  return absl::OkStatus();
}

absl::Status SwapStore::ReserveGenerationsLocked(uint64_t n) {
  if (next_generation_ + n <= generation_reserved_) return absl::OkStatus();
  const uint64_t reserve = next_generation_ + n + kGenerationBlock;
  StorageBatch batch;
  batch.Put(std::string(kGenerationKey), EncodeU64(reserve));
  MEMMGR_RETURN_IF_ERROR(storage_->Write(batch, /*sync=*/true));
  generation_reserved_ = reserve;
  return absl::OkStatus();
}

absl::StatusOr<LeaseGrant> SwapStore::RegisterLease(
    const v1::RegisterWorkerRequest& spec) {
  MEMMGR_RETURN_IF_ERROR(ValidateSpec(spec));
  MutexLock l(&mu_);
  if (leases_.size() >= options_.max_leases) {
    return absl::ResourceExhaustedError(
        absl::StrCat("lease table full (", options_.max_leases, " leases)"));
  }
  if (next_lease_ > std::numeric_limits<uint32_t>::max()) {
    return absl::ResourceExhaustedError("lease numbers exhausted");
  }
  if (spec.cluster_member()) {
    // One member per node (like a NUMA node id, it names one place). A
    // member with the same name is the same worker restarted after a crash:
    // it takes over, and the old lease ends now instead of at its expiry.
    const absl::Time now = options_.clock->Now();
    std::vector<uint32_t> replaced;
    absl::Status conflict;
    leases_.ForEach([&](const Lease& other) {
      if (!other.spec.cluster_member() ||
          other.spec.numa_node() != spec.numa_node() || other.deadline < now) {
        return;
      }
      if (other.spec.node_name() == spec.node_name()) {
        replaced.push_back(other.number);
      } else if (conflict.ok()) {
        conflict = absl::AlreadyExistsError(absl::StrCat(
            "numa_node ", spec.numa_node(), " is held by live worker '",
            other.spec.node_name(), "' (lease expires in ",
            absl::FormatDuration(other.deadline - now),
            "); give this worker another node id"));
      }
    });
    MEMMGR_RETURN_IF_ERROR(conflict);
    for (uint32_t number : replaced) EndLeaseLocked(number);
  }
  Lease lease;
  lease.id = LeaseTable::NewLeaseId();
  lease.number = static_cast<uint32_t>(next_lease_);
  lease.spec = spec;
  lease.deadline = options_.clock->Now() + options_.lease_ttl;

  internal::LeaseRecord record;
  record.set_lease_id(lease.id);
  record.set_number(lease.number);
  *record.mutable_spec() = spec;
  StorageBatch batch;
  batch.Put(NumberKey(kLeasePrefix, lease.number), record.SerializeAsString());
  batch.Put(std::string(kNextLeaseKey), EncodeU64(next_lease_ + 1));
  // Rare; holding mu_ keeps lease numbers and their records in step.
  MEMMGR_RETURN_IF_ERROR(storage_->Write(batch, /*sync=*/true));
  ++next_lease_;
  LeaseGrant grant{lease.id, options_.lease_ttl};
  leases_.Add(std::move(lease));
  return grant;
}

absl::Status SwapStore::Heartbeat(absl::string_view lease_id,
                                  v1::RegisterWorkerRequest* spec) {
  MutexLock l(&mu_);
  const absl::Time now = options_.clock->Now();
  absl::StatusOr<Lease*> lease = leases_.Resolve(lease_id, now);
  if (!lease.ok()) return lease.status();
  (*lease)->deadline = now + options_.lease_ttl;
  if (spec != nullptr) *spec = (*lease)->spec;
  return absl::OkStatus();
}

absl::Status SwapStore::CheckLease(absl::string_view lease_id) {
  MutexLock l(&mu_);
  return leases_.Resolve(lease_id, options_.clock->Now()).status();
}

absl::StatusOr<uint64_t> SwapStore::UnregisterLease(
    absl::string_view lease_id) {
  MutexLock l(&mu_);
  absl::StatusOr<Lease*> lease =
      leases_.Resolve(lease_id, options_.clock->Now());
  if (lease.ok()) return EndLeaseLocked((*lease)->number);
  // Idempotent: an ended lease has nothing left; one past its deadline that
  // the reaper has not reached yet is ended now.
  if (lease.status().code() != absl::StatusCode::kFailedPrecondition) {
    return lease.status();
  }
  Lease* expired = leases_.FindById(lease_id);
  return expired == nullptr ? 0 : EndLeaseLocked(expired->number);
}

size_t SwapStore::ExpireLeases() {
  MutexLock l(&mu_);
  std::vector<uint32_t> expired = leases_.Expired(options_.clock->Now());
  for (uint32_t number : expired) {
    const uint64_t freed = EndLeaseLocked(number);
    leases_expired_.fetch_add(1, std::memory_order_relaxed);
    MEMMGR_LOG(INFO) << "lease " << number << " expired; freed " << freed
                     << " slots";
  }
  return expired.size();
}

uint64_t SwapStore::EndLeaseLocked(uint32_t number) {
  // Taking meta_write_mu_ first lets every in-flight FreeSlots/DupSlots
  // write of this lease land; their finishers see the lease gone and leave
  // the slots to us.
  meta_write_mu_.Lock();
  Lease* lease = leases_.FindByNumber(number);
  if (lease == nullptr) {
    meta_write_mu_.Unlock();
    return 0;
  }
  // Everything the lease owns except slots still being written by a
  // SwapOut (that SwapOut cleans up after itself when it finds the lease
  // gone), as (first generation of its run, slot).
  std::vector<std::pair<uint64_t, uint64_t>> slots;
  swap_map_.ForEachUsed([&](uint64_t s) {
    mu_.AssertHeld();  // called synchronously, under mu_
    const SwapMap::State st = swap_map_.state(s);
    if ((st == SwapMap::State::kLive || st == SwapMap::State::kFreeing) &&
        swap_map_.slot(s).owner == number) {
      slots.emplace_back(swap_map_.run_first_generation(s), s);
    }
  });
  for (const auto& [run, s] : slots) {
    swap_map_.SetState(s, SwapMap::State::kFreeing);
  }
  leases_.Remove(number);
  mu_.Unlock();

  // Whole runs per batch (a run's record goes with its pages), so a crash
  // midway never leaves a page without its run record. Every slot of a run
  // the lease owns is in `slots`, so no run record outlives this.
  std::sort(slots.begin(), slots.end());
  absl::Status status;
  size_t i = 0;
  do {
    StorageBatch batch;
    while (i < slots.size() && batch.ops().size() < kEndLeaseChunk) {
      const uint64_t run = slots[i].first;
      for (; i < slots.size() && slots[i].first == run; ++i) {
        batch.Delete(NumberKey(kPageDataPrefix, slots[i].second));
      }
      batch.Delete(RunKey(run));
    }
    // The lease record goes last: a crash midway restores the lease with
    // its remaining slots, and it expires again.
    if (i == slots.size()) batch.Delete(NumberKey(kLeasePrefix, number));
    status = storage_->Write(batch, options_.sync);
  } while (status.ok() && i < slots.size());
  meta_write_mu_.Unlock();
  mu_.Lock();
  if (!status.ok()) {
    // The slots stay kFreeing (unusable, never readable) until a restart
    // reclaims them; nothing is lost or handed out twice.
    MEMMGR_LOG(ERROR) << "ending lease " << number << ": " << status;
    return 0;
  }
  for (const auto& [run, s] : slots) swap_map_.Release(s);
  freed_pages_.fetch_add(slots.size(), std::memory_order_relaxed);
  return slots.size();
}

void SwapStore::ReleaseSlotsLocked(const std::vector<uint64_t>& slots) {
  for (uint64_t s : slots) {
    swap_map_.Release(s);
    if (zswap_ != nullptr) zswap_->Erase(s);
  }
}

absl::Status SwapStore::WriteMetaHandOffLocked(const StorageBatch& batch) {
  if (options_.before_meta_write_for_test) {
    options_.before_meta_write_for_test();
  }
  meta_write_mu_.Lock();
  mu_.Unlock();
  absl::Status s;
  if (meta_fenced_.load(std::memory_order_relaxed)) {
    // This batch was computed from memory that may include the change of
    // the write that failed (not yet reverted): writing it could persist
    // part of a failed request. See docs/architecture.md, "Run records".
    s = absl::UnavailableError(
        "the swap store refuses slot metadata changes after a failed storage "
        "write; restart the server");
  } else {
    s = storage_->Write(batch, options_.sync);
    if (!s.ok()) {
      meta_fenced_.store(true, std::memory_order_relaxed);
      MEMMGR_LOG(ERROR) << "slot metadata write failed (" << s
                        << "); FreeSlots and DupSlots are refused until "
                           "the server restarts";
    }
  }
  meta_write_mu_.Unlock();
  mu_.Lock();
  return s;
}

RunMeta SwapStore::RunFromMapLocked(uint64_t slot) const {
  const SwapMap::RunPos pos = swap_map_.run(slot);
  RunMeta run;
  run.owner = swap_map_.slot(slot).owner;
  run.first_slot = swap_map_.run_first_slot(slot);
  run.first_generation = swap_map_.run_first_generation(slot);
  run.counts.assign(pos.length, 0);
  for (uint32_t i = 0; i < pos.length; ++i) {
    const uint64_t s = run.first_slot + i;
    if (swap_map_.InRun(s, run.first_generation, i) &&
        swap_map_.state(s) == SwapMap::State::kLive) {
      run.counts[i] = swap_map_.slot(s).count;
    }
  }
  return run;
}

void SwapStore::AddRunRecordsLocked(std::vector<uint64_t> slots,
                                    StorageBatch* batch) const {
  // One record per run, in key order.
  std::vector<std::pair<uint64_t, uint64_t>> runs;
  runs.reserve(slots.size());
  for (uint64_t s : slots) {
    runs.emplace_back(swap_map_.run_first_generation(s), s);
  }
  std::sort(runs.begin(), runs.end());
  for (size_t i = 0; i < runs.size(); ++i) {
    if (i > 0 && runs[i].first == runs[i - 1].first) continue;
    const RunMeta run = RunFromMapLocked(runs[i].second);
    if (run.any_live()) {
      batch->Put(RunKey(run.first_generation), EncodeRunMeta(run));
    } else {
      batch->Delete(RunKey(run.first_generation));
    }
  }
}

absl::StatusOr<std::vector<SwapEntry>> SwapStore::SwapOut(
    absl::string_view lease_id, absl::Span<const absl::string_view> pages) {
  MEMMGR_RETURN_IF_ERROR(ValidateBatchSize(pages.size(), "SwapOut"));
  for (size_t i = 0; i < pages.size(); ++i) {
    if (pages[i].size() != kPageSize) {
      return absl::InvalidArgumentError(
          absl::StrCat("page ", i, " is ", pages[i].size(),
                       " bytes; every page must be exactly 4096 bytes"));
    }
  }
  const size_t n = pages.size();
  std::vector<uint64_t> slots;
  // The batch's runs of neighbouring slots: (index of the first, length).
  std::vector<std::pair<size_t, uint32_t>> runs;
  uint64_t first_generation;
  uint32_t owner;
  {
    MutexLock l(&mu_);
    absl::StatusOr<Lease*> lease =
        leases_.Resolve(lease_id, options_.clock->Now());
    if (!lease.ok()) return lease.status();
    MEMMGR_RETURN_IF_ERROR(ReserveGenerationsLocked(n));
    first_generation = next_generation_;
    MEMMGR_RETURN_IF_ERROR(
        swap_map_.Allocate(n, (*lease)->number, first_generation, &slots));
    next_generation_ += n;
    (*lease)->slots += n;
    owner = (*lease)->number;
    for (size_t i = 0; i < n; i += runs.back().second) {
      runs.emplace_back(i, swap_map_.run(slots[i]).length);
    }
  }

  // The slots are ours alone (kAllocating): build and write without the lock.
  // All page records first, then the run records (usually one): each run of
  // keys ascends, so RocksDB's memtable skiplist insert reuses its splice
  // instead of searching from the top for every key (docs/PERFORMANCE.md).
  // Raw pages are borrowed from the caller, not copied, until the write
  // returns. With the compressed tier each page is encoded once (same-filled,
  // compressed or raw): RocksDB gets the encoding, then the pool.
  const bool encode =
      options_.compressor != Compressor::kNone || zswap_ != nullptr;
  std::vector<EncodedPage> encoded;
  if (encode) {
    EncodeOptions eo;
    eo.compressor = options_.compressor;
    eo.max_compressed_bytes = options_.max_compressed_bytes;
    encoded.reserve(n);
    for (size_t i = 0; i < n; ++i) encoded.push_back(EncodePage(pages[i], eo));
  }
  StorageBatch batch;
  batch.Reserve(n + runs.size());
  for (size_t i = 0; i < n; ++i) {
    if (encode) {
      batch.PutWithBorrowedTail(
          NumberKey(kPageDataPrefix, slots[i]),
          EncodePageRecordHeader(encoded[i], first_generation + i),
          encoded[i].payload);
    } else {
      batch.PutWithBorrowedTail(
          NumberKey(kPageDataPrefix, slots[i]),
          EncodePageRecordHeader(pages[i], first_generation + i), pages[i]);
    }
  }
  for (const auto& [begin, length] : runs) {
    RunMeta run;
    run.owner = owner;
    run.first_slot = slots[begin];
    run.first_generation = first_generation + begin;
    run.counts.assign(length, 1);
    batch.Put(RunKey(run.first_generation), EncodeRunMeta(run));
  }
  const absl::Status written = storage_->Write(batch, options_.sync);

  MutexLock l(&mu_);
  Lease* lease = leases_.FindByNumber(owner);
  if (written.ok() && lease != nullptr) {
    std::vector<SwapEntry> entries(n);
    for (size_t i = 0; i < n; ++i) {
      swap_map_.SetState(slots[i], SwapMap::State::kLive);
      entries[i] = SwapEntry{slots[i], first_generation + i};
    }
    swap_out_pages_.fetch_add(n, std::memory_order_relaxed);
    if (encode) {
      uint64_t bytes = 0;
      for (const EncodedPage& e : encoded) {
        stored_by_codec_[static_cast<int>(e.codec) & 3].fetch_add(
            1, std::memory_order_relaxed);
        bytes += e.payload.size();
      }
      stored_payload_bytes_.fetch_add(bytes, std::memory_order_relaxed);
    }
    if (zswap_ != nullptr) {
      // Durable and live: the pool may serve them from now on. (Under mu_:
      // a concurrent free of these slots must find them in the pool.)
      for (size_t i = 0; i < n; ++i) {
        zswap_->Store(slots[i], first_generation + i, std::move(encoded[i]));
      }
    }
    return entries;
  }
  if (lease != nullptr) lease->slots -= n;
  if (!written.ok()) {
    // A failed batch applied nothing; the slots were never visible.
    ReleaseSlotsLocked(slots);
    return Annotate(written, "SwapOut not stored: ");
  }
  // The lease ended while the batch was being written: discard it.
  for (uint64_t s : slots) swap_map_.SetState(s, SwapMap::State::kFreeing);
  StorageBatch discard;
  for (uint64_t s : slots) discard.Delete(NumberKey(kPageDataPrefix, s));
  for (const auto& [begin, length] : runs) {
    discard.Delete(RunKey(first_generation + begin));
  }
  mu_.Unlock();
  const absl::Status deleted = storage_->Write(discard, options_.sync);
  mu_.Lock();
  if (deleted.ok()) ReleaseSlotsLocked(slots);
  return absl::FailedPreconditionError(
      "lease ended during SwapOut; the batch was discarded; register the "
      "worker again");
}

absl::Status SwapStore::SwapIn(absl::string_view lease_id,
                               absl::Span<const SwapEntry> entries,
                               std::vector<std::string>* pages) {
  pages->clear();
  MEMMGR_RETURN_IF_ERROR(ValidateBatchSize(entries.size(), "SwapIn"));
  std::vector<std::string> keys;
  keys.reserve(entries.size());
  {
    MutexLock l(&mu_);
    absl::StatusOr<Lease*> lease =
        leases_.Resolve(lease_id, options_.clock->Now());
    if (!lease.ok()) return lease.status();
    for (size_t i = 0; i < entries.size(); ++i) {
      MEMMGR_RETURN_IF_ERROR(
          Annotate(swap_map_.CheckOwned(entries[i], (*lease)->number),
                   absl::StrCat("entry ", i, ": ")));
      keys.push_back(NumberKey(kPageDataPrefix, entries[i].slot));
    }
  }
  pages->resize(entries.size());
  // The pool first (the generation guards against a concurrent free and
  // reuse of the slot, as the record's does below); the rest from RocksDB.
  std::vector<size_t> from_storage;
  if (zswap_ != nullptr) {
    std::vector<std::string> misses;
    for (size_t i = 0; i < entries.size(); ++i) {
      (*pages)[i].resize(kPageSize);
      absl::StatusOr<bool> hit = zswap_->Load(
          entries[i].slot, entries[i].generation, (*pages)[i].data());
      if (hit.ok() && *hit) continue;
      if (!hit.ok()) {
        // The pool's copy is bad; RocksDB has its own (checked too).
        MEMMGR_LOG(WARNING) << "slot " << entries[i].slot << ": "
                            << hit.status() << "; reading RocksDB";
      }
      from_storage.push_back(i);
      misses.push_back(std::move(keys[i]));
    }
    keys = std::move(misses);
  } else {
    for (size_t i = 0; i < entries.size(); ++i) from_storage.push_back(i);
  }
  if (!from_storage.empty()) {
    absl::StatusOr<std::vector<std::optional<std::string>>> values =
        storage_->MultiGet(keys);
    if (!values.ok()) {
      pages->clear();
      return values.status();
    }
    for (size_t k = 0; k < from_storage.size(); ++k) {
      const size_t i = from_storage[k];
      // The record's own generation guards against a concurrent free +
      // reuse of the slot between the check above and the read.
      absl::Status s =
          (*values)[k].has_value()
              ? DecodePageRecord(*(*values)[k], entries[i].generation,
                                 &(*pages)[i])
              : absl::NotFoundError("slot was freed");
      if (!s.ok()) {
        pages->clear();
        return Annotate(
            s, absl::StrCat("entry ", i, " (slot ", entries[i].slot, "): "));
      }
    }
  }
  swap_in_pages_.fetch_add(entries.size(), std::memory_order_relaxed);
  swap_in_zswap_pages_.fetch_add(entries.size() - from_storage.size(),
                                 std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::StatusOr<absl::flat_hash_map<uint64_t, uint32_t>>
SwapStore::CountOwnedLocked(absl::Span<const SwapEntry> entries,
                            uint32_t owner) const {
  absl::flat_hash_map<uint64_t, uint32_t> counts;
  for (size_t i = 0; i < entries.size(); ++i) {
    MEMMGR_RETURN_IF_ERROR(Annotate(swap_map_.CheckOwned(entries[i], owner),
                                    absl::StrCat("entry ", i, ": ")));
    ++counts[entries[i].slot];
  }
  return counts;
}

absl::StatusOr<uint64_t> SwapStore::FreeSlots(
    absl::string_view lease_id, absl::Span<const SwapEntry> entries) {
  MEMMGR_RETURN_IF_ERROR(ValidateBatchSize(entries.size(), "FreeSlots"));
  MutexLock l(&mu_);
  absl::StatusOr<Lease*> lease =
      leases_.Resolve(lease_id, options_.clock->Now());
  if (!lease.ok()) return lease.status();
  const uint32_t owner = (*lease)->number;
  // Validate everything first: all or nothing. An entry may appear more
  // than once (a sharer count dropped twice), but not more than its count.
  absl::StatusOr<absl::flat_hash_map<uint64_t, uint32_t>> counted =
      CountOwnedLocked(entries, owner);
  if (!counted.ok()) return counted.status();
  const absl::flat_hash_map<uint64_t, uint32_t>& drops = *counted;
  for (const auto& [slot, k] : drops) {
    if (k > swap_map_.slot(slot).count) {
      return absl::InvalidArgumentError(
          absl::StrCat("slot ", slot, " is freed ", k, " times but has ",
                       swap_map_.slot(slot).count, " reference(s)"));
    }
  }
  StorageBatch batch;
  std::vector<uint64_t> freed;
  std::vector<uint64_t> touched;
  touched.reserve(drops.size());
  for (const auto& [slot, k] : drops) {
    SwapMap::Slot& s = swap_map_.mutable_slot(slot);
    s.count -= k;
    if (s.count == 0) {
      swap_map_.SetState(slot, SwapMap::State::kFreeing);
      freed.push_back(slot);
      batch.Delete(NumberKey(kPageDataPrefix, slot));
    }
    touched.push_back(slot);
  }
  // Each touched run's record is rewritten from memory after all the
  // changes (or deleted with its last live slot).
  AddRunRecordsLocked(std::move(touched), &batch);
  const absl::Status written = WriteMetaHandOffLocked(batch);
  Lease* still = leases_.FindByNumber(owner);
  if (still == nullptr) {
    // The lease ended meanwhile; EndLeaseLocked took these slots over.
    return absl::FailedPreconditionError(
        "lease ended during FreeSlots; all its slots are freed");
  }
  if (!written.ok()) {
    // Nothing of the batch is durable, and the fence keeps every later
    // FreeSlots/DupSlots from writing records computed while this change was
    // in memory (a neighbour's rewrite of the run), so after the revert
    // memory and storage agree again.
    for (const auto& [slot, k] : drops) {
      swap_map_.mutable_slot(slot).count += k;
      swap_map_.SetState(slot, SwapMap::State::kLive);
    }
    return Annotate(written, "FreeSlots not applied: ");
  }
  ReleaseSlotsLocked(freed);
  still->slots -= freed.size();
  freed_pages_.fetch_add(freed.size(), std::memory_order_relaxed);
  return freed.size();
}

absl::Status SwapStore::DupSlots(absl::string_view lease_id,
                                 absl::Span<const SwapEntry> entries) {
  MEMMGR_RETURN_IF_ERROR(ValidateBatchSize(entries.size(), "DupSlots"));
  MutexLock l(&mu_);
  absl::StatusOr<Lease*> lease =
      leases_.Resolve(lease_id, options_.clock->Now());
  if (!lease.ok()) return lease.status();
  const uint32_t owner = (*lease)->number;
  absl::StatusOr<absl::flat_hash_map<uint64_t, uint32_t>> counted =
      CountOwnedLocked(entries, owner);
  if (!counted.ok()) return counted.status();
  const absl::flat_hash_map<uint64_t, uint32_t>& adds = *counted;
  constexpr uint32_t kMaxCount = std::numeric_limits<uint32_t>::max() / 2;
  StorageBatch batch;
  for (const auto& [slot, k] : adds) {
    SwapMap::Slot& s = swap_map_.mutable_slot(slot);
    if (s.count > kMaxCount - k) {
      return absl::ResourceExhaustedError(
          absl::StrCat("slot ", slot, " has too many sharers"));
    }
  }
  std::vector<uint64_t> touched;
  touched.reserve(adds.size());
  for (const auto& [slot, k] : adds) {
    swap_map_.mutable_slot(slot).count += k;
    touched.push_back(slot);
  }
  AddRunRecordsLocked(std::move(touched), &batch);
  const absl::Status written = WriteMetaHandOffLocked(batch);
  if (leases_.FindByNumber(owner) == nullptr) {
    return absl::FailedPreconditionError(
        "lease ended during DupSlots; all its slots are freed");
  }
  if (!written.ok()) {
    for (const auto& [slot, k] : adds) swap_map_.mutable_slot(slot).count -= k;
    return Annotate(written, "DupSlots not applied: ");
  }
  return absl::OkStatus();
}

SwapStoreStats SwapStore::GetStats() const {
  SwapStoreStats stats;
  {
    MutexLock l(&mu_);
    stats.slots_used = swap_map_.used();
    stats.slots_capacity = swap_map_.capacity();
    stats.leases = static_cast<uint32_t>(leases_.size());
  }
  stats.swap_out_pages = swap_out_pages_.load(std::memory_order_relaxed);
  stats.swap_in_pages = swap_in_pages_.load(std::memory_order_relaxed);
  stats.freed_pages = freed_pages_.load(std::memory_order_relaxed);
  stats.leases_expired = leases_expired_.load(std::memory_order_relaxed);
  stats.meta_fenced = meta_fenced_.load(std::memory_order_relaxed);
  stats.storage = storage_->GetStats();
  stats.swap_in_zswap_pages =
      swap_in_zswap_pages_.load(std::memory_order_relaxed);
  stats.swap_in_rocksdb_pages = stats.swap_in_pages - stats.swap_in_zswap_pages;
  for (int i = 0; i < 4; ++i) {
    stats.stored_by_codec[i] =
        stored_by_codec_[i].load(std::memory_order_relaxed);
  }
  stats.stored_payload_bytes =
      stored_payload_bytes_.load(std::memory_order_relaxed);
  if (zswap_ != nullptr) {
    stats.zswap_enabled = true;
    stats.zswap = zswap_->GetStats();
  }
  return stats;
}

std::vector<v1::LeaseInfo> SwapStore::ListLeases() const {
  MutexLock l(&mu_);
  const absl::Time now = options_.clock->Now();
  std::vector<v1::LeaseInfo> out;
  leases_.ForEach([&](const Lease& lease) {
    v1::LeaseInfo info;
    info.set_lease_id(lease.id);
    info.set_node_name(lease.spec.node_name());
    info.set_numa_node(lease.spec.numa_node());
    info.set_frame_capacity_pages(lease.spec.frame_capacity_pages());
    info.set_address(lease.spec.address());
    *info.mutable_distances() = lease.spec.distances();
    info.set_slots(lease.slots);
    info.set_expires_in_ms(absl::ToInt64Milliseconds(lease.deadline - now));
    out.push_back(std::move(info));
  });
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.node_name() != b.node_name() ? a.node_name() < b.node_name()
                                          : a.lease_id() < b.lease_id();
  });
  return out;
}

}  // namespace memmgr
