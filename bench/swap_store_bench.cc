// swap_store_bench: swap-out and swap-in of 4 KiB pages through the swap
// store in-process and through gRPC on loopback, against raw RocksDB
// WriteBatch puts / MultiGets of the same pages, in the same run.
//
//   swap_store_bench [--pages=65536] [--repeat=N] [--quick] [--json]
//   [--modes=...]
//
// Modes (rows):
//   rocksdb           raw DB, RocksDbSlotStorage's options, one 9-byte key
//                     per 4096-byte page: the baseline ("vs raw" = 1.00)
//   rocksdb-2key[-grp] raw DB with format 1's on-disk shape (page record +
//                     21-byte slot meta per page), interleaved d,s,d,s and
//                     grouped d..d,s..s (diagnostic; swap-out only)
//   rocksdb-run       raw DB with format 2's shape as SwapOut writes it: a
//                     page record per page, then one run record per batch
//                     (diagnostic; swap-out only)
//   store             SwapStore on RocksDbSlotStorage, in-process
//   grpc              ServerRunner on 127.0.0.1:0 + memmgr::Client (unary),
//                     1..N calls in flight on one channel; plus "rtt": unary
//                     ListLeases round trips (the transport alone)
//   grpc-stream       StreamSwapOut with --stream_depth batches in flight on
//                     one stream; StreamSwapIn one batch at a time
//
// Every write row runs on a fresh RocksDB directory (raw DB, SwapStore or
// ServerRunner), so no row inherits another row's memtables or compaction
// debt; the read rows read back what the in-flight-1 write row of the same
// mode just wrote (mostly from the memtable). Inputs are built before the
// timed region and outputs are verified (size + crc32c of every page) after
// it; any mismatch or failed call makes the binary exit 1. Timing targets are
// reported, never asserted.
//
// Columns: pages/s = pages / wall time of the timed region (all in-flight
// threads together); p50/p99 = per-batch call latency; "vs raw" = pages/s
// over the raw RocksDB row of the same operation, batch size and in-flight
// count (or in-flight 1 when there is no such raw row).
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/write_batch.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/base/internal/endian.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "client/client.h"
#include "client/ctl_commands.h"
#include "common/crc32c.h"
#include "common/logging.h"
#include "memmgr/v1/memory_manager.grpc.pb.h"
#include "server/server_runner.h"
#include "server/swap/rocksdb_slot_storage.h"
#include "server/swap/swap_entry.h"
#include "server/swap/swap_store.h"

ABSL_FLAG(uint64_t, pages, 65536,
          "pages per row (rounded down to whole batches, at least one batch)");
ABSL_FLAG(bool, quick, false,
          "smoke run: 512 pages per row, in-flight 1 and 2, stream depth 2");
ABSL_FLAG(int, repeat, 1,
          "run every row this many times (interleaved with the other modes) "
          "and report the run with the median pages/s; use >= 3 on a noisy VM");
ABSL_FLAG(bool, json, false, "print the rows as JSON instead of a table");
ABSL_FLAG(std::string, batches, "1,16,64,256", "batch sizes (pages)");
ABSL_FLAG(std::string, inflight, "1,2,4",
          "concurrent unary calls for the gRPC swap-out rows; the raw RocksDB "
          "and in-process store rows run with 1 and with the largest value");
ABSL_FLAG(int, stream_depth, 4,
          "batches in flight on one StreamSwapOut stream (0: no stream rows)");
ABSL_FLAG(std::string, modes,
          "rocksdb,rocksdb-2key,rocksdb-run,store,grpc,grpc-stream",
          "which rows to run (for profiling one path; ratios need rocksdb). "
          "rocksdb-2key: raw puts in format 1's key layout, interleaved and "
          "grouped; rocksdb-run: raw puts in format 2's layout (diagnostic)");
ABSL_FLAG(std::string, tmpdir, "",
          "where to create the temporary databases (default $TMPDIR or /tmp)");
ABSL_FLAG(uint64_t, seed, 1, "seed of the page contents");

namespace memmgr {
namespace {

using SteadyClock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             SteadyClock::now().time_since_epoch())
      .count();
}

// ---------------------------------------------------------------- pages --

// A realistic mix (random, text-like, zero, same-filled: MakeTestPage) from a
// pool, made unique by stamping the page's global index into bytes 8..15, so
// a page read back from the wrong slot fails its crc check.
class PageFactory {
 public:
  PageFactory(uint64_t seed, size_t pool_size) {
    pool_.reserve(pool_size);
    for (size_t j = 0; j < pool_size; ++j)
      pool_.push_back(MakeTestPage(seed, j));
  }
  std::string Make(uint64_t index) const {
    std::string page = pool_[index % pool_.size()];
    const uint64_t stamp = index * 0x9E3779B97F4A7C15ull + 1;
    std::memcpy(page.data() + 8, &stamp, sizeof(stamp));
    return page;
  }

 private:
  std::vector<std::string> pool_;
};

// The pages of one row, grouped in batches, with their crc32c.
struct RowInput {
  uint32_t batch = 0;
  std::vector<std::vector<std::string>> pages;        // [batch][i]
  std::vector<std::vector<absl::string_view>> views;  // same, as views
  std::vector<std::vector<uint32_t>> crcs;            // [batch][i]
  uint64_t total() const { return uint64_t{batch} * pages.size(); }
};

