// Randomized model test: long random sequences of mmap/munmap/mprotect/
// madvise/mlock/fork/read/write against a simple reference model (a map of
// page -> bytes + protection); every result must match exactly: success or
// failure, the faulting address, and every byte read.
#include <array>
#include <cerrno>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "worker/mmu/address_space.h"

namespace memmgr::mmu {
namespace {

constexpr GuestAddr kWindow = 0x200000;  // the model's window of pages
constexpr int kPages = 48;

struct ModelPage {
  uint32_t prot = 0;
  bool locked = false;
  std::array<uint8_t, kPageSize> data{};
  std::array<uint8_t, kPageSize> backing{};  // what DONTNEED restores
};

// One address space and its model.
struct Subject {
  std::unique_ptr<AddressSpace> mm;
  std::map<GuestAddr, ModelPage> pages;  // by page address

  bool Allows(GuestAddr page, Access access) const {
    auto it = pages.find(page);
    if (it == pages.end()) return false;
    uint32_t need = access == Access::kWrite  ? kProtWrite
                    : access == Access::kRead ? kProtRead
                                              : kProtExec;
    return it->second.prot & need;
  }
};

uint32_t Normalize(uint32_t prot) {
  return (prot & kProtWrite) ? prot | kProtRead : prot;
}

class ModelTest : public ::testing::TestWithParam<uint64_t> {
 protected:
  void SetUp() override {
    FramePool::Options po;
    po.bytes = 32 << 20;
    auto pool = FramePool::Create(po);
    ASSERT_TRUE(pool.ok());
    pool_ = std::move(*pool);
    image_ = std::make_shared<GuestImage>();
    image_->name = "image";
    image_->bytes.resize(8 * kPageSize);
    for (size_t i = 0; i < image_->bytes.size(); ++i) {
      image_->bytes[i] = static_cast<char>((i * 31) ^ (i >> 9));
    }
    subjects_.emplace_back();
    auto mm = AddressSpace::Create(pool_.get(), {});
    ASSERT_TRUE(mm.ok());
    subjects_[0].mm = std::move(*mm);
  }

  GuestAddr RandomPage() {
    return kWindow + Uniform(0, kPages - 1) * kPageSize;
  }
  uint64_t Uniform(uint64_t lo, uint64_t hi) {
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng_);
  }
  uint32_t RandomProt() {
    static constexpr uint32_t kProts[] = {kProtNone,
                                          kProtRead,
                                          kProtRead | kProtWrite,
                                          kProtRead | kProtExec,
                                          kProtRead | kProtWrite | kProtExec,
                                          kProtWrite};
    return kProts[Uniform(0, 5)];
  }

  void DoMmap(Subject& s) {
    GuestAddr start = RandomPage();
    uint64_t n = Uniform(1, 6);
    uint32_t prot = RandomProt();
    bool image = Uniform(0, 3) == 0;
    absl::Status st;
    if (image) {
      uint64_t off = Uniform(0, 4) * kPageSize + Uniform(0, 1) * 100;
      uint64_t file_bytes = std::min<uint64_t>(Uniform(0, n * kPageSize),
                                               image_->bytes.size() - off);
      st = s.mm->MapImage(start, n * kPageSize, prot, image_, off, file_bytes,
                          kMapFixed)
               .status();
      ASSERT_TRUE(st.ok()) << st;
      for (uint64_t i = 0; i < n; ++i) {
        ModelPage p;
        p.prot = Normalize(prot);
        for (uint64_t b = 0; b < kPageSize; ++b) {
          uint64_t rel = i * kPageSize + b;
          p.backing[b] = rel < file_bytes ? image_->bytes[off + rel] : 0;
        }
        p.data = p.backing;
        s.pages[start + i * kPageSize] = p;
      }
    } else {
      st = s.mm->Mmap(start, n * kPageSize, prot, kMapFixed).status();
      ASSERT_TRUE(st.ok()) << st;
      for (uint64_t i = 0; i < n; ++i) {
        ModelPage p;
        p.prot = Normalize(prot);
        s.pages[start + i * kPageSize] = p;
      }
    }
  }

  void DoMunmap(Subject& s) {
    GuestAddr start = RandomPage();
    uint64_t n = Uniform(1, 8);
    ASSERT_TRUE(s.mm->Munmap(start, n * kPageSize).ok());
    for (uint64_t i = 0; i < n; ++i) s.pages.erase(start + i * kPageSize);
  }

