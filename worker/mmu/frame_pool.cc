#include "worker/mmu/frame_pool.h"

#include <numa.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/byte_size.h"
#include "common/logging.h"
#include "worker/mmu/reclaim.h"

namespace memmgr::mmu {

Watermarks ComputeWatermarks(uint64_t frames, uint64_t min_override) {
  Watermarks wm;
  if (min_override > 0) {
    wm.min = min_override;
  } else {
    // mm/page_alloc.c: min_free_kbytes = sqrt(lowmem_kbytes * 16), clamped
    // to [128 KiB, 256 MiB]. A sandbox pool is much smaller than a host, so
    // also cap the reserve at 1/32 of the pool (it must not eat the pool).
    const double pool_kb = static_cast<double>(frames) * (kPageSize / 1024);
    double min_kb = std::sqrt(pool_kb * 16.0);
    min_kb = std::clamp(min_kb, 128.0, 262144.0);
    wm.min = static_cast<uint64_t>(min_kb) / (kPageSize / 1024);
    wm.min = std::min<uint64_t>(wm.min, frames / 32);
    wm.min = std::max<uint64_t>(wm.min, 1);
  }
  wm.low = wm.min + wm.min / 4;
  wm.high = wm.min + wm.min / 2;
  return wm;
}

absl::StatusOr<std::unique_ptr<FramePool>> FramePool::Create(
    const Options& options) {
  const uint64_t frames = options.bytes / kPageSize;
  if (frames < kMinFrames) {
    return absl::InvalidArgumentError(absl::StrCat(
        "frame pool of ", options.bytes, " bytes is too small: need at least ",
        FormatByteSize(kMinFrames * kPageSize)));
  }
  if (frames > (uint64_t{1} << 32) - 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("frame pool of ", FormatByteSize(options.bytes),
                     " is too large: at most 2^32-1 frames (16T)"));
  }
  int node = -1;
  if (options.numa_node >= 0) {
    if (numa_available() < 0) {
      MEMMGR_LOG(WARNING) << "NUMA node " << options.numa_node
                          << " requested but this host has no NUMA support; "
                             "the frame pool is not bound";
    } else if (options.numa_node > numa_max_node()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "NUMA node ", options.numa_node,
          " does not exist: this host has nodes 0..", numa_max_node()));
    } else {
      node = options.numa_node;
    }
  }
  const uint64_t bytes = frames * kPageSize;
  void* arena = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (arena == MAP_FAILED) {
    return absl::ResourceExhaustedError(
        absl::StrCat("mmap of a ", FormatByteSize(bytes),
                     " frame pool failed: ", std::strerror(errno)));
  }
  // Bind before anything touches the arena, so every frame is placed on the
  // node when first faulted in.
  if (node >= 0) numa_tonode_memory(arena, bytes, node);
  // The arena is the guests' physical memory: back it with transparent huge
  // pages where the host allows, so guest accesses that miss our soft TLB
  // do not also miss the host's TLB (what KVM/QEMU do for guest RAM). Only a
  // hint; failure (THP disabled) is harmless.
  if (options.transparent_hugepages) madvise(arena, bytes, MADV_HUGEPAGE);
  // The zero page: read-only in the host as well.
  if (mprotect(arena, kPageSize, PROT_READ) != 0) {
    munmap(arena, bytes);
    return absl::InternalError(
        absl::StrCat("mprotect of the zero page: ", std::strerror(errno)));
  }
  Watermarks wm = ComputeWatermarks(frames, options.min_free_frames);
  if (wm.high >= frames - 1) {
    munmap(arena, bytes);
    return absl::InvalidArgumentError(absl::StrCat(
        "min_free_frames ", options.min_free_frames,
        " leaves no usable frames above the high watermark in a pool of ",
        frames));
  }
  auto pool = std::unique_ptr<FramePool>(
      new FramePool(static_cast<uint8_t*>(arena), frames, node, wm));
  if (options.background_zeroing) {
    pool->zeroer_ = std::thread([p = pool.get()] { p->ZeroerLoop(); });
  }
  return pool;
}

FramePool::FramePool(uint8_t* arena, uint64_t frames, int numa_node,
                     Watermarks wm)
    : arena_(arena),
      total_frames_(frames),
      numa_node_(numa_node),
      watermarks_(wm),
      descriptors_(new PageDescriptor[frames]) {
  PageDescriptor& zero = descriptors_[kZeroPfn];
  zero.refcount.store(1);
  zero.SetFlag(kPgReserved);
  MutexLock l(&free_mu_);
  free_list_.reserve(frames - 1);
  zeroed_list_.reserve(frames - 1);
  // A fresh anonymous mapping reads as zeros: every frame starts on the
  // zeroed list. Pop from the back: hand out low frames first (easier to
  // read in tests).
  for (uint64_t pfn = frames - 1; pfn > kZeroPfn; --pfn) {
    zeroed_list_.push_back(static_cast<Pfn>(pfn));
  }
  zeroed_free_.store(frames - 1);
  free_frames_.store(frames - 1);
}