RowInput BuildInput(const PageFactory& factory, uint64_t base, uint64_t pages,
                    uint32_t batch) {
  RowInput in;
  in.batch = batch;
  const uint64_t batches = std::max<uint64_t>(1, pages / batch);
  in.pages.resize(batches);
  in.views.resize(batches);
  in.crcs.resize(batches);
  for (uint64_t b = 0; b < batches; ++b) {
    in.pages[b].reserve(batch);
    for (uint32_t i = 0; i < batch; ++i) {
      in.pages[b].push_back(factory.Make(base + b * batch + i));
      in.crcs[b].push_back(Crc32c(in.pages[b].back()));
    }
    in.views[b].assign(in.pages[b].begin(), in.pages[b].end());
  }
  return in;
}

// Checks pages read back (out[batch][i]) against the input.
absl::Status Verify(const RowInput& in,
                    const std::vector<std::vector<std::string>>& out,
                    absl::string_view what) {
  if (out.size() != in.pages.size()) {
    return absl::InternalError(absl::StrCat(
        what, ": read ", out.size(), " batches, wrote ", in.pages.size()));
  }
  for (size_t b = 0; b < out.size(); ++b) {
    if (out[b].size() != in.pages[b].size()) {
      return absl::DataLossError(
          absl::StrCat(what, ": batch ", b, " has ", out[b].size(), " pages"));
    }
    for (size_t i = 0; i < out[b].size(); ++i) {
      if (out[b][i].size() != kPageSize || Crc32c(out[b][i]) != in.crcs[b][i]) {
        return absl::DataLossError(absl::StrCat(what, ": page ", i,
                                                " of batch ", b,
                                                " differs from what was "
                                                "written (",
                                                out[b][i].size(), " bytes)"));
      }
    }
  }
  return absl::OkStatus();
}

// ----------------------------------------------------------------- rows --

struct Row {
  std::string op;    // "swap-out" | "swap-in"
  std::string mode;  // "rocksdb" | "store" | "grpc" | "grpc-stream"
  uint32_t batch = 0;
  int inflight = 1;
  uint64_t pages = 0;
  double seconds = 0;
  double pages_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
  double ratio = 0;  // to the raw RocksDB row; 0 = none
  std::string ratio_ref;
};

double Percentile(const std::vector<int64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t rank =
      static_cast<size_t>(q * static_cast<double>(sorted.size()) + 0.999999);
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]) / 1000.0;
}

Row MakeRow(std::string op, std::string mode, uint32_t batch, int inflight,
            uint64_t pages, int64_t wall_ns, std::vector<int64_t> lat_ns) {
  Row r;
  r.op = std::move(op);
  r.mode = std::move(mode);
  r.batch = batch;
  r.inflight = inflight;
  r.pages = pages;
  r.seconds = static_cast<double>(wall_ns) / 1e9;
  r.pages_per_s = r.seconds > 0 ? static_cast<double>(pages) / r.seconds : 0;
  std::sort(lat_ns.begin(), lat_ns.end());
  r.p50_us = Percentile(lat_ns, 0.50);
  r.p99_us = Percentile(lat_ns, 0.99);
  return r;
}

// Runs op(b, &latency) for every batch b, on `threads` threads (thread t
// takes batches t, t+threads, ...). Returns the wall time; latencies of all
// batches go to *lat_ns. The first failing status wins.
absl::StatusOr<int64_t> RunBatches(
    size_t batches, int threads,
    const std::function<absl::Status(size_t b)>& op,
    std::vector<int64_t>* lat_ns) {
  lat_ns->assign(batches, 0);
  std::vector<absl::Status> status(threads);
  auto worker = [&](int t) {
    for (size_t b = t; b < batches; b += threads) {
      const int64_t start = NowNs();
      absl::Status s = op(b);
      (*lat_ns)[b] = NowNs() - start;
      if (!s.ok()) {
        status[t] = s;
        return;
      }
    }
  };
  const int64_t start = NowNs();
  if (threads == 1) {
    worker(0);
  } else {
    std::vector<std::thread> pool;
    pool.reserve(threads);
    for (int t = 0; t < threads; ++t) pool.emplace_back(worker, t);
    for (std::thread& th : pool) th.join();
  }
  const int64_t wall = NowNs() - start;
  for (const absl::Status& s : status) {
    if (!s.ok()) return s;
  }
  return wall;
}

// ------------------------------------------------------------ temp dirs --

class TempDirs {
 public:
  absl::Status Init(std::string parent) {
    if (parent.empty()) {
      const char* env = getenv("TMPDIR");
      parent = env != nullptr && *env != '\0' ? env : "/tmp";
    }
    std::string templ = parent + "/swap_store_bench.XXXXXX";
    if (mkdtemp(templ.data()) == nullptr) {
      return absl::InternalError(
          absl::StrCat("mkdtemp in ", parent, ": ", strerror(errno)));
    }
    root_ = templ;
    return absl::OkStatus();
  }
  ~TempDirs() {
    if (!root_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(root_, ec);
    }
  }
  std::string Fresh(absl::string_view name) {
    return absl::StrCat(root_, "/", name, "-", next_++);
  }
  static void Remove(const std::string& dir) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

 private:
  std::string root_;
  int next_ = 0;
};

// --------------------------------------------------------- raw RocksDB --

// The very options RocksDbSlotStorage::Open uses.
absl::StatusOr<std::unique_ptr<rocksdb::DB>> OpenRawDb(const std::string& dir) {
  rocksdb::Options options;
  RocksDbSlotStorage::ConfigureOptions(&options);
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, &db);
  if (!s.ok())
    return absl::UnavailableError("open raw RocksDB: " + s.ToString());
  return std::unique_ptr<rocksdb::DB>(db);
}

