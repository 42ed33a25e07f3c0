#include "server/swap/rocksdb_slot_storage.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/write_batch.h>

#include <mutex>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#if defined(__SANITIZE_THREAD__)
#define MEMMGR_TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MEMMGR_TSAN_BUILD 1
#endif
#endif

namespace memmgr {
namespace {

absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  const std::string msg = absl::StrCat(what, ": ", s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  if (s.IsIOError() && s.subcode() == rocksdb::Status::kNoSpace) {
    return absl::ResourceExhaustedError(msg);
  }
  if (s.IsBusy() || s.IsTryAgain() || s.IsTimedOut()) {
    return absl::UnavailableError(msg);
  }
  // I/O errors and the like: the storage is unusable right now.
  return absl::UnavailableError(msg);
}

rocksdb::Slice ToSlice(absl::string_view s) {
  return rocksdb::Slice(s.data(), s.size());
}

}  // namespace

absl::StatusOr<std::unique_ptr<RocksDbSlotStorage>> RocksDbSlotStorage::Open(
    const std::string& dir) {
  if (dir.empty()) return absl::InvalidArgumentError("empty data directory");
  rocksdb::Options options;
  ConfigureOptions(&options);
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, &db);
  if (!s.ok()) return FromRocks(s, absl::StrCat("opening RocksDB in ", dir));
  return std::unique_ptr<RocksDbSlotStorage>(new RocksDbSlotStorage(dir, db));
}

void RocksDbSlotStorage::ConfigureOptions(rocksdb::Options* options) {
  options->create_if_missing = true;
  // Two cores is the design point; RocksDB's default of one background job
  // lets flushes stall writes under sustained swap-out.
  options->IncreaseParallelism(2);
  options->max_background_jobs = 2;
  // Pages are swapped in by point lookups; swap-out is a pure write stream.
  options->OptimizeLevelStyleCompaction();
  // LZ4 for SST files: cheap, and Debian's RocksDB is built with it. (The
  // WAL — the latency path of SwapOut — is never compressed.)
  options->compression = rocksdb::kLZ4Compression;
  options->paranoid_checks = true;
}

RocksDbSlotStorage::RocksDbSlotStorage(std::string dir, rocksdb::DB* db)
    : dir_(std::move(dir)), db_(db) {}

RocksDbSlotStorage::~RocksDbSlotStorage() {
  // Close() waits for background work; the WAL already holds every write.
  db_->Close().PermitUncheckedError();
  delete db_;
}

absl::Status RocksDbSlotStorage::Write(const StorageBatch& batch, bool sync) {
  // One batch buffer per thread, reused: a fresh one per call is a new
  // ~256 KiB-1 MiB allocation that glibc serves with mmap, so every call
  // paid page faults and kernel page zeroing (9% of swap-out time in perf).
  // Clear() keeps the buffer's capacity.
  thread_local rocksdb::WriteBatch wb;
  wb.Clear();
  for (const StorageBatch::Op& op : batch.ops()) {
    rocksdb::Status s;
    if (op.is_delete) {
      s = wb.Delete(ToSlice(op.key));
    } else if (op.borrowed_tail.empty()) {
      s = wb.Put(ToSlice(op.key), ToSlice(op.value));
    } else {
      // Header and page go into the batch's buffer in one copy.
      const rocksdb::Slice key = ToSlice(op.key);
      const rocksdb::Slice parts[2] = {ToSlice(op.value),
                                       ToSlice(op.borrowed_tail)};
      s = wb.Put(rocksdb::SliceParts(&key, 1), rocksdb::SliceParts(parts, 2));
    }
    if (!s.ok()) return FromRocks(s, "building write batch");
  }
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  wo.disableWAL = false;
#ifdef MEMMGR_TSAN_BUILD
  // ThreadSanitizer builds only: one RocksDB write at a time. Debian's
  // librocksdb is not instrumented, so the hand-off between write-group
  // leaders (atomics inside RocksDB) is invisible to TSan, and two leaders'
  // merges into the database's shared batch buffer were reported as a race
  // (in ~1 of 7-10 runs of the concurrency tests) whose stacks hold no
  // RocksDB frame for tests/tsan.supp to match. Serialised, every write is
  // its own group; the store's own locking is exercised as before.
  static std::mutex* const tsan_write_mu = new std::mutex;
  std::lock_guard<std::mutex> tsan_lock(*tsan_write_mu);
#endif
  return FromRocks(db_->Write(wo, &wb), "RocksDB write");
}

absl::StatusOr<std::optional<std::string>> RocksDbSlotStorage::Get(
    absl::string_view key) {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), ToSlice(key), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "RocksDB get");
  return std::optional<std::string>(std::move(value));
}

absl::StatusOr<std::vector<std::optional<std::string>>>
RocksDbSlotStorage::MultiGet(const std::vector<std::string>& keys) {
  std::vector<rocksdb::Slice> slices;
  slices.reserve(keys.size());
  for (const std::string& k : keys) slices.push_back(ToSlice(k));
  std::vector<std::string> values;
  std::vector<rocksdb::Status> statuses =
      db_->MultiGet(rocksdb::ReadOptions(), slices, &values);
  std::vector<std::optional<std::string>> out(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].IsNotFound()) continue;
    if (!statuses[i].ok()) return FromRocks(statuses[i], "RocksDB multiget");
    out[i] = std::move(values[i]);
  }
  return out;
}

absl::Status RocksDbSlotStorage::Scan(
    absl::string_view prefix,
    const std::function<absl::Status(absl::string_view, absl::string_view)>&
        fn) {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(ToSlice(prefix)); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    if (!k.starts_with(ToSlice(prefix))) break;
    rocksdb::Slice v = it->value();
    absl::Status s = fn(absl::string_view(k.data(), k.size()),
                        absl::string_view(v.data(), v.size()));
    if (!s.ok()) return s;
  }
  return FromRocks(it->status(), "RocksDB scan");
}

StorageStats RocksDbSlotStorage::GetStats() {
  StorageStats stats;
  db_->GetIntProperty("rocksdb.total-sst-files-size", &stats.sst_bytes);
  db_->GetIntProperty("rocksdb.estimate-live-data-size",
                      &stats.live_data_bytes);
  db_->GetIntProperty("rocksdb.cur-size-all-mem-tables", &stats.memtable_bytes);
  return stats;
}

}  // namespace memmgr
