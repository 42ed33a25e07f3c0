// zswap_bench: the compressed tier on real process memory, in one run.
//
//   zswap_bench [--max_pages=20000] [--loopback_reads=2000] [--quick]
//
// Corpus: the writable private pages ([heap] and anonymous rw-p mappings)
// of host processes this program starts and reads through /proc/PID/mem
// once they have built their data: bash holding a 300k-element array,
// awk holding a 300k-entry associative array, python3 (if installed)
// holding a dict of 200k strings, and an idle memmgr-server (--server_bin,
// its gRPC/RocksDB heap), an equal share of --max_pages each. Pages are
// taken in address order as they come (zero pages included: they are
// real).
// Rows, all on the same pages:
//   raw lz4 / raw zstd-1   LZ4_compress_default / ZSTD_compress level 1
//                          and their decompress calls: the limit
//   pool                   EncodePage + ZswapPool::Store, then Load (decode
//                          + crc32c): what the server does per page
//   store (in-process)     SwapStore SwapOut/SwapIn, 256-page batches, on a
//                          temp RocksDB: lz4 + pool vs raw records, no pool
//   loopback SwapIn        one page per call over gRPC on 127.0.0.1 to an
//                          in-process server: pool hit vs RocksDB-only
// Ratio = decoded bytes / encoded bytes (same-filled pages count 8 bytes;
// the pool's ratio also counts its 96-byte per-entry overhead). Targets of
// the compressed-tier issue are printed next to the numbers, never
// asserted. Exits 1 if any page comes back different.
#include <fcntl.h>
#include <lz4.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/client.h"
#include "server/server_runner.h"
#include "server/swap/page_codec.h"
#include "server/swap/rocksdb_slot_storage.h"
#include "server/swap/swap_store.h"
#include "server/zswap/zswap_pool.h"

ABSL_FLAG(int, max_pages, 20000, "corpus size cap (pages)");
ABSL_FLAG(int, loopback_reads, 2000, "single-page SwapIn calls per row");
ABSL_FLAG(std::string, server_bin, MEMMGR_DEFAULT_SERVER_BIN,
          "memmgr-server to start as one of the corpus processes");
ABSL_FLAG(bool, quick, false, "2000 pages, 200 loopback reads (smoke test)");

namespace memmgr {
namespace {

constexpr size_t kPage = 4096;
using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "zswap_bench: %s\n", what.c_str());
  std::exit(1);
}

