// mmu_bench: the software MMU's per-access and per-fault costs (Google
// Benchmark), each beside its host baseline measured in the same run, then
// a summary table of the targets with the ratios.
//
//   mmu_bench [--benchmark_filter=...] [--benchmark_repetitions=N]
//             [--benchmark_min_time=0.5] [--quick]
//
// Pairs (ns per access / per page):
//   TlbHitLoad/TlbHitStore      vs RawLoad/RawStore     8-byte accesses to one
//                                                       resident page (TLB
//                                                       hits)
//   SeqRmw256M                  vs RawSeqRmw256M        sequential read-modify-
//                                                       write over 256 MiB
//   RandomRmw256M               vs RawRandomRmw256M     random
//   read-modify-write
//                                                       over 256 MiB
//   ZeroFillReadFault, AnonFirstWriteFault, AnonFirstWritePrezeroed
//                               vs LinuxFirstTouch      a fault per page vs
//                                                       mmap + write per page
//                                                       (Prezeroed: free
//                                                       frames zeroed between
//                                                       rounds, untimed, as
//                                                       the idle zeroer does)
//   PageTableWalk               TLB miss on a resident page: walk + refill
//
// --quick runs every benchmark briefly (a smoke test for ctest); its numbers
// mean nothing.
#include <benchmark/benchmark.h>
#include <sys/mman.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "worker/mmu/address_space.h"