void CloseRawDb(std::unique_ptr<rocksdb::DB> db) {
  db->Close().PermitUncheckedError();
}

// Same key shape as the store's page records: 'd' + be64(n).
void RawKey(uint64_t n, char key[9]) {
  key[0] = 'd';
  absl::big_endian::Store64(key + 1, n);
}

struct Context {
  const PageFactory* factory;
  TempDirs* dirs;
  uint64_t pages;
  uint64_t next_base = 0;  // global page index of the next row's first page
  std::vector<Row> rows;
  bool verbose = true;
  bool stream_reads = true;  // also read back over StreamSwapIn

  RowInput NextInput(uint32_t batch) {
    RowInput in = BuildInput(*factory, next_base, pages, batch);
    next_base += in.total();
    return in;
  }
  void Add(Row r) {
    if (verbose) {
      std::cerr << absl::StrFormat(
          "  %-8s %-16s batch %3u x%d: %9.0f pages/s  p50 %8.1f us  p99 %8.1f "
          "us\n",
          r.op, r.mode, r.batch, r.inflight, r.pages_per_s, r.p50_us, r.p99_us);
    }
    rows.push_back(std::move(r));
  }
};

// What the raw rows write per page.
enum class RawLayout {
  // One put per page: 'd' + be64(n) -> the 4096-byte page. The baseline.
  kPage,
  // Format 1's shape (diagnostic): a 'd' key with a 20-byte header + page
  // and an 's' key with a 21-byte slot meta, interleaved d,s,d,s,...
  kStoreInterleaved,
  // The same puts, all 'd' first then all 's' (same atomic batch), as the
  // format-1 SwapStore::SwapOut built its batch.
  kStoreGrouped,
  // Format 2's shape, as SwapStore::SwapOut builds its batch: all 'd' keys
  // (20-byte header + page), then one 'r' key with the run record of a
  // batch of neighbouring slots (25 + batch/8 + 4 bytes).
  kRun,
};

absl::string_view LayoutMode(RawLayout layout) {
  switch (layout) {
    case RawLayout::kPage:
      return "rocksdb";
    case RawLayout::kStoreInterleaved:
      return "rocksdb-2key";
    case RawLayout::kStoreGrouped:
      return "rocksdb-2key-grp";
    case RawLayout::kRun:
      return "rocksdb-run";
  }
  return "?";
}

absl::Status RawRows(Context& ctx, uint32_t batch, int inflight,
                     bool with_reads, RawLayout layout = RawLayout::kPage) {
  const std::string dir = ctx.dirs->Fresh("rocksdb");
  absl::StatusOr<std::unique_ptr<rocksdb::DB>> opened = OpenRawDb(dir);
  if (!opened.ok()) return opened.status();
  std::unique_ptr<rocksdb::DB> db = *std::move(opened);
  RowInput in = ctx.NextInput(batch);
  const size_t batches = in.pages.size();

  rocksdb::WriteOptions wo;
  wo.sync = false;
  wo.disableWAL = false;
  std::vector<int64_t> lat;
  absl::StatusOr<int64_t> wall = RunBatches(
      batches, inflight,
      [&](size_t b) -> absl::Status {
        rocksdb::WriteBatch wb;
        char key[9];
        if (layout == RawLayout::kPage) {
          for (uint32_t i = 0; i < batch; ++i) {
            RawKey(b * batch + i, key);
            wb.Put(
                rocksdb::Slice(key, sizeof(key)),
                rocksdb::Slice(in.pages[b][i].data(), in.pages[b][i].size()));
          }
        } else {
          static constexpr char kHeader[20] = {};
          static constexpr char kMeta[21] = {1};
          auto put_page = [&](uint32_t i) {
            RawKey(b * batch + i, key);
            const rocksdb::Slice k(key, sizeof(key));
            const rocksdb::Slice parts[2] = {
                rocksdb::Slice(kHeader, sizeof(kHeader)),
                rocksdb::Slice(in.pages[b][i].data(), in.pages[b][i].size())};
            wb.Put(rocksdb::SliceParts(&k, 1), rocksdb::SliceParts(parts, 2));
          };
          auto put_meta = [&](uint32_t i) {
            RawKey(b * batch + i, key);
            key[0] = 's';
            wb.Put(rocksdb::Slice(key, sizeof(key)),
                   rocksdb::Slice(kMeta, sizeof(kMeta)));
          };
          if (layout == RawLayout::kRun) {
            for (uint32_t i = 0; i < batch; ++i) put_page(i);
            // Same size as the store's record for a fresh run of `batch`.
            static constexpr char kRun[25 + 256 / 8 + 4] = {1};
            RawKey(b * batch, key);
            key[0] = 'r';
            wb.Put(rocksdb::Slice(key, sizeof(key)),
                   rocksdb::Slice(kRun, 25 + (batch + 7) / 8 + 4));
          } else if (layout == RawLayout::kStoreInterleaved) {
            for (uint32_t i = 0; i < batch; ++i) {
              put_page(i);
              put_meta(i);
            }
          } else {
            for (uint32_t i = 0; i < batch; ++i) put_page(i);
            for (uint32_t i = 0; i < batch; ++i) put_meta(i);
          }
        }
        rocksdb::Status s = db->Write(wo, &wb);
        if (!s.ok())
          return absl::UnavailableError("raw write: " + s.ToString());
        return absl::OkStatus();
      },
      &lat);
  if (!wall.ok()) return wall.status();
  ctx.Add(MakeRow("swap-out", std::string(LayoutMode(layout)), batch, inflight,
                  in.total(), *wall, std::move(lat)));

  if (with_reads) {
    std::vector<std::vector<std::string>> out(batches);
    wall = RunBatches(
        batches, 1,
        [&](size_t b) -> absl::Status {
          std::vector<std::string> keys(batch, std::string(9, '\0'));
          std::vector<rocksdb::Slice> slices;
          slices.reserve(batch);
          for (uint32_t i = 0; i < batch; ++i) {
            RawKey(b * batch + i, keys[i].data());
            slices.emplace_back(keys[i]);
          }
          std::vector<std::string> values;
          std::vector<rocksdb::Status> st =
              db->MultiGet(rocksdb::ReadOptions(), slices, &values);
          for (const rocksdb::Status& s : st) {
            if (!s.ok())
              return absl::DataLossError("raw multiget: " + s.ToString());
          }
          out[b] = std::move(values);
          return absl::OkStatus();
        },
        &lat);
    if (!wall.ok()) return wall.status();
    ctx.Add(MakeRow("swap-in", "rocksdb", batch, 1, in.total(), *wall,
                    std::move(lat)));
    absl::Status v = Verify(in, out, "raw RocksDB read-back");
    if (!v.ok()) return v;
  }
  CloseRawDb(std::move(db));
  TempDirs::Remove(dir);
  return absl::OkStatus();
}