double Us(Clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

// Starts argv; returns its pid (stdout/stderr to /dev/null).
pid_t Spawn(const std::vector<std::string>& argv) {
  const pid_t pid = fork();
  if (pid < 0) Die("fork failed");
  if (pid == 0) {
    const int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    std::vector<char*> args;
    for (const std::string& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  return pid;
}

// The writable private pages of `pid`, at most `max`.
void ReadPages(pid_t pid, size_t max, std::vector<std::string>* out,
               const std::string& who) {
  std::ifstream maps(absl::StrCat("/proc/", pid, "/maps"));
  const int mem = open(absl::StrCat("/proc/", pid, "/mem").c_str(), O_RDONLY);
  if (!maps || mem < 0) {
    std::fprintf(stderr, "  %s: cannot read its memory, skipped\n",
                 who.c_str());
    if (mem >= 0) close(mem);
    return;
  }
  const size_t before = out->size();
  std::string line;
  while (std::getline(maps, line) && out->size() < max) {
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() < 5 || f[1] != "rw-p") continue;
    const bool heap = f.size() >= 6 && f[5] == "[heap]";
    if (!heap && f.size() >= 6) continue;  // file-backed or [stack] etc.
    const std::vector<std::string> range = absl::StrSplit(f[0], '-');
    uint64_t lo, hi;
    if (!absl::SimpleHexAtoi(range[0], &lo) ||
        !absl::SimpleHexAtoi(range[1], &hi)) {
      continue;
    }
    std::string page(kPage, '\0');
    for (uint64_t a = lo; a < hi && out->size() < max; a += kPage) {
      if (pread(mem, page.data(), kPage, static_cast<off_t>(a)) ==
          static_cast<ssize_t>(kPage)) {
        out->push_back(page);
      }
    }
  }
  close(mem);
  std::fprintf(stderr, "  %s: %zu pages\n", who.c_str(), out->size() - before);
}

struct CodecRow {
  std::string name;
  double ratio = 0;
  double ratio_not_same = 0;  // over the pages that are not same-filled
  double compress_us = 0;     // median per page
  double decompress_us = 0;   // median per page
};

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

CodecRow RawCodec(const std::vector<std::string>& pages, bool zstd) {
  CodecRow r;
  r.name = zstd ? "raw zstd-1" : "raw lz4";
  std::vector<double> c_us, d_us;
  uint64_t in = 0, out_bytes = 0, in_ns = 0, out_ns = 0;
  std::string buf(
      std::max<size_t>(LZ4_compressBound(kPage), ZSTD_compressBound(kPage)),
      '\0');
  std::string back(kPage, '\0');
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  for (const std::string& p : pages) {
    auto t0 = Clock::now();
    size_t n;
    if (zstd) {
      n = ZSTD_compressCCtx(cctx, buf.data(), buf.size(), p.data(), kPage, 1);
    } else {
      n = static_cast<size_t>(LZ4_compress_default(
          p.data(), buf.data(), kPage, static_cast<int>(buf.size())));
    }
    auto t1 = Clock::now();
    if (zstd) {
      ZSTD_decompressDCtx(dctx, back.data(), kPage, buf.data(), n);
    } else {
      LZ4_decompress_safe(buf.data(), back.data(), static_cast<int>(n), kPage);
    }
    auto t2 = Clock::now();
    if (back != p) Die(r.name + ": a page came back different");
    c_us.push_back(Us(t1 - t0));
    d_us.push_back(Us(t2 - t1));
    in += kPage;
    out_bytes += n;
    uint64_t word;
    if (!SameFilled(p, &word)) {
      in_ns += kPage;
      out_ns += n;
    }
  }
  ZSTD_freeCCtx(cctx);
  ZSTD_freeDCtx(dctx);
  r.ratio = static_cast<double>(in) / static_cast<double>(out_bytes);
  r.ratio_not_same = static_cast<double>(in_ns) /
                     static_cast<double>(std::max<uint64_t>(1, out_ns));
  r.compress_us = Median(c_us);
  r.decompress_us = Median(d_us);
  return r;
}

struct PoolRow {
  CodecRow codec;
  double ratio_with_overhead = 0;
  uint64_t stored = 0, same = 0, poor = 0;
  double store_us = 0;  // encode + Store, median
  double load_us = 0;   // Load (decode + crc), median
};

PoolRow Pool(const std::vector<std::string>& pages, Compressor c) {
  PoolRow r;
  r.codec.name = absl::StrCat("pool ", CompressorName(c));
  ZswapPoolOptions o;
  o.max_pool_bytes = uint64_t{1} << 34;  // everything fits
  auto pool = ZswapPool::Create(o);
  if (!pool.ok()) Die(pool.status().ToString());
  EncodeOptions eo;
  eo.compressor = c;
  std::vector<double> s_us, l_us;
  uint64_t encoded = 0;
  for (size_t i = 0; i < pages.size(); ++i) {
    auto t0 = Clock::now();
    EncodedPage e = EncodePage(pages[i], eo);
    encoded += e.payload.size();
    if (e.codec == PageCodec::kSameFilled) ++r.same;
    if (e.compress_poor) ++r.poor;
    (*pool)->Store(i, i + 1, std::move(e));
    s_us.push_back(Us(Clock::now() - t0));
  }
  std::string out(kPage, '\0');
  for (size_t i = 0; i < pages.size(); ++i) {
    auto t0 = Clock::now();
    absl::StatusOr<bool> hit = (*pool)->Load(i, i + 1, out.data());
    l_us.push_back(Us(Clock::now() - t0));
    if (!hit.ok()) Die(hit.status().ToString());
    if (*hit && out != pages[i]) Die("pool: a page came back different");
  }
  const ZswapPool::Stats s = (*pool)->GetStats();
  r.stored = s.stored_pages;
  r.codec.ratio =
      static_cast<double>(pages.size() * kPage) / static_cast<double>(encoded);
  r.ratio_with_overhead =
      static_cast<double>(s.stored_uncompressed_bytes) /
      static_cast<double>(std::max<uint64_t>(1, s.pool_bytes));
  r.store_us = Median(s_us);
  r.load_us = Median(l_us);
  return r;
}

struct StoreRow {
  std::string name;
  double out_pages_per_s = 0;
  double in_pages_per_s = 0;
  uint64_t from_pool = 0;
};

StoreRow Store(const std::vector<std::string>& pages, const std::string& dir,
               Compressor c, uint64_t pool_bytes, const std::string& name) {
  auto storage = RocksDbSlotStorage::Open(dir);
  if (!storage.ok()) Die(storage.status().ToString());
  SwapStoreOptions o;
  o.capacity_pages = pages.size() + 1024;
  o.compressor = c;
  o.zswap_max_pool_bytes = pool_bytes;
  o.lease_ttl = absl::Hours(1);
  auto store = SwapStore::Open(o, *std::move(storage));
  if (!store.ok()) Die(store.status().ToString());
  v1::RegisterWorkerRequest reg;
  reg.set_node_name("zswap-bench");
  reg.set_frame_capacity_pages(1 << 20);
  auto lease = (*store)->RegisterLease(reg);
  if (!lease.ok()) Die(lease.status().ToString());
  std::vector<SwapEntry> entries;
  auto t0 = Clock::now();
  for (size_t b = 0; b < pages.size(); b += 256) {
    const size_t n = std::min<size_t>(256, pages.size() - b);
    std::vector<absl::string_view> views(pages.begin() + b,
                                         pages.begin() + b + n);
    auto e = (*store)->SwapOut(lease->lease_id, views);
    if (!e.ok()) Die(e.status().ToString());
    entries.insert(entries.end(), e->begin(), e->end());
  }
  const double out_s = Us(Clock::now() - t0) / 1e6;
  t0 = Clock::now();
  std::vector<std::string> back;
  for (size_t b = 0; b < entries.size(); b += 256) {
    const size_t n = std::min<size_t>(256, entries.size() - b);
    absl::Status s = (*store)->SwapIn(
        lease->lease_id, absl::MakeSpan(entries).subspan(b, n), &back);
    if (!s.ok()) Die(s.ToString());
    for (size_t i = 0; i < n; ++i) {
      if (back[i] != pages[b + i]) Die(name + ": a page came back different");
    }
  }
  const double in_s = Us(Clock::now() - t0) / 1e6;
  StoreRow r;
  r.name = name;
  r.out_pages_per_s = static_cast<double>(pages.size()) / out_s;
  r.in_pages_per_s = static_cast<double>(pages.size()) / in_s;
  r.from_pool = (*store)->GetStats().swap_in_zswap_pages;
  return r;
}

struct LoopRow {
  std::string name;
  double p50 = 0, p99 = 0;
};

LoopRow Loopback(const std::vector<std::string>& pages, const std::string& dir,
                 bool pool, int reads) {
  ServerConfig sc;
  sc.listen = "127.0.0.1:0";
  sc.data_dir = dir;
  sc.metrics_listen = "";
  sc.zswap_compressor = pool ? "lz4" : "none";
  sc.zswap_max_pool_bytes = pool ? uint64_t{1} << 30 : 0;
  auto server = ServerRunner::Start(sc);
  if (!server.ok()) Die(server.status().ToString());
  ClientOptions co;
  co.target = absl::StrCat("127.0.0.1:", (*server)->port());
  auto client = Client::Create(co);
  if (!client.ok()) Die(client.status().ToString());
  v1::RegisterWorkerRequest reg;
  reg.set_node_name("zswap-bench");
  reg.set_frame_capacity_pages(1 << 20);
  auto lease = (*client)->RegisterWorker(reg);
  if (!lease.ok()) Die(lease.status().ToString());
  // Compressible pages only (the pool refuses the others).
  std::vector<std::string> batch;
  EncodeOptions eo;
  for (const std::string& p : pages) {
    if (batch.size() == 256) break;
    if (!EncodePage(p, eo).compress_poor) batch.push_back(p);
  }
  auto e = (*client)->SwapOut(lease->lease_id(), batch);
  if (!e.ok()) Die(e.status().ToString());
  std::vector<double> us;
  for (int i = 0; i < reads; ++i) {
    const size_t k = static_cast<size_t>(i) % e->size();
    auto t0 = Clock::now();
    auto back = (*client)->SwapIn(lease->lease_id(), {(*e)[k]});
    us.push_back(Us(Clock::now() - t0));
    if (!back.ok()) Die(back.status().ToString());
    if ((*back)[0] != batch[k]) Die("loopback: a page came back different");
  }
  (*server)->Shutdown(absl::Seconds(2));
  LoopRow r;
  r.name = pool ? "pool hit (lz4)" : "RocksDB only (raw)";
  r.p50 = Median(us);
  r.p99 = Percentile(us, 0.99);
  return r;
}

const char* Verdict(bool ok) { return ok ? "MET" : "NOT MET"; }

int Main() {
  const bool quick = absl::GetFlag(FLAGS_quick);
  const size_t max =
      quick ? 2000 : static_cast<size_t>(absl::GetFlag(FLAGS_max_pages));
  const int reads = quick ? 200 : absl::GetFlag(FLAGS_loopback_reads);

  char templ[] = "/tmp/zswap-bench-XXXXXX";
  if (mkdtemp(templ) == nullptr) Die("mkdtemp failed");
  const std::string tmp = templ;

  // The corpus processes; each gets a moment to build its data.
  struct Proc {
    std::string who;
    std::vector<std::string> argv;
  };
  std::vector<Proc> procs = {
      {"bash (array of 300k numbers)",
       {"bash", "-c", "a=($(seq 1 300000)); sleep 60"}},
      {"awk (300k-entry map)",
       {"awk",
        "BEGIN{for(i=0;i<300000;i++) m[i]=\"key-\" i; "
        "system(\"sleep 60\")}"}},
  };
  if (access("/usr/bin/python3", X_OK) == 0) {
    procs.push_back({"python3 (dict of 200k strings)",
                     {"/usr/bin/python3", "-c",
                      "import time\nd={i: 'value-%d' % i for i in "
                      "range(200000)}\ntime.sleep(60)"}});
  }
  const std::string server_bin = absl::GetFlag(FLAGS_server_bin);
  if (access(server_bin.c_str(), X_OK) == 0) {
    procs.push_back({"memmgr-server (idle)",
                     {server_bin, "--data_dir=" + tmp + "/corpus-server",
                      "--listen=127.0.0.1:0", "--metrics_listen="}});
  }
  std::vector<pid_t> pids;
  for (const Proc& p : procs) pids.push_back(Spawn(p.argv));
  std::this_thread::sleep_for(std::chrono::seconds(4));
  std::fprintf(stderr, "corpus:\n");
  std::vector<std::string> pages;
  // An equal share each; what one process lacks, the next may fill.
  for (size_t i = 0; i < procs.size(); ++i) {
    const size_t share = (max - pages.size()) / (procs.size() - i);
    ReadPages(pids[i], pages.size() + share, &pages, procs[i].who);
  }
  for (pid_t pid : pids) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  if (pages.size() < 100) Die("corpus too small");

  const CodecRow lz4 = RawCodec(pages, false);
  const CodecRow zstd = RawCodec(pages, true);
  const PoolRow pool_lz4 = Pool(pages, Compressor::kLz4);
  const PoolRow pool_zstd = Pool(pages, Compressor::kZstd);
  const StoreRow with = Store(pages, tmp + "/store-zswap", Compressor::kLz4,
                              uint64_t{1} << 30, "lz4 + pool");
  const StoreRow without = Store(pages, tmp + "/store-raw", Compressor::kNone,
                                 0, "raw, no pool (before)");
  const LoopRow hit = Loopback(pages, tmp + "/loop-pool", true, reads);
  const LoopRow miss = Loopback(pages, tmp + "/loop-raw", false, reads);
  std::filesystem::remove_all(tmp);

  std::printf("zswap_bench: %zu pages of real process memory\n\n",
              pages.size());
  std::printf(
      "| codec          | ratio | ratio w/o same-filled | compress us/page "
      "(p50) | decompress us/page (p50) |\n");
  std::printf(
      "|----------------|------:|----------------------:|-----------------"
      "------:|-------------------------:|\n");
  for (const CodecRow& r : {lz4, zstd}) {
    std::printf("| %-14s | %5.2f | %21.2f | %22.2f | %24.2f |\n",
                r.name.c_str(), r.ratio, r.ratio_not_same, r.compress_us,
                r.decompress_us);
  }
  std::printf(
      "\n| pool           | ratio | with overhead | pooled | same-filled | "
      "poor (raw) | encode+Store us (p50) | Load us (p50) |\n");
  std::printf(
      "|----------------|------:|--------------:|-------:|------------:|-------"
      "----:|----------------------:|--------------:|\n");
  for (const PoolRow& r : {pool_lz4, pool_zstd}) {
    std::printf(
        "| %-14s | %5.2f | %13.2f | %6llu | %11llu | %10llu | %21.2f | %13.2f "
        "|\n",
        r.codec.name.c_str(), r.codec.ratio, r.ratio_with_overhead,
        static_cast<unsigned long long>(r.stored),
        static_cast<unsigned long long>(r.same),
        static_cast<unsigned long long>(r.poor), r.store_us, r.load_us);
  }
  std::printf(
      "\n| store (in-process, 256-page batches) | SwapOut pages/s | SwapIn "
      "pages/s | from the pool |\n");
  std::printf(
      "|--------------------------------------|----------------:|--------------"
      "-:|--------------:|\n");
  for (const StoreRow& r : {with, without}) {
    std::printf("| %-36s | %15.0f | %14.0f | %13llu |\n", r.name.c_str(),
                r.out_pages_per_s, r.in_pages_per_s,
                static_cast<unsigned long long>(r.from_pool));
  }
  std::printf("\n| loopback SwapIn, 1 page per call | p50 us | p99 us |\n");
  std::printf("|----------------------------------|-------:|-------:|\n");
  for (const LoopRow& r : {hit, miss}) {
    std::printf("| %-32s | %6.1f | %6.1f |\n", r.name.c_str(), r.p50, r.p99);
  }
  const double raw_us = lz4.compress_us + lz4.decompress_us;
  const double pool_us = pool_lz4.store_us + pool_lz4.load_us;
  const double overhead = pool_us / raw_us - 1;
  std::printf("\ntargets (compressed-tier issue)\n");
  std::printf("  ratio with lz4 >= 2.6: raw lz4 %.2f, pool %.2f  %s\n",
              lz4.ratio, pool_lz4.codec.ratio,
              Verdict(pool_lz4.codec.ratio >= 2.6));
  std::printf("  decompress <= 2 us/page: lz4 %.2f us, pool Load %.2f us  %s\n",
              lz4.decompress_us, pool_lz4.load_us,
              Verdict(pool_lz4.load_us <= 2.0));
  std::printf("  pool-hit SwapIn over loopback p50 <= 50 us: %.1f us  %s\n",
              hit.p50, Verdict(hit.p50 <= 50));
  std::printf(
      "  overhead vs raw lz4 <= 20%%: pool %.2f us vs raw %.2f us per page = "
      "%+.0f%%  %s\n",
      pool_us, raw_us, overhead * 100, Verdict(overhead <= 0.20));
  return 0;
}

}  // namespace
}  // namespace memmgr

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "zswap_bench: the compressed tier on real process memory (see the "
      "header of bench/zswap_bench.cc)");
  absl::ParseCommandLine(argc, argv);
  return memmgr::Main();
}