namespace memmgr::mmu {
namespace {

constexpr GuestAddr kBase = 0x10000000;
constexpr uint64_t k256M = 256ull << 20;

struct Fixture {
  std::unique_ptr<FramePool> pool;
  std::unique_ptr<AddressSpace> mm;
};

// Background zeroing is off: a row that wants pre-zeroed frames zeroes
// them itself between timed rounds (what the zeroer thread does on idle
// CPU), so no row depends on how idle the other core happens to be.
Fixture MakeFixture(uint64_t pool_bytes, AddressSpace::Options options = {}) {
  FramePool::Options po;
  po.bytes = pool_bytes;
  po.background_zeroing = false;
  Fixture f;
  f.pool = std::move(*FramePool::Create(po));
  f.mm = std::move(*AddressSpace::Create(f.pool.get(), options));
  return f;
}

// Maps [kBase, kBase+bytes) read-write and writes every page once.
void MapResident(Fixture& f, uint64_t bytes) {
  if (!f.mm->Mmap(kBase, bytes, kProtRead | kProtWrite, kMapFixed).ok()) {
    std::abort();
  }
  Fault fault;
  for (uint64_t off = 0; off < bytes; off += kPageSize) {
    if (!f.mm->Write<uint64_t>(kBase + off, off, &fault)) std::abort();
  }
}

void PerAccess(benchmark::State& state, uint64_t accesses) {
  state.counters["ns_per_op"] = benchmark::Counter(
      static_cast<double>(accesses),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// ---- TLB-hit loads and stores ----
void BM_TlbHitLoad(benchmark::State& state) {
  Fixture f = MakeFixture(16 << 20);
  MapResident(f, kPageSize);
  Fault fault;
  uint64_t sum = 0, n = 0;
  for (auto _ : state) {
    for (uint64_t off = 0; off < kPageSize; off += 8) {
      uint64_t v;
      f.mm->Read(kBase + off, &v, &fault);
      sum += v;
    }
    n += kPageSize / 8;
  }
  benchmark::DoNotOptimize(sum);
  PerAccess(state, n);
}
BENCHMARK(BM_TlbHitLoad);

void BM_RawLoad(benchmark::State& state) {
  std::vector<uint64_t> page(kPageSize / 8, 1);
  uint64_t* p = page.data();
  benchmark::DoNotOptimize(p);
  uint64_t sum = 0, n = 0;
  for (auto _ : state) {
    for (uint64_t i = 0; i < kPageSize / 8; ++i) {
      uint64_t v;
      std::memcpy(&v, reinterpret_cast<uint8_t*>(p) + i * 8, 8);
      sum += v;
    }
    benchmark::ClobberMemory();
    n += kPageSize / 8;
  }
  benchmark::DoNotOptimize(sum);
  PerAccess(state, n);
}
BENCHMARK(BM_RawLoad);

void BM_TlbHitStore(benchmark::State& state) {
  Fixture f = MakeFixture(16 << 20);
  MapResident(f, kPageSize);
  Fault fault;
  uint64_t n = 0;
  for (auto _ : state) {
    for (uint64_t off = 0; off < kPageSize; off += 8) {
      f.mm->Write<uint64_t>(kBase + off, off, &fault);
    }
    n += kPageSize / 8;
  }
  PerAccess(state, n);
}
BENCHMARK(BM_TlbHitStore);

void BM_RawStore(benchmark::State& state) {
  std::vector<uint64_t> page(kPageSize / 8, 1);
  uint8_t* p = reinterpret_cast<uint8_t*>(page.data());
  benchmark::DoNotOptimize(p);
  uint64_t n = 0;
  for (auto _ : state) {
    for (uint64_t off = 0; off < kPageSize; off += 8) {
      std::memcpy(p + off, &off, 8);
    }
    benchmark::ClobberMemory();
    n += kPageSize / 8;
  }
  PerAccess(state, n);
}
BENCHMARK(BM_RawStore);

// ---- 256 MiB sequential and random read-modify-write ----
inline uint64_t XorShift(uint64_t& x) {
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return x;
}

void BM_SeqRmw256M(benchmark::State& state) {
  Fixture f = MakeFixture(k256M + (32 << 20));
  MapResident(f, k256M);
  Fault fault;
  uint64_t n = 0;
  for (auto _ : state) {
    for (uint64_t off = 0; off < k256M; off += 8) {
      uint64_t v;
      f.mm->Read(kBase + off, &v, &fault);
      f.mm->Write<uint64_t>(kBase + off, v + 1, &fault);
    }
    n += k256M / 8;
  }
  PerAccess(state, n);
}
BENCHMARK(BM_SeqRmw256M)->Unit(benchmark::kMillisecond);

void BM_RawSeqRmw256M(benchmark::State& state) {
  std::vector<uint64_t> mem(k256M / 8, 1);
  uint64_t* p = mem.data();
  benchmark::DoNotOptimize(p);
  uint64_t n = 0;
  for (auto _ : state) {
    for (uint64_t i = 0; i < k256M / 8; ++i) p[i] += 1;
    benchmark::ClobberMemory();
    n += k256M / 8;
  }
  PerAccess(state, n);
}
BENCHMARK(BM_RawSeqRmw256M)->Unit(benchmark::kMillisecond);

constexpr uint64_t kRandomAccesses = 4 << 20;

void BM_RandomRmw256M(benchmark::State& state) {
  Fixture f = MakeFixture(k256M + (32 << 20));
  MapResident(f, k256M);
  Fault fault;
  uint64_t x = 88172645463325252ull, n = 0;
  for (auto _ : state) {
    for (uint64_t i = 0; i < kRandomAccesses; ++i) {
      GuestAddr va = kBase + ((XorShift(x) & (k256M - 1)) & ~7ull);
      uint64_t v;
      f.mm->Read(va, &v, &fault);
      f.mm->Write<uint64_t>(va, v + 1, &fault);
    }
    n += kRandomAccesses;
  }
  PerAccess(state, n);
}
BENCHMARK(BM_RandomRmw256M)->Unit(benchmark::kMillisecond);

void BM_RawRandomRmw256M(benchmark::State& state) {
  std::vector<uint64_t> mem(k256M / 8, 1);
  uint8_t* p = reinterpret_cast<uint8_t*>(mem.data());
  benchmark::DoNotOptimize(p);
  uint64_t x = 88172645463325252ull, n = 0;
  for (auto _ : state) {
    for (uint64_t i = 0; i < kRandomAccesses; ++i) {
      uint64_t off = (XorShift(x) & (k256M - 1)) & ~7ull;
      uint64_t v;
      std::memcpy(&v, p + off, 8);
      v += 1;
      std::memcpy(p + off, &v, 8);
    }
    benchmark::ClobberMemory();
    n += kRandomAccesses;
  }
  PerAccess(state, n);
}
BENCHMARK(BM_RawRandomRmw256M)->Unit(benchmark::kMillisecond);

// ---- Faults (manual time: only the touching loop is timed) ----
constexpr uint64_t kFaultPages = 4096;  // 16 MiB per round

// prezeroed: before each timed round, zero the free frames (untimed), as
// the background zeroer does on idle CPU; otherwise every free frame is
// dirty and a first write zeroes its frame on the fault path.
void FaultBench(benchmark::State& state, Access access, bool prezeroed) {
  Fixture f = MakeFixture(64 << 20);
  // Warm the whole arena once so frames are host-backed and dirty: we
  // measure our fault path, not the host's first touch of the arena (a
  // fresh arena's frames would also count as pre-zeroed).
  {
    std::vector<Pfn> all;
    for (Pfn p;
         (p = f.pool->Alloc(FramePool::AllocMode::kReserve)) != kNoPfn;) {
      std::memset(f.pool->FrameAddress(p), 1, kPageSize);
      all.push_back(p);
    }
    for (Pfn p : all) f.pool->PutPage(p);
  }
  Fault fault;
  uint64_t pages = 0;
  for (auto _ : state) {
    if (prezeroed) f.pool->ZeroFreeFramesForTest(UINT64_MAX);
    if (!f.mm->Mmap(kBase, kFaultPages * kPageSize, kProtRead | kProtWrite,
                    kMapFixed)
             .ok()) {
      std::abort();
    }
    auto start = std::chrono::steady_clock::now();
    uint64_t sum = 0;
    for (uint64_t i = 0; i < kFaultPages; ++i) {
      GuestAddr va = kBase + i * kPageSize;
      if (access == Access::kWrite) {
        f.mm->Write<uint64_t>(va, i, &fault);
      } else {
        uint64_t v;
        f.mm->Read(va, &v, &fault);
        sum += v;
      }
    }
    auto end = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(sum);
    state.SetIterationTime(std::chrono::duration<double>(end - start).count());
    if (!f.mm->Munmap(kBase, kFaultPages * kPageSize).ok()) std::abort();
    pages += kFaultPages;
  }
  PerAccess(state, pages);
}

void BM_ZeroFillReadFault(benchmark::State& state) {
  FaultBench(state, Access::kRead, /*prezeroed=*/false);
}
BENCHMARK(BM_ZeroFillReadFault)->UseManualTime();

void BM_AnonFirstWriteFault(benchmark::State& state) {
  FaultBench(state, Access::kWrite, /*prezeroed=*/false);
}
BENCHMARK(BM_AnonFirstWriteFault)->UseManualTime();

void BM_AnonFirstWritePrezeroed(benchmark::State& state) {
  FaultBench(state, Access::kWrite, /*prezeroed=*/true);
}
BENCHMARK(BM_AnonFirstWritePrezeroed)->UseManualTime();

void BM_LinuxFirstTouch(benchmark::State& state) {
  const uint64_t bytes = kFaultPages * kPageSize;
  uint64_t pages = 0;
  for (auto _ : state) {
    void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) std::abort();
    auto* p = static_cast<volatile uint8_t*>(mem);
    auto start = std::chrono::steady_clock::now();
    for (uint64_t off = 0; off < bytes; off += kPageSize) p[off] = 1;
    auto end = std::chrono::steady_clock::now();
    state.SetIterationTime(std::chrono::duration<double>(end - start).count());
    munmap(mem, bytes);
    pages += kFaultPages;
  }
  PerAccess(state, pages);
}
BENCHMARK(BM_LinuxFirstTouch)->UseManualTime();

// TLB miss on resident pages: stride one page over more pages than the TLB
// holds (pinned at 1024 entries here, so it cannot grow), so every access
// walks the page table and refills an entry.
void BM_PageTableWalk(benchmark::State& state) {
  AddressSpace::Options o;
  o.tlb_entries = o.tlb_max_entries = 1024;
  Fixture f = MakeFixture(64 << 20, o);
  const uint64_t pages = 8192;  // 8x the TLB
  MapResident(f, pages * kPageSize);
  Fault fault;
  uint64_t n = 0, sum = 0;
  for (auto _ : state) {
    for (uint64_t i = 0; i < pages; ++i) {
      uint64_t v;
      f.mm->Read(kBase + i * kPageSize, &v, &fault);
      sum += v;
    }
    n += pages;
  }
  benchmark::DoNotOptimize(sum);
  PerAccess(state, n);
}
BENCHMARK(BM_PageTableWalk);

// Collects ns_per_op of every run for the summary table: the median
// aggregate when --benchmark_repetitions > 1, else the (last) plain run.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      auto it = r.counters.find("ns_per_op");
      if (it == r.counters.end()) continue;
      std::string name = r.run_name.function_name;
      if (r.run_type == Run::RT_Aggregate) {
        if (r.aggregate_name == "median")
          medians_[name] = it->second.value * 1e9;
      } else {
        ns_[name] = it->second.value * 1e9;
      }
    }
  }
  double Ns(const std::string& name) const {
    auto m = medians_.find(name);
    if (m != medians_.end()) return m->second;
    auto it = ns_.find(name);
    return it == ns_.end() ? 0 : it->second;
  }