FramePool::~FramePool() {
  StopZeroer();
  munmap(arena_, total_frames_ * kPageSize);
}

void FramePool::StopZeroer() {
  if (!zeroer_.joinable()) return;
  {
    MutexLock l(&free_mu_);
    zeroer_stop_ = true;
  }
  zeroer_cv_.SignalAll();
  zeroer_.join();
}

void FramePool::ZeroerLoop() {
  // Only idle CPU: an executor thread always wins over the zeroer.
  sched_param param{};
  pthread_setschedparam(pthread_self(), SCHED_IDLE, &param);
  free_mu_.Lock();
  while (!zeroer_stop_) {
    free_mu_.Unlock();
    const uint64_t n = ZeroBatch();
    free_mu_.Lock();
    if (n == 0 && !zeroer_stop_) {
      // Nothing to do (or memory is tight): look again later. Frees do not
      // signal; polling every 50 ms costs nothing and keeps the free path
      // short.
      zeroer_cv_.WaitWithTimeout(&free_mu_, absl::Milliseconds(50));
    }
  }
  free_mu_.Unlock();
}

uint64_t FramePool::ZeroBatch() {
  std::array<Pfn, kCacheBatch> batch;
  uint32_t n = 0;
  {
    MutexLock g(&free_mu_);
    // Only while well above the high watermark: the frames in our hands
    // stay counted as free (the count is exact), and an allocation that
    // finds every list empty waits for them (AllocFromShards).
    if (free_list_.empty() || free_frames_.load(std::memory_order_relaxed) <
                                  watermarks_.high + 3 * kCacheBatch) {
      return 0;
    }
    while (n < kCacheBatch && !free_list_.empty()) {
      batch[n++] = free_list_.back();
      free_list_.pop_back();
    }
    zeroing_ += n;
  }
  for (uint32_t i = 0; i < n; ++i) {
    std::memset(FrameAddress(batch[i]), 0, kPageSize);
  }
  {
    MutexLock g(&free_mu_);
    for (uint32_t i = 0; i < n; ++i) zeroed_list_.push_back(batch[i]);
    zeroing_ -= n;
  }
  zeroed_free_.fetch_add(n, std::memory_order_relaxed);
  background_zeroed_.fetch_add(n, std::memory_order_relaxed);
  return n;
}

uint64_t FramePool::ZeroFreeFramesForTest(uint64_t max) {
  DrainAllShards();
  uint64_t done = 0;
  while (done < max) {
    const uint64_t n = ZeroBatch();
    if (n == 0) break;
    done += n;
  }
  return done;
}

FramePool::CacheShard& FramePool::MyShard() {
  static std::atomic<uint32_t> next_thread{0};
  thread_local const uint32_t index =
      next_thread.fetch_add(1, std::memory_order_relaxed);
  return shards_[index % kShards];
}

Pfn FramePool::Alloc(AllocMode mode) {
  bool zero;
  return AllocInternal(mode, /*want_zero=*/false, &zero);
}

Pfn FramePool::AllocInternal(AllocMode mode, bool want_zero, bool* zero) {
  // Reserve a frame in the counter first. free_frames_ never exceeds the
  // frames actually on the lists (frees count after the push), so a
  // successful reservation guarantees a frame exists somewhere.
  uint64_t free = free_frames_.load(std::memory_order_relaxed);
  do {
    if (free == 0) {
      empty_failures_.fetch_add(1, std::memory_order_relaxed);
      return kNoPfn;
    }
    if (mode == AllocMode::kNormal && free <= watermarks_.min) {
      pressure_failures_.fetch_add(1, std::memory_order_relaxed);
      return kNoPfn;
    }
  } while (!free_frames_.compare_exchange_weak(
      free, free - 1, std::memory_order_acquire, std::memory_order_relaxed));
  Pfn pfn = AllocFromShards(want_zero, zero);
  PageDescriptor& d = descriptors_[pfn];
  MEMMGR_DCHECK(d.refcount.load() == 0) << "allocated a referenced frame";
  d.refcount.store(1, std::memory_order_relaxed);
  d.mapcount.store(0, std::memory_order_relaxed);
  d.flags.store(0, std::memory_order_relaxed);
  d.private_data = 0;
  allocs_.fetch_add(1, std::memory_order_relaxed);
  return pfn;
}