// ---------------------------------------------------- in-process store --

v1::RegisterWorkerRequest BenchWorker(absl::string_view name) {
  v1::RegisterWorkerRequest req;
  req.set_node_name(std::string(name));
  req.set_frame_capacity_pages(1 << 20);
  return req;
}

// Rows send no heartbeats, so leases must outlive the slowest row.
constexpr absl::Duration kBenchLeaseTtl = absl::Hours(1);

uint64_t Capacity(uint64_t pages) {
  return std::max<uint64_t>(uint64_t{1} << 20, 2 * pages + 1024);
}

absl::Status StoreRows(Context& ctx, uint32_t batch, int inflight,
                       bool with_reads) {
  const std::string dir = ctx.dirs->Fresh("store");
  absl::StatusOr<std::unique_ptr<RocksDbSlotStorage>> storage =
      RocksDbSlotStorage::Open(dir);
  if (!storage.ok()) return storage.status();
  SwapStoreOptions opts;
  opts.capacity_pages = Capacity(ctx.pages);
  opts.max_batch_pages = 256;
  opts.sync = false;
  opts.lease_ttl = kBenchLeaseTtl;  // no heartbeats in the timed loops
  absl::StatusOr<std::unique_ptr<SwapStore>> opened =
      SwapStore::Open(opts, *std::move(storage));
  if (!opened.ok()) return opened.status();
  std::unique_ptr<SwapStore> store = *std::move(opened);
  absl::StatusOr<LeaseGrant> lease =
      store->RegisterLease(BenchWorker("bench-store"));
  if (!lease.ok()) return lease.status();

  RowInput in = ctx.NextInput(batch);
  const size_t batches = in.pages.size();
  std::vector<std::vector<SwapEntry>> entries(batches);
  std::vector<int64_t> lat;
  absl::StatusOr<int64_t> wall = RunBatches(
      batches, inflight,
      [&](size_t b) -> absl::Status {
        absl::StatusOr<std::vector<SwapEntry>> e =
            store->SwapOut(lease->lease_id, in.views[b]);
        if (!e.ok()) return e.status();
        if (e->size() != batch) return absl::InternalError("short SwapOut");
        entries[b] = *std::move(e);
        return absl::OkStatus();
      },
      &lat);
  if (!wall.ok()) return wall.status();
  ctx.Add(MakeRow("swap-out", "store", batch, inflight, in.total(), *wall,
                  std::move(lat)));

  if (with_reads) {
    std::vector<std::vector<std::string>> out(batches);
    wall = RunBatches(
        batches, 1,
        [&](size_t b) -> absl::Status {
          return store->SwapIn(lease->lease_id, entries[b], &out[b]);
        },
        &lat);
    if (!wall.ok()) return wall.status();
    ctx.Add(MakeRow("swap-in", "store", batch, 1, in.total(), *wall,
                    std::move(lat)));
    absl::Status v = Verify(in, out, "in-process store read-back");
    if (!v.ok()) return v;
  }
  store.reset();
  TempDirs::Remove(dir);
  return absl::OkStatus();
}

// ------------------------------------------------------- gRPC loopback --

struct Loopback {
  std::string dir;
  std::unique_ptr<ServerRunner> server;
  std::unique_ptr<Client> client;
  std::string lease_id;

  ~Loopback() {
    client.reset();
    if (server != nullptr) server->Shutdown(absl::Seconds(5));
    server.reset();
    if (!dir.empty()) TempDirs::Remove(dir);
  }
};

absl::StatusOr<std::unique_ptr<Loopback>> StartLoopback(Context& ctx) {
  auto lb = std::make_unique<Loopback>();
  lb->dir = ctx.dirs->Fresh("server");
  ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.metrics_listen = "";
  config.data_dir = lb->dir;
  config.swap_capacity = Capacity(ctx.pages);
  config.max_batch_pages = 256;
  config.sync = false;
  config.lease_ttl = kBenchLeaseTtl;
  absl::StatusOr<std::unique_ptr<ServerRunner>> server =
      ServerRunner::Start(config);
  if (!server.ok()) return server.status();
  lb->server = *std::move(server);
  ClientOptions copts;
  copts.target = absl::StrCat("127.0.0.1:", lb->server->port());
  copts.deadline = absl::Seconds(60);
  copts.max_attempts = 1;  // a benchmark must not hide failures in retries
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(copts);
  if (!client.ok()) return client.status();
  lb->client = *std::move(client);
  // Also connects the channel, so no row pays for the TCP/HTTP2 handshake.
  absl::StatusOr<v1::RegisterWorkerResponse> reg =
      lb->client->RegisterWorker(BenchWorker("bench-grpc"));
  if (!reg.ok()) return reg.status();
  lb->lease_id = reg->lease_id();
  return lb;
}