 private:
  std::map<std::string, double> ns_, medians_;
};

void PrintSummary(const SummaryReporter& r) {
  struct Row {
    const char* what;
    const char* ours;
    const char* base;
    const char* target;
    bool speedup;  // print baseline/memmgr as "N x faster"
  };
  const Row rows[] = {
      {"TLB-hit load (ns/access)", "BM_TlbHitLoad", "BM_RawLoad", "<= 2 ns",
       false},
      {"TLB-hit store (ns/access)", "BM_TlbHitStore", "BM_RawStore", "<= 2 ns",
       false},
      {"sequential RMW 256 MiB", "BM_SeqRmw256M", "BM_RawSeqRmw256M", "-",
       false},
      {"random RMW 256 MiB", "BM_RandomRmw256M", "BM_RawRandomRmw256M",
       "<= 2x raw", false},
      {"zero-fill read fault (ns/page)", "BM_ZeroFillReadFault",
       "BM_LinuxFirstTouch", "<= 300 ns, >= 30x faster", true},
      {"anon first-write fault (ns/page)", "BM_AnonFirstWriteFault",
       "BM_LinuxFirstTouch", "<= 300 ns, >= 30x faster", true},
      {"  ... with pre-zeroed frames", "BM_AnonFirstWritePrezeroed",
       "BM_LinuxFirstTouch", "<= 300 ns, >= 30x faster", true},
      {"page-table walk on TLB miss", "BM_PageTableWalk", "", "-", false},
  };
  std::printf("\n%-34s %10s %10s %8s  %s\n", "measure", "memmgr", "baseline",
              "ratio", "target");
  for (const Row& row : rows) {
    double ours = r.Ns(row.ours);
    double base = row.base[0] ? r.Ns(row.base) : 0;
    if (base > 0 && ours > 0 && row.speedup) {
      std::printf("%-34s %8.2fns %8.2fns %5.1fx faster  %s\n", row.what, ours,
                  base, base / ours, row.target);
    } else if (base > 0) {
      std::printf("%-34s %8.2fns %8.2fns %7.2fx  %s\n", row.what, ours, base,
                  ours / base, row.target);
    } else {
      std::printf("%-34s %8.2fns %10s %8s  %s\n", row.what, ours, "", "",
                  row.target);
    }
  }
  std::printf(
      "(ratio = memmgr / baseline; faults: Linux first touch / memmgr)\n");
}

}  // namespace
}  // namespace memmgr::mmu

int main(int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  bool quick = false;
  for (auto it = args.begin(); it != args.end();) {
    if (std::strcmp(*it, "--quick") == 0) {
      quick = true;
      it = args.erase(it);
    } else {
      ++it;
    }
  }
  static char min_time[] = "--benchmark_min_time=0.01";
  if (quick) args.push_back(min_time);
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 2;
  memmgr::mmu::SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  memmgr::mmu::PrintSummary(reporter);
  benchmark::Shutdown();
  return 0;
}