  bool FullyMapped(const Subject& s, GuestAddr start, uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) {
      if (!s.pages.count(start + i * kPageSize)) return false;
    }
    return true;
  }

  void DoMprotect(Subject& s) {
    GuestAddr start = RandomPage();
    uint64_t n = Uniform(1, 6);
    uint32_t prot = RandomProt();
    absl::Status st = s.mm->Mprotect(start, n * kPageSize, prot);
    if (!FullyMapped(s, start, n)) {
      ASSERT_EQ(ErrnoFromStatus(st), ENOMEM) << st;
      return;
    }
    ASSERT_TRUE(st.ok()) << st;
    for (uint64_t i = 0; i < n; ++i) {
      s.pages[start + i * kPageSize].prot = Normalize(prot);
    }
  }

  void DoDontNeed(Subject& s) {
    GuestAddr start = RandomPage();
    uint64_t n = Uniform(1, 6);
    absl::Status st = s.mm->Madvise(start, n * kPageSize, kMadvDontNeed);
    bool locked = false;
    for (uint64_t i = 0; i < n; ++i) {
      auto it = s.pages.find(start + i * kPageSize);
      if (it != s.pages.end() && it->second.locked) locked = true;
    }
    if (locked) {
      ASSERT_EQ(ErrnoFromStatus(st), EINVAL) << st;
      return;
    }
    for (uint64_t i = 0; i < n; ++i) {
      auto it = s.pages.find(start + i * kPageSize);
      if (it != s.pages.end()) it->second.data = it->second.backing;
    }
    ASSERT_EQ(ErrnoFromStatus(st), FullyMapped(s, start, n) ? 0 : ENOMEM) << st;
  }

  void DoMlock(Subject& s) {
    GuestAddr start = RandomPage();
    uint64_t n = Uniform(1, 4);
    bool lock = Uniform(0, 1) == 0;
    absl::Status st = lock ? s.mm->Mlock(start, n * kPageSize)
                           : s.mm->Munlock(start, n * kPageSize);
    if (!FullyMapped(s, start, n)) {
      ASSERT_EQ(ErrnoFromStatus(st), ENOMEM) << st;
      return;
    }
    ASSERT_TRUE(st.ok()) << st;
    for (uint64_t i = 0; i < n; ++i)
      s.pages[start + i * kPageSize].locked = lock;
  }

  // The address of the first byte of [va, va+size) the model refuses.
  std::optional<GuestAddr> ModelFault(const Subject& s, GuestAddr va,
                                      uint64_t size, Access access) {
    for (GuestAddr p = PageDown(va); p < va + size; p += kPageSize) {
      if (!s.Allows(p, access)) return std::max(p, va);
    }
    return std::nullopt;
  }

  void DoAccess(Subject& s) {
    static constexpr uint64_t kSizes[] = {1, 2, 4, 8};
    uint64_t size = kSizes[Uniform(0, 3)];
    // Mostly aligned, sometimes misaligned or page-crossing.
    GuestAddr va = RandomPage() + Uniform(0, kPageSize / size - 1) * size;
    if (Uniform(0, 4) == 0) va = RandomPage() + kPageSize - Uniform(1, size);
    if (Uniform(0, 20) == 0) va = RandomPage() + Uniform(0, kPageSize - 1);
    Access access = static_cast<Access>(Uniform(0, 2));
    std::optional<GuestAddr> want_fault = ModelFault(s, va, size, access);
    Fault f;
    uint64_t value = rng_();
    bool ok = false;
    uint64_t got = 0;
    switch (access) {
      case Access::kRead:
        ok = size == 1   ? s.mm->Read(va, reinterpret_cast<uint8_t*>(&got), &f)
             : size == 2 ? s.mm->Read(va, reinterpret_cast<uint16_t*>(&got), &f)
             : size == 4 ? s.mm->Read(va, reinterpret_cast<uint32_t*>(&got), &f)
                         : s.mm->Read(va, &got, &f);
        break;
      case Access::kExec:
        ok =
            size == 1   ? s.mm->Fetch(va, reinterpret_cast<uint8_t*>(&got), &f)
            : size == 2 ? s.mm->Fetch(va, reinterpret_cast<uint16_t*>(&got), &f)
            : size == 4 ? s.mm->Fetch(va, reinterpret_cast<uint32_t*>(&got), &f)
                        : s.mm->Fetch(va, &got, &f);
        break;
      case Access::kWrite:
        ok = size == 1   ? s.mm->Write<uint8_t>(va, value, &f)
             : size == 2 ? s.mm->Write<uint16_t>(va, value, &f)
             : size == 4 ? s.mm->Write<uint32_t>(va, value, &f)
                         : s.mm->Write<uint64_t>(va, value, &f);
        break;
    }
    ASSERT_EQ(ok, !want_fault.has_value())
        << AccessName(access) << " of " << size << " at " << std::hex << va;
    if (!ok) {
      ASSERT_EQ(f.address, *want_fault) << AccessName(access) << std::hex << va;
      ASSERT_TRUE(f.reason == FaultReason::kUnmapped ||
                  f.reason == FaultReason::kProtection);
      return;
    }
    for (uint64_t i = 0; i < size; ++i) {
      GuestAddr b = va + i;
      ModelPage& p = s.pages[PageDown(b)];
      if (access == Access::kWrite) {
        p.data[b & kPageOffsetMask] = static_cast<uint8_t>(value >> (8 * i));
      } else {
        ASSERT_EQ(static_cast<uint8_t>(got >> (8 * i)),
                  p.data[b & kPageOffsetMask])
            << "byte " << i << " of a " << size << "-byte access at "
            << std::hex << va;
      }
    }
  }