absl::Status GrpcRows(Context& ctx, uint32_t batch, int inflight,
                      bool with_reads) {
  absl::StatusOr<std::unique_ptr<Loopback>> started = StartLoopback(ctx);
  if (!started.ok()) return started.status();
  Loopback& lb = **started;

  RowInput in = ctx.NextInput(batch);
  const size_t batches = in.pages.size();
  std::vector<std::vector<v1::SwapEntry>> entries(batches);
  std::vector<int64_t> lat;
  absl::StatusOr<int64_t> wall = RunBatches(
      batches, inflight,
      [&](size_t b) -> absl::Status {
        absl::StatusOr<std::vector<v1::SwapEntry>> e =
            lb.client->SwapOut(lb.lease_id, in.pages[b]);
        if (!e.ok()) return e.status();
        entries[b] = *std::move(e);
        return absl::OkStatus();
      },
      &lat);
  if (!wall.ok()) return wall.status();
  ctx.Add(MakeRow("swap-out", "grpc", batch, inflight, in.total(), *wall,
                  std::move(lat)));

  if (with_reads) {
    std::vector<std::vector<std::string>> out(batches);
    wall = RunBatches(
        batches, 1,
        [&](size_t b) -> absl::Status {
          absl::StatusOr<std::vector<std::string>> p =
              lb.client->SwapIn(lb.lease_id, entries[b]);
          if (!p.ok()) return p.status();
          out[b] = *std::move(p);
          return absl::OkStatus();
        },
        &lat);
    if (!wall.ok()) return wall.status();
    ctx.Add(MakeRow("swap-in", "grpc", batch, 1, in.total(), *wall,
                    std::move(lat)));
    absl::Status v = Verify(in, out, "gRPC read-back");
    if (!v.ok()) return v;

    // The same reads on one StreamSwapIn stream, one batch at a time: no
    // per-call HTTP/2 stream setup, so this is the latency floor a worker
    // gets for a single-page fault on a long-lived stream.
    if (ctx.stream_reads) {
      out.assign(batches, {});
      grpc::ClientContext gctx;
      gctx.set_deadline(std::chrono::system_clock::now() +
                        std::chrono::minutes(10));
      auto stream = lb.client->stub()->StreamSwapIn(&gctx);
      v1::SwapInRequest req;
      v1::SwapInResponse resp;
      wall = RunBatches(
          batches, 1,
          [&](size_t b) -> absl::Status {
            req.Clear();
            req.set_lease_id(lb.lease_id);
            req.set_seq(b);
            for (const v1::SwapEntry& e : entries[b]) *req.add_entries() = e;
            if (!stream->Write(req) || !stream->Read(&resp)) {
              return absl::UnavailableError("StreamSwapIn ended early");
            }
            if (resp.status_code() != 0) {
              return absl::Status(
                  static_cast<absl::StatusCode>(resp.status_code()),
                  resp.status_message());
            }
            if (resp.seq() != b) return absl::InternalError("StreamSwapIn seq");
            out[b].assign(
                std::make_move_iterator(resp.mutable_pages()->begin()),
                std::make_move_iterator(resp.mutable_pages()->end()));
            return absl::OkStatus();
          },
          &lat);
      stream->WritesDone();
      while (stream->Read(&resp)) {
      }
      grpc::Status fin = stream->Finish();
      if (!wall.ok()) return wall.status();
      if (!fin.ok()) {
        return absl::UnavailableError("StreamSwapIn: " + fin.error_message());
      }
      ctx.Add(MakeRow("swap-in", "grpc-stream", batch, 1, in.total(), *wall,
                      std::move(lat)));
      v = Verify(in, out, "gRPC stream read-back");
      if (!v.ok()) return v;
    }
  }
  return absl::OkStatus();
}

// The transport alone: unary ListLeases (one lease, no pages) round trips.
absl::Status GrpcRttRow(Context& ctx, uint64_t calls) {
  absl::StatusOr<std::unique_ptr<Loopback>> started = StartLoopback(ctx);
  if (!started.ok()) return started.status();
  Loopback& lb = **started;
  std::vector<int64_t> lat;
  absl::StatusOr<int64_t> wall = RunBatches(
      calls, 1,
      [&](size_t) -> absl::Status {
        std::unique_ptr<grpc::ClientContext> gctx = lb.client->NewContext();
        v1::ListLeasesResponse resp;
        grpc::Status st = lb.client->stub()->ListLeases(
            gctx.get(), v1::ListLeasesRequest(), &resp);
        if (!st.ok())
          return absl::UnavailableError("ListLeases: " + st.error_message());
        if (resp.leases_size() != 1)
          return absl::InternalError("ListLeases: not 1 lease");
        return absl::OkStatus();
      },
      &lat);
  if (!wall.ok()) return wall.status();
  ctx.Add(MakeRow("rtt", "grpc", 0, 1, calls, *wall, std::move(lat)));
  return absl::OkStatus();
}

