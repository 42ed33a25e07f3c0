// RocksDbSlotStorage: SlotStorage on a RocksDB database in a directory.
//
// Durability: every Write goes to RocksDB's WAL before it returns (the WAL is
// never disabled), so acknowledged data survives kill -9; `sync` adds an
// fsync of the WAL.
//
// Thread-safety: safe for concurrent use (RocksDB's DB is).
#ifndef MEMMGR_SERVER_SWAP_ROCKSDB_SLOT_STORAGE_H_
#define MEMMGR_SERVER_SWAP_ROCKSDB_SLOT_STORAGE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/swap/slot_storage.h"

namespace rocksdb {
class DB;
struct Options;
}  // namespace rocksdb

namespace memmgr {

class RocksDbSlotStorage final : public SlotStorage {
 public:
  // Opens (creating if needed) the database in `dir`.
  static absl::StatusOr<std::unique_ptr<RocksDbSlotStorage>> Open(
      const std::string& dir);
  ~RocksDbSlotStorage() override;  // Flushes nothing extra; closes cleanly.

  // The RocksDB options Open uses. Public so the benchmark's raw-RocksDB
  // baseline runs on exactly the same configuration.
  static void ConfigureOptions(rocksdb::Options* options);

  absl::Status Write(const StorageBatch& batch, bool sync) override;
  absl::StatusOr<std::optional<std::string>> Get(
      absl::string_view key) override;
  absl::StatusOr<std::vector<std::optional<std::string>>> MultiGet(
      const std::vector<std::string>& keys) override;
  absl::Status Scan(
      absl::string_view prefix,
      const std::function<absl::Status(absl::string_view, absl::string_view)>&
          fn) override;
  StorageStats GetStats() override;

  const std::string& dir() const { return dir_; }

 private:
  RocksDbSlotStorage(std::string dir, rocksdb::DB* db);

  const std::string dir_;
  rocksdb::DB* const db_;  // owned
};

}  // namespace memmgr

#endif  // MEMMGR_SERVER_SWAP_ROCKSDB_SLOT_STORAGE_H_