  void DoFork() {
    if (subjects_.size() >= 4) {
      subjects_.erase(subjects_.begin() + Uniform(0, subjects_.size() - 1));
      return;
    }
    Subject& parent = subjects_[Uniform(0, subjects_.size() - 1)];
    auto child = parent.mm->Fork();
    ASSERT_TRUE(child.ok());
    Subject c;
    c.mm = std::move(*child);
    c.pages = parent.pages;
    subjects_.push_back(std::move(c));
  }

  // Every byte of every subject agrees with its model (reads through the
  // bulk path, which ignores nothing but needs PROT_READ).
  void FullCheck() {
    for (Subject& s : subjects_) {
      // The rss counter, kept incrementally through shared tables, agrees
      // with a walk of the tables.
      ASSERT_EQ(s.mm->GetStats().rss_pages, s.mm->CountResidentForTest());
      for (auto& [page, p] : s.pages) {
        if (!(p.prot & kProtRead)) continue;
        std::array<uint8_t, kPageSize> buf;
        Fault f;
        ASSERT_TRUE(s.mm->CopyFromGuest(page, buf.data(), kPageSize, &f));
        ASSERT_EQ(buf, p.data) << "page " << std::hex << page;
      }
    }
  }

  std::mt19937_64 rng_{GetParam()};
  std::unique_ptr<FramePool> pool_;
  std::shared_ptr<GuestImage> image_;
  std::vector<Subject> subjects_;
};

TEST_P(ModelTest, RandomOperationsMatchTheReferenceModel) {
  constexpr int kOps = 100000;
  for (int op = 0; op < kOps; ++op) {
    if (subjects_.empty()) {
      Subject s;
      s.mm = std::move(*AddressSpace::Create(pool_.get(), {}));
      subjects_.push_back(std::move(s));
    }
    Subject& s = subjects_[Uniform(0, subjects_.size() - 1)];
    uint64_t dice = Uniform(0, 99);
    if (dice < 6) {
      DoMmap(s);
    } else if (dice < 9) {
      DoMunmap(s);
    } else if (dice < 13) {
      DoMprotect(s);
    } else if (dice < 15) {
      DoDontNeed(s);
    } else if (dice < 17) {
      DoMlock(s);
    } else if (dice < 18) {
      DoFork();
    } else {
      DoAccess(s);
    }
    if (HasFatalFailure()) {
      FAIL() << "seed " << GetParam() << " op " << op;
    }
    if (op % 10000 == 0) {
      FullCheck();
      if (HasFatalFailure()) FAIL() << "seed " << GetParam() << " op " << op;
    }
  }
  FullCheck();
  subjects_.clear();
  EXPECT_EQ(pool_->GetStats().used_frames, 0u) << "frames leaked";
}

INSTANTIATE_TEST_SUITE_P(Seeds, ModelTest, ::testing::Values(1, 2, 3, 4, 5, 6));

}  // namespace
}  // namespace memmgr::mmu