// One StreamSwapOut stream with up to `depth` batches in flight: a writer
// thread sends, this thread reads the answers. Latency = send to answer.
absl::Status GrpcStreamRow(Context& ctx, uint32_t batch, int depth) {
  absl::StatusOr<std::unique_ptr<Loopback>> started = StartLoopback(ctx);
  if (!started.ok()) return started.status();
  Loopback& lb = **started;
  RowInput in = ctx.NextInput(batch);
  const size_t batches = in.pages.size();

  grpc::ClientContext gctx;
  gctx.set_deadline(std::chrono::system_clock::now() +
                    std::chrono::minutes(10));
  std::unique_ptr<
      grpc::ClientReaderWriter<v1::SwapOutRequest, v1::SwapOutResponse>>
      stream = lb.client->stub()->StreamSwapOut(&gctx);

  std::mutex mu;
  std::condition_variable cv;
  size_t answered = 0;
  bool reader_done = false;
  std::vector<int64_t> sent_at(batches, 0);
  std::vector<int64_t> lat(batches, 0);
  std::atomic<bool> write_failed{false};

  const int64_t start = NowNs();
  std::thread writer([&] {
    for (size_t b = 0; b < batches; ++b) {
      {
        std::unique_lock<std::mutex> l(mu);
        cv.wait(l, [&] {
          return reader_done || b - answered < static_cast<size_t>(depth);
        });
        if (reader_done) break;
      }
      v1::SwapOutRequest req;
      req.set_lease_id(lb.lease_id);
      req.set_seq(b);
      req.mutable_pages()->Reserve(static_cast<int>(batch));
      for (const std::string& p : in.pages[b]) req.add_pages(p);
      {
        std::lock_guard<std::mutex> l(mu);
        sent_at[b] = NowNs();
      }
      if (!stream->Write(req)) {
        write_failed = true;
        break;
      }
    }
    stream->WritesDone();
  });

  absl::Status status;
  v1::SwapOutResponse resp;
  for (size_t r = 0; r < batches; ++r) {
    if (!stream->Read(&resp)) {
      status = absl::UnavailableError(
          absl::StrCat("stream ended after ", r, " of ", batches, " answers"));
      break;
    }
    const int64_t now = NowNs();
    if (resp.seq() != r) {
      status = absl::InternalError(absl::StrCat("answer seq ", resp.seq(),
                                                " where ", r, " was expected"));
      break;
    }
    if (resp.status_code() != 0) {
      status = absl::Status(static_cast<absl::StatusCode>(resp.status_code()),
                            resp.status_message());
      break;
    }
    if (static_cast<uint32_t>(resp.entries_size()) != batch) {
      status = absl::InternalError("short StreamSwapOut answer");
      break;
    }
    std::lock_guard<std::mutex> l(mu);
    lat[r] = now - sent_at[r];
    answered = r + 1;
    cv.notify_all();
  }
  const int64_t wall = NowNs() - start;
  {
    std::lock_guard<std::mutex> l(mu);
    reader_done = true;
    cv.notify_all();
  }
  if (!status.ok()) gctx.TryCancel();
  writer.join();
  while (stream->Read(&resp)) {
  }
  grpc::Status fin = stream->Finish();
  if (!status.ok()) return status;
  if (write_failed) return absl::UnavailableError("stream write failed");
  if (!fin.ok()) {
    return absl::UnavailableError("StreamSwapOut: " + fin.error_message());
  }
  ctx.Add(MakeRow("swap-out", "grpc-stream", batch, depth, in.total(), wall,
                  std::move(lat)));
  return absl::OkStatus();
}

// -------------------------------------------------------------- output --

// Collapses repeated runs of the same (op, mode, batch, in-flight) into the
// run with the median pages/s (its own p50/p99 with it).
void KeepMedianRuns(std::vector<Row>& rows) {
  std::map<std::tuple<std::string, std::string, uint32_t, int>,
           std::vector<Row>>
      groups;
  std::vector<std::tuple<std::string, std::string, uint32_t, int>> order;
  for (Row& r : rows) {
    auto key = std::make_tuple(r.op, r.mode, r.batch, r.inflight);
    if (groups.find(key) == groups.end()) order.push_back(key);
    groups[key].push_back(std::move(r));
  }
  rows.clear();
  for (const auto& key : order) {
    std::vector<Row>& g = groups[key];
    std::sort(g.begin(), g.end(), [](const Row& a, const Row& b) {
      return a.pages_per_s < b.pages_per_s;
    });
    rows.push_back(g[g.size() / 2]);
  }
}

void ComputeRatios(std::vector<Row>& rows) {
  std::map<std::tuple<std::string, uint32_t, int>, double> raw;
  for (const Row& r : rows) {
    if (r.mode == "rocksdb") raw[{r.op, r.batch, r.inflight}] = r.pages_per_s;
  }
  for (Row& r : rows) {
    auto it = raw.find({r.op, r.batch, r.inflight});
    int ref = r.inflight;
    if (it == raw.end()) {
      it = raw.find({r.op, r.batch, 1});
      ref = 1;
    }
    if (it == raw.end() || it->second <= 0) continue;
    r.ratio = r.pages_per_s / it->second;
    r.ratio_ref = absl::StrCat("x", ref);
  }
}

int ModeOrder(const std::string& mode) {
  if (mode == "rocksdb") return 0;
  if (mode == "rocksdb-2key") return 1;
  if (mode == "rocksdb-2key-grp") return 2;
  if (mode == "rocksdb-run") return 3;
  if (mode == "store") return 4;
  if (mode == "grpc") return 5;
  return 6;
}