Pfn FramePool::AllocFromShards(bool want_zero, bool* zero) {
  CacheShard& shard = MyShard();
  for (int attempt = 0;; ++attempt) {
    {
      MutexLock l(&shard.mu);
      // Refill each stack from its shared list when empty.
      auto take_dirty = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu) {
        if (shard.count == 0) {
          MutexLock g(&free_mu_);
          while (shard.count < kCacheBatch && !free_list_.empty()) {
            shard.frames[shard.count++] = free_list_.back();
            free_list_.pop_back();
          }
        }
        return shard.count > 0;
      };
      auto take_zeroed = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu) {
        if (shard.zcount == 0) {
          MutexLock g(&free_mu_);
          while (shard.zcount < kCacheBatch && !zeroed_list_.empty()) {
            shard.zeroed[shard.zcount++] = zeroed_list_.back();
            zeroed_list_.pop_back();
          }
        }
        return shard.zcount > 0;
      };
      // Zeroed frames for AllocZeroed; dirty ones for everybody else (a
      // plain Alloc must not use up the zeroed ones while dirty ones exist).
      if (want_zero ? take_zeroed() : !take_dirty() && take_zeroed()) {
        *zero = true;
        zeroed_free_.fetch_sub(1, std::memory_order_relaxed);
        return shard.zeroed[--shard.zcount];
      }
      if (take_dirty()) {
        *zero = false;
        return shard.frames[--shard.count];
      }
    }
    // Our reserved frame sits in another thread's cache, or in the
    // zeroer's hands for a moment.
    bool zeroing;
    {
      MutexLock g(&free_mu_);
      zeroing = zeroing_ > 0;
    }
    if (zeroing) {
      std::this_thread::yield();
      --attempt;
      continue;
    }
    MEMMGR_CHECK(attempt < 1000)
        << "free frame count says a frame exists but no list has one";
    DrainAllShards();
  }
}

Pfn FramePool::AllocZeroed(AllocMode mode) {
  bool zero = false;
  Pfn pfn = AllocInternal(mode, /*want_zero=*/true, &zero);
  if (pfn == kNoPfn) return pfn;
  if (zero) {
    zeroed_allocs_.fetch_add(1, std::memory_order_relaxed);
  } else {
    std::memset(FrameAddress(pfn), 0, kPageSize);
  }
  return pfn;
}

void FramePool::PutPage(Pfn pfn) {
  PageDescriptor& d = descriptors_[pfn];
  uint32_t before = d.refcount.fetch_sub(1, std::memory_order_acq_rel);
  MEMMGR_DCHECK(before > 0) << "put_page on a free frame " << pfn;
  if (before == 1) {
    MEMMGR_CHECK(pfn != kZeroPfn) << "zero page refcount dropped to 0";
    FreeFrame(pfn);
  }
}

void FramePool::FreeFrame(Pfn pfn) {
  if (descriptors_[pfn].TestFlag(kPgLru)) reclaimer_->OnFree(pfn);
  CacheShard& shard = MyShard();
  {
    MutexLock l(&shard.mu);
    shard.frames[shard.count++] = pfn;
    if (shard.count > kCacheHigh) {
      MutexLock g(&free_mu_);
      for (uint32_t i = 0; i < kCacheBatch; ++i) {
        free_list_.push_back(shard.frames[--shard.count]);
      }
    }
  }
  frees_.fetch_add(1, std::memory_order_relaxed);
  free_frames_.fetch_add(1, std::memory_order_release);
}

void FramePool::DrainAllShards() {
  for (CacheShard& shard : shards_) {
    MutexLock l(&shard.mu);
    if (shard.count == 0 && shard.zcount == 0) continue;
    MutexLock g(&free_mu_);
    while (shard.count > 0) free_list_.push_back(shard.frames[--shard.count]);
    while (shard.zcount > 0) {
      zeroed_list_.push_back(shard.zeroed[--shard.zcount]);
    }
  }
}

bool FramePool::Contains(const void* host, uint64_t len) const {
  auto p = reinterpret_cast<uintptr_t>(host);
  auto base = reinterpret_cast<uintptr_t>(arena_);
  uint64_t size = total_frames_ * kPageSize;
  return p >= base && len <= size && p - base <= size - len;
}

FramePool::Stats FramePool::GetStats() const {
  Stats s;
  s.total_frames = total_frames_;
  s.free_frames = free_frames();
  s.used_frames = total_frames_ - 1 - s.free_frames;
  s.allocs = allocs_.load(std::memory_order_relaxed);
  s.frees = frees_.load(std::memory_order_relaxed);
  s.alloc_pressure_failures =
      pressure_failures_.load(std::memory_order_relaxed);
  s.alloc_empty_failures = empty_failures_.load(std::memory_order_relaxed);
  s.zeroed_free_frames = zeroed_free_.load(std::memory_order_relaxed);
  s.zeroed_allocs = zeroed_allocs_.load(std::memory_order_relaxed);
  s.background_zeroed = background_zeroed_.load(std::memory_order_relaxed);
  s.numa_node = numa_node_;
  return s;
}

}  // namespace memmgr::mmu