int OpOrder(const std::string& op) {
  if (op == "swap-out") return 0;
  if (op == "swap-in") return 1;
  return 2;
}

void SortRows(std::vector<Row>& rows) {
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    if (a.op != b.op) return OpOrder(a.op) < OpOrder(b.op);
    if (a.batch != b.batch) return a.batch < b.batch;
    if (a.mode != b.mode) return ModeOrder(a.mode) < ModeOrder(b.mode);
    return a.inflight < b.inflight;
  });
}

void PrintTable(const std::vector<Row>& rows) {
  std::printf(
      "| op       | mode             | batch | in-flight |  pages  |  pages/s "
      "| p50 us  | p99 us   | vs raw      |\n");
  std::printf(
      "|----------|------------------|------:|----------:|--------:|---------:|"
      "--------:|---------:|-------------|\n");
  for (const Row& r : rows) {
    const std::string ratio =
        r.mode == "rocksdb" ? "1.00 (base)"
        : r.op == "rtt"     ? "-"
        : r.ratio > 0       ? absl::StrFormat("%.2f (%s)", r.ratio, r.ratio_ref)
                            : "-";
    std::printf(
        "| %-8s | %-16s | %5u | %9d | %7llu | %8.0f | %7.1f | %8.1f | %-11s "
        "|\n",
        r.op.c_str(), r.mode.c_str(), r.batch, r.inflight,
        static_cast<unsigned long long>(r.pages), r.pages_per_s, r.p50_us,
        r.p99_us, ratio.c_str());
  }
}

void PrintJson(const std::vector<Row>& rows) {
  std::printf("[\n");
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    std::printf(
        "  {\"op\": \"%s\", \"mode\": \"%s\", \"batch\": %u, \"inflight\": %d, "
        "\"pages\": %llu, \"seconds\": %.6f, \"pages_per_s\": %.1f, "
        "\"p50_us\": %.2f, \"p99_us\": %.2f, \"ratio_to_rocksdb\": %.4f}%s\n",
        r.op.c_str(), r.mode.c_str(), r.batch, r.inflight,
        static_cast<unsigned long long>(r.pages), r.seconds, r.pages_per_s,
        r.p50_us, r.p99_us, r.mode == "rocksdb" ? 1.0 : r.ratio,
        i + 1 < rows.size() ? "," : "");
  }
  std::printf("]\n");
}

const Row* FindRow(const std::vector<Row>& rows, absl::string_view op,
                   absl::string_view mode, uint32_t batch, int inflight) {
  for (const Row& r : rows) {
    if (r.op == op && r.mode == mode && r.batch == batch &&
        (inflight < 0 || r.inflight == inflight)) {
      return &r;
    }
  }
  return nullptr;
}

// The targets, reported (never asserted: CI machines vary).
void PrintTargets(const std::vector<Row>& rows,
                  const std::vector<uint32_t>& batches) {
  std::printf("\nTargets (reported, not asserted):\n");
  for (uint32_t b : batches) {
    const Row* s = FindRow(rows, "swap-out", "store", b, 1);
    if (s == nullptr || s->ratio <= 0) continue;
    std::printf(
        "  store swap-out >= 0.90x raw RocksDB put, batch %3u: %.3fx  %s\n", b,
        s->ratio, s->ratio >= 0.9 ? "MET" : "NOT MET");
  }
  for (const Row& r : rows) {
    if (r.op == "swap-out" && r.batch == 64 &&
        (r.mode == "grpc" || r.mode == "grpc-stream")) {
      std::printf(
          "  gRPC swap-out >= 80000 pages/s, batch 64, %-11s x%d: %.0f  %s\n",
          r.mode.c_str(), r.inflight, r.pages_per_s,
          r.pages_per_s >= 80000 ? "MET" : "NOT MET");
    }
  }
  for (const char* mode : {"grpc", "grpc-stream", "store"}) {
    const Row* in1 = FindRow(rows, "swap-in", mode, 1, 1);
    if (in1 == nullptr) continue;
    std::printf(
        "  single-page SwapIn p50 <= 60 us, %-11s: p50 %.1f us, p99 %.1f us  "
        "%s%s\n",
        mode, in1->p50_us, in1->p99_us, in1->p50_us <= 60 ? "MET" : "NOT MET",
        std::string(mode) == "store" ? " (in-process, for reference)" : "");
  }
}

absl::StatusOr<std::vector<int>> ParseList(absl::string_view flag,
                                           absl::string_view text, int lo,
                                           int hi) {
  std::vector<int> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int v;
    if (!absl::SimpleAtoi(part, &v) || v < lo || v > hi) {
      return absl::InvalidArgumentError(absl::StrCat("--", flag, ": '", part,
                                                     "' is not an integer in [",
                                                     lo, ", ", hi, "]"));
    }
    out.push_back(v);
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " is empty"));
  }
  return out;
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "swap store vs raw RocksDB vs gRPC loopback benchmark; prints a table");
  absl::ParseCommandLine(argc, argv);
  SetMinLogSeverity(LogSeverity::kWarning);

  const bool quick = absl::GetFlag(FLAGS_quick);
  uint64_t pages = absl::GetFlag(FLAGS_pages);
  std::string inflight_text = absl::GetFlag(FLAGS_inflight);
  int stream_depth = absl::GetFlag(FLAGS_stream_depth);
  if (quick) {
    pages = 512;
    inflight_text = "1,2";
    stream_depth = std::min(stream_depth, 2);
  }
  if (pages == 0 || pages > (uint64_t{1} << 24)) {
    std::cerr << "swap_store_bench: --pages must be 1..16777216\n";
    return 2;
  }
  absl::StatusOr<std::vector<int>> batch_list =
      ParseList("batches", absl::GetFlag(FLAGS_batches), 1, 256);
  absl::StatusOr<std::vector<int>> inflight_list =
      ParseList("inflight", inflight_text, 1, 64);
  if (!batch_list.ok() || !inflight_list.ok() || stream_depth < 0 ||
      stream_depth > 64) {
    std::cerr << "swap_store_bench: "
              << (!batch_list.ok() ? batch_list.status().message()
                  : !inflight_list.ok()
                      ? inflight_list.status().message()
                      : absl::string_view("--stream_depth must be 0..64"))
              << "\n";
    return 2;
  }
  std::set<std::string> modes;
  for (absl::string_view m :
       absl::StrSplit(absl::GetFlag(FLAGS_modes), ',', absl::SkipEmpty())) {
    if (m != "rocksdb" && m != "rocksdb-2key" && m != "rocksdb-run" &&
        m != "store" && m != "grpc" && m != "grpc-stream") {
      std::cerr << "swap_store_bench: --modes: unknown mode '" << m << "'\n";
      return 2;
    }
    modes.insert(std::string(m));
  }
  const bool raw = modes.count("rocksdb") > 0;
  const bool raw2 = modes.count("rocksdb-2key") > 0;
  const bool raw_run = modes.count("rocksdb-run") > 0;
  const bool store = modes.count("store") > 0;
  const bool grpc = modes.count("grpc") > 0;
  if (modes.count("grpc-stream") == 0) stream_depth = 0;
  const int max_inflight =
      *std::max_element(inflight_list->begin(), inflight_list->end());

  TempDirs dirs;
  absl::Status s = dirs.Init(absl::GetFlag(FLAGS_tmpdir));
  if (!s.ok()) {
    std::cerr << "swap_store_bench: " << s << "\n";
    return 1;
  }
  PageFactory factory(absl::GetFlag(FLAGS_seed), 1024);
  Context ctx{&factory, &dirs, pages};
  ctx.stream_reads = modes.count("grpc-stream") > 0;

  std::cerr << absl::StrFormat(
      "swap_store_bench: %d pages per row, batches %s, in-flight %s, stream "
      "depth %d, crc32c %s\n",
      pages, absl::GetFlag(FLAGS_batches), inflight_text, stream_depth,
      Crc32cIsHardwareAccelerated() ? "hw" : "sw");
  const int64_t start = NowNs();
  if (grpc) s = GrpcRttRow(ctx, std::min<uint64_t>(pages, 20000));
  const int repeat = absl::GetFlag(FLAGS_repeat);
  if (repeat < 1 || repeat > 99) {
    std::cerr << "swap_store_bench: --repeat must be 1..99\n";
    return 2;
  }
  std::vector<uint32_t> batches;
  for (int b : *batch_list) batches.push_back(static_cast<uint32_t>(b));
  for (int rep = 0; rep < repeat * static_cast<int>(batches.size()); ++rep) {
    if (!s.ok()) break;
    const uint32_t batch = batches[rep % batches.size()];
    // Raw, store and gRPC interleaved per batch size, so a burst of load on
    // the machine hits neighbouring rows rather than one whole column.
    if (raw) s = RawRows(ctx, batch, 1, /*with_reads=*/true);
    if (s.ok() && raw2) {
      s = RawRows(ctx, batch, 1, false, RawLayout::kStoreInterleaved);
    }
    if (s.ok() && raw2)
      s = RawRows(ctx, batch, 1, false, RawLayout::kStoreGrouped);
    if (s.ok() && raw_run) s = RawRows(ctx, batch, 1, false, RawLayout::kRun);
    if (s.ok() && store) s = StoreRows(ctx, batch, 1, /*with_reads=*/true);
    if (s.ok() && grpc) s = GrpcRows(ctx, batch, 1, /*with_reads=*/true);
    if (s.ok() && raw && max_inflight > 1) {
      s = RawRows(ctx, batch, max_inflight, /*with_reads=*/false);
    }
    if (s.ok() && store && max_inflight > 1) {
      s = StoreRows(ctx, batch, max_inflight, /*with_reads=*/false);
    }
    for (int n : *inflight_list) {
      if (!s.ok() || !grpc || n == 1) continue;
      s = GrpcRows(ctx, batch, n, /*with_reads=*/false);
    }
    if (s.ok() && stream_depth > 0) s = GrpcStreamRow(ctx, batch, stream_depth);
    if (!s.ok()) break;
  }
  if (!s.ok()) {
    std::cerr << "swap_store_bench: FAILED: " << s << "\n";
    return 1;
  }
  const double total_s = static_cast<double>(NowNs() - start) / 1e9;

  KeepMedianRuns(ctx.rows);
  ComputeRatios(ctx.rows);
  SortRows(ctx.rows);
  if (absl::GetFlag(FLAGS_json)) {
    PrintJson(ctx.rows);
  } else {
    PrintTable(ctx.rows);
    PrintTargets(ctx.rows, batches);
    std::printf(
        "\nAll pages read back matched (size + crc32c). Run took %.1f s.\n",
        total_s);
  }
  return 0;
}

}  // namespace
}  // namespace memmgr

int main(int argc, char** argv) { return memmgr::Main(argc, argv); }
