#include "worker/loader/elf_loader.h"

#include <elf.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/mmu/address_space.h"
#include "worker/mmu/frame_pool.h"

namespace memmgr::loader {
namespace {

using mmu::Access;
using mmu::AddressSpace;
using mmu::Fault;
using mmu::FaultReason;
using mmu::FramePool;
using mmu::GuestAddr;
using mmu::GuestImage;
using mmu::kPageSize;
using mmu::PageDown;
using mmu::PageUp;
using mmu::Vma;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

constexpr uint32_t kRW = mmu::kProtRead | mmu::kProtWrite;
constexpr uint32_t kRX = mmu::kProtRead | mmu::kProtExec;
constexpr uint32_t kRWX = kRW | mmu::kProtExec;

// PageDown((2^47 / 3) * 2): riscv's ELF_ET_DYN_BASE for our default va_limit.
constexpr GuestAddr kDynBase = 0x555555555000;

std::string Pattern(size_t n, uint8_t seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i * 7);
  return s;
}

// A small ELF64 writer. Build() lays out `bytes` and writes the ELF header
// at 0 and the program headers at `phdr_at` over it (independently of
// ehdr.e_phoff, so tests can corrupt that field).
struct ElfImage {
  Elf64_Ehdr ehdr{};
  std::vector<Elf64_Phdr> phdrs;
  uint64_t phdr_at = sizeof(Elf64_Ehdr);
  std::string bytes;

  void Put(uint64_t offset, const std::string& data) {
    if (bytes.size() < offset + data.size()) {
      bytes.resize(offset + data.size(), '\0');
    }
    bytes.replace(offset, data.size(), data);
  }
  Elf64_Phdr& Add(uint32_t type, uint32_t flags, uint64_t offset,
                  uint64_t vaddr, uint64_t filesz, uint64_t memsz) {
    Elf64_Phdr ph{};
    ph.p_type = type;
    ph.p_flags = flags;
    ph.p_offset = offset;
    ph.p_vaddr = vaddr;
    ph.p_paddr = vaddr;
    ph.p_filesz = filesz;
    ph.p_memsz = memsz;
    ph.p_align = type == PT_LOAD ? kPageSize : 8;
    phdrs.push_back(ph);
    ehdr.e_phnum = phdrs.size();
    return phdrs.back();
  }
  std::string Build() const {
    std::string out = bytes;
    auto put = [&out](uint64_t off, const void* p, size_t n) {
      if (out.size() < off + n) out.resize(off + n, '\0');
      std::memcpy(out.data() + off, p, n);
    };
    put(0, &ehdr, sizeof(ehdr));
    for (size_t i = 0; i < phdrs.size(); ++i) {
      put(phdr_at + i * sizeof(Elf64_Phdr), &phdrs[i], sizeof(Elf64_Phdr));
    }
    return out;
  }
};

ElfImage Header(uint16_t type, uint64_t entry) {
  ElfImage e;
  std::memcpy(e.ehdr.e_ident, ELFMAG, SELFMAG);
  e.ehdr.e_ident[EI_CLASS] = ELFCLASS64;
  e.ehdr.e_ident[EI_DATA] = ELFDATA2LSB;
  e.ehdr.e_ident[EI_VERSION] = EV_CURRENT;
  e.ehdr.e_type = type;
  e.ehdr.e_machine = EM_RISCV;
  e.ehdr.e_version = EV_CURRENT;
  e.ehdr.e_entry = entry;
  e.ehdr.e_phoff = sizeof(Elf64_Ehdr);
  e.ehdr.e_flags = EF_RISCV_RVC | EF_RISCV_FLOAT_ABI_DOUBLE;
  e.ehdr.e_ehsize = sizeof(Elf64_Ehdr);
  e.ehdr.e_phentsize = sizeof(Elf64_Phdr);
  return e;
}

const std::string kCode = Pattern(0x100, 0x11);  // at file offset 0x200
const std::string kData = Pattern(0x100, 0x80);  // at file offset 0x300

// The reference executable, laid out like `ld` does (data one page up from
// where it sits in the file):
//   segment 0: PT_LOAD R+X  file 0x000-0x300 → 0x10000 (headers + code)
//   segment 1: PT_LOAD R+W  file 0x300-0x400 → 0x11300, memsz 0x2000 (bss)
//   segment 2: PT_GNU_STACK R+W
// entry 0x10200 (the code); 0x400 bytes in all.
ElfImage MakeExec() {
  ElfImage e = Header(ET_EXEC, 0x10200);
  e.Put(0x200, kCode);
  e.Put(0x300, kData);
  e.Add(PT_LOAD, PF_R | PF_X, 0, 0x10000, 0x300, 0x300);
  e.Add(PT_LOAD, PF_R | PF_W, 0x300, 0x11300, 0x100, 0x2000);
  e.Add(PT_GNU_STACK, PF_R | PF_W, 0, 0, 0, 0).p_align = 16;
  return e;
}

// The same as a static PIE: linked at 0, entry 0x200, data at 0x1300.
ElfImage MakePie() {
  ElfImage e = Header(ET_DYN, 0x200);
  e.Put(0x200, kCode);
  e.Put(0x300, kData);
  e.Add(PT_LOAD, PF_R | PF_X, 0, 0, 0x300, 0x300);
  e.Add(PT_LOAD, PF_R | PF_W, 0x300, 0x1300, 0x100, 0x2000);
  e.Add(PT_GNU_STACK, PF_R | PF_W, 0, 0, 0, 0).p_align = 16;
  return e;
}

// gmock's string matchers take std::string.
std::string Msg(const absl::Status& s) { return std::string(s.message()); }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ElfLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pool = FramePool::Create({.bytes = 32 << 20});
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
  }

  static LoadOptions Options() {
    LoadOptions o;
    o.argv = {"/bin/prog"};
    o.envp = {"PATH=/bin"};
    return o;
  }

  absl::StatusOr<LoadedProgram> Load(const std::string& file,
                                     const LoadOptions& options = Options(),
                                     AddressSpace::Options ao = {}) {
    auto mm = AddressSpace::Create(pool_.get(), ao);
    if (!mm.ok()) return mm.status();
    mm_ = std::move(*mm);
    return LoadElf(*mm_, std::make_shared<GuestImage>(GuestImage{"prog", file}),
                   options);
  }

  uint64_t U64(GuestAddr va) {
    uint64_t v = 0xdeadbeef;
    Fault f;
    EXPECT_TRUE(mm_->Read(va, &v, &f)) << std::hex << va;
    return v;
  }
  std::string Bytes(GuestAddr va, uint64_t n) {
    std::string s(n, '\0');
    Fault f;
    EXPECT_TRUE(mm_->CopyFromGuest(va, s.data(), n, &f))
        << std::hex << f.address;
    return s;
  }
  std::string CString(GuestAddr va) {
    std::string s;
    Fault f;
    for (uint8_t c = 1; s.size() < 4096; s.push_back(static_cast<char>(c))) {
      if (!mm_->Read(va + s.size(), &c, &f)) {
        ADD_FAILURE() << "unreadable string at " << std::hex << va;
        break;
      }
      if (c == 0) break;
    }
    return s;
  }
  // The fault an access produces (kNone if it succeeds).
  FaultReason Probe(GuestAddr va, Access access) {
    Fault f;
    uint8_t b = 0;
    bool ok = access == Access::kRead    ? mm_->Read(va, &b, &f)
              : access == Access::kWrite ? mm_->Write<uint8_t>(va, 0, &f)
                                         : mm_->Fetch(va, &b, &f);
    return ok ? FaultReason::kNone : f.reason;
  }
  const Vma& VmaAt(GuestAddr va) {
    const Vma* v = mm_->vmas().Find(va);
    EXPECT_NE(v, nullptr) << std::hex << va;
    static const Vma kNone;
    return v != nullptr ? *v : kNone;
  }

  std::unique_ptr<FramePool> pool_;
  std::unique_ptr<AddressSpace> mm_;
};

// ---- A valid ET_EXEC ----

TEST_F(ElfLoaderTest, LoadsSegmentsWithTheirBytesBssAndPermissions) {
  const std::string file = MakeExec().Build();
  ASSERT_TRUE(ValidateElf(file).ok()) << ValidateElf(file);
  auto p = Load(file);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->entry, 0x10200u);
  EXPECT_EQ(p->load_bias, 0u);
  // Code: fetchable, the file's bytes; the ELF header is mapped too.
  EXPECT_EQ(Bytes(0x10200, kCode.size()), kCode);
  EXPECT_EQ(Bytes(0x10000, 4), std::string(ELFMAG, SELFMAG));
  uint32_t insn = 0;
  Fault f;
  ASSERT_TRUE(mm_->Fetch(0x10200, &insn, &f));
  uint32_t want;
  std::memcpy(&want, kCode.data(), 4);
  EXPECT_EQ(insn, want);
  // Data, then bss: the rest of the data page and two more pages are zero.
  EXPECT_EQ(Bytes(0x11300, kData.size()), kData);
  EXPECT_EQ(Bytes(0x11400, 0x1f00), std::string(0x1f00, '\0'));
  EXPECT_EQ(Probe(0x14000, Access::kRead), FaultReason::kUnmapped)
      << "nothing past PageUp(p_vaddr + p_memsz)";
  // Permissions.
  EXPECT_EQ(Probe(0x10200, Access::kWrite), FaultReason::kProtection);
  EXPECT_EQ(Probe(0x11300, Access::kExec), FaultReason::kProtection);
  EXPECT_EQ(Probe(0x12000, Access::kExec), FaultReason::kProtection);
  ASSERT_TRUE(mm_->Write<uint64_t>(0x11300, 7, &f));
  ASSERT_TRUE(mm_->Write<uint64_t>(0x12ff8, 7, &f));
  EXPECT_EQ(VmaAt(0x10000).prot, kRX);
  EXPECT_EQ(VmaAt(0x11000).prot, kRW);
  EXPECT_EQ(VmaAt(0x10000).name, "prog");
  // brk: the page after the highest segment end.
  EXPECT_EQ(p->brk_base, 0x14000u);
  EXPECT_EQ(mm_->brk_base(), 0x14000u);
  EXPECT_EQ(mm_->Brk(0x15000), 0x15000u);
}

TEST_F(ElfLoaderTest, InitialStackIsLaidOutLikeCreateElfTables) {
  LoadOptions o;
  o.argv = {"/bin/prog", "-x", "arg two"};
  o.envp = {"A=1", "HOME=/root"};
  for (int i = 0; i < 16; ++i) o.random[i] = 0xa0 + i;
  o.execfn = "/usr/bin/prog";
  o.hwcap = 0x112d;  // IMAFDC
  o.uid = 1000;
  o.gid = 100;
  const std::string file = MakeExec().Build();
  auto p = Load(file, o);
  ASSERT_TRUE(p.ok()) << p.status();
  const GuestAddr sp = p->stack_pointer;
  const GuestAddr top = mmu::kMaxUserVa;
  EXPECT_EQ(p->stack_top, top);
  EXPECT_EQ(sp % 16, 0u);
  // argc, argv[], NULL, envp[], NULL.
  ASSERT_EQ(U64(sp), 3u);
  std::vector<GuestAddr> argv, envp;
  for (int i = 0; i < 3; ++i) argv.push_back(U64(sp + 8 + 8 * i));
  EXPECT_EQ(U64(sp + 32), 0u);
  for (int i = 0; i < 2; ++i) envp.push_back(U64(sp + 40 + 8 * i));
  EXPECT_EQ(U64(sp + 56), 0u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(CString(argv[i]), o.argv[i]);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(CString(envp[i]), o.envp[i]);
  // auxv, in create_elf_tables' order.
  std::vector<std::pair<uint64_t, uint64_t>> auxv;
  GuestAddr a = sp + 64;
  for (; auxv.empty() || auxv.back().first != AT_NULL; a += 16) {
    auxv.emplace_back(U64(a), U64(a + 8));
    ASSERT_LT(auxv.size(), 40u);
  }
  const GuestAddr random = auxv[14].second;
  const GuestAddr execfn = auxv[15].second;
  const std::vector<std::pair<uint64_t, uint64_t>> want = {
      {AT_HWCAP, 0x112d},  {AT_PAGESZ, 4096}, {AT_CLKTCK, 100},
      {AT_PHDR, 0x10040},  {AT_PHENT, 56},    {AT_PHNUM, 3},
      {AT_BASE, 0},        {AT_FLAGS, 0},     {AT_ENTRY, 0x10200},
      {AT_UID, 1000},      {AT_EUID, 1000},   {AT_GID, 100},
      {AT_EGID, 100},      {AT_SECURE, 0},    {AT_RANDOM, random},
      {AT_EXECFN, execfn}, {AT_NULL, 0}};
  EXPECT_THAT(auxv, ElementsAreArray(want));
  EXPECT_THAT(p->auxv, ElementsAreArray(want));
  EXPECT_EQ(p->phdr, 0x10040u);
  // AT_PHDR points at the program headers.
  EXPECT_EQ(Bytes(p->phdr, 3 * sizeof(Elf64_Phdr)),
            file.substr(0x40, 3 * sizeof(Elf64_Phdr)));
  // Above auxv: padding to the 16-aligned AT_RANDOM bytes.
  EXPECT_EQ(random % 16, 0u);
  EXPECT_GE(random, a);
  EXPECT_LT(random - a, 16u) << "sp is STACK_ROUND of the auxv end";
  EXPECT_EQ(Bytes(random, 16),
            std::string(reinterpret_cast<const char*>(o.random.data()), 16));
  // Then the strings, ascending argv, envp, execfn, and a zero word at top.
  EXPECT_EQ(random + 16, argv[0] & ~uint64_t{15});
  EXPECT_EQ(argv[1], argv[0] + o.argv[0].size() + 1);
  EXPECT_EQ(argv[2], argv[1] + o.argv[1].size() + 1);
  EXPECT_EQ(envp[0], argv[2] + o.argv[2].size() + 1);
  EXPECT_EQ(envp[1], envp[0] + o.envp[0].size() + 1);
  EXPECT_EQ(execfn, envp[1] + o.envp[1].size() + 1);
  EXPECT_EQ(CString(execfn), "/usr/bin/prog");
  EXPECT_EQ(execfn + o.execfn.size() + 1, top - 8);
  EXPECT_EQ(U64(top - 8), 0u);
}

TEST_F(ElfLoaderTest, StackIsAGrowsDownVmaAtVaLimitThatGrowsOnDemand) {
  auto p = Load(MakeExec().Build());
  ASSERT_TRUE(p.ok()) << p.status();
  const Vma& stack = VmaAt(p->stack_pointer);
  EXPECT_EQ(stack.name, "[stack]");
  EXPECT_TRUE(stack.flags & mmu::kVmaGrowsDown);
  EXPECT_EQ(stack.prot, kRW) << "PT_GNU_STACK without PF_X";
  EXPECT_EQ(stack.end, mmu::kMaxUserVa);
  // The frame's page plus setup_arg_pages' 128 KiB.
  EXPECT_EQ(stack.start, mmu::kMaxUserVa - kPageSize - (128 << 10));
  EXPECT_LE(mm_->mmap_base(), mmu::kMaxUserVa - (8 << 20))
      << "mmap_base leaves the stack its whole rlimit";
  // Growth on demand down to the 8 MiB stack limit.
  Fault f;
  EXPECT_TRUE(mm_->Write<uint64_t>(mmu::kMaxUserVa - (4 << 20), 1, &f));
  EXPECT_EQ(mm_->GetStats().fault(mmu::FaultClass::kStackGrow), 1u);
  EXPECT_FALSE(mm_->Write<uint64_t>(mmu::kMaxUserVa - (8 << 20) - 8, 1, &f));
  EXPECT_EQ(Probe(p->stack_pointer, Access::kExec), FaultReason::kProtection);
}

TEST_F(ElfLoaderTest, PtGnuStackWithPfXMakesTheStackExecutable) {
  ElfImage e = MakeExec();
  e.phdrs[2].p_flags = PF_R | PF_W | PF_X;
  auto p = Load(e.Build());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->executable_stack);
  EXPECT_EQ(VmaAt(p->stack_pointer).prot, kRWX);
  EXPECT_EQ(Probe(p->stack_pointer, Access::kExec), FaultReason::kNone);
}

TEST_F(ElfLoaderTest, MissingPtGnuStackMeansANonExecutableStackOnRiscv) {
  ElfImage e = MakeExec();
  e.phdrs.pop_back();
  e.ehdr.e_phnum = 2;
  auto p = Load(e.Build());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(p->executable_stack);
  EXPECT_EQ(VmaAt(p->stack_pointer).prot, kRW);
}

TEST_F(ElfLoaderTest, WriteOnlySegmentIsReadableAndExecuteOnlyStaysSo) {
  ElfImage e = MakeExec();
  e.phdrs[0].p_flags = PF_X;
  e.phdrs[1].p_flags = PF_W;
  ASSERT_TRUE(Load(e.Build()).ok());
  EXPECT_EQ(VmaAt(0x11300).prot, kRW);
  EXPECT_EQ(Probe(0x11300, Access::kRead), FaultReason::kNone);
  EXPECT_EQ(VmaAt(0x10000).prot, mmu::kProtExec);
  EXPECT_EQ(Probe(0x10200, Access::kExec), FaultReason::kNone);
  EXPECT_EQ(Probe(0x10200, Access::kRead), FaultReason::kProtection);
}

TEST_F(ElfLoaderTest, PtPhdrMustAgreeWithWhereThePhdrsAreMapped) {
  ElfImage e = MakeExec();
  e.Add(PT_PHDR, PF_R, 0x40, 0x10040, 4 * 56, 4 * 56);
  auto p = Load(e.Build());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->phdr, 0x10040u);
  EXPECT_EQ(p->auxv[5], std::make_pair(uint64_t{AT_PHNUM}, uint64_t{4}));
}

TEST_F(ElfLoaderTest, EmptyArgvBecomesOneEmptyString) {
  LoadOptions o;
  auto p = Load(MakeExec().Build(), o);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(U64(p->stack_pointer), 1u);
  EXPECT_EQ(CString(U64(p->stack_pointer + 8)), "");
  EXPECT_EQ(U64(p->stack_pointer + 16), 0u) << "argv NULL";
  EXPECT_EQ(U64(p->stack_pointer + 24), 0u) << "envp NULL";
}

TEST_F(ElfLoaderTest, LargeEnvironmentFitsUpToTheArgumentLimit) {
  LoadOptions o = Options();
  // 15 strings of MAX_ARG_STRLEN: 1.875 MiB, under 8 MiB / 4.
  for (int i = 0; i < 15; ++i) {
    o.envp.push_back("V" + std::to_string(i) + "=" +
                     std::string((128 << 10) - 5, 'x'));
  }
  auto p = Load(MakeExec().Build(), o);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(U64(p->stack_pointer), 1u);
  EXPECT_EQ(CString(U64(p->stack_pointer + 8 * 4)).substr(0, 3), "V0=")
      << "envp[1]";
  const Vma& stack = VmaAt(p->stack_pointer);
  EXPECT_EQ(stack.start, PageDown(p->stack_pointer) - (128 << 10))
      << "frame + 128 KiB";
}

// ---- Shared pages ----

// Text ends and data starts in the same page, both mapping the same file
// page: one image mapping with both permissions.
TEST_F(ElfLoaderTest, SegmentsSharingAPageAndAFilePageKeepBothContents) {
  ElfImage e = Header(ET_EXEC, 0x10200);
  e.Put(0x200, kCode);
  e.Put(0x300, kData);
  e.Add(PT_LOAD, PF_R | PF_X, 0, 0x10000, 0x300, 0x300);
  e.Add(PT_LOAD, PF_R | PF_W, 0x300, 0x10300, 0x100, 0x1800);
  auto p = Load(e.Build());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(Bytes(0x10200, 0x100), kCode);
  EXPECT_EQ(Bytes(0x10300, 0x100), kData);
  EXPECT_EQ(Bytes(0x10400, 0x1700), std::string(0x1700, '\0'));
  EXPECT_EQ(Probe(0x10200, Access::kExec), FaultReason::kNone)
      << "the text tail stays executable";
  EXPECT_EQ(Probe(0x10300, Access::kWrite), FaultReason::kNone);
  const Vma& shared = VmaAt(0x10000);
  EXPECT_EQ(shared.prot, kRWX);
  EXPECT_FALSE(shared.anonymous()) << "demand-paged from the file";
  EXPECT_EQ(VmaAt(0x11000).prot, kRW);
  EXPECT_EQ(Probe(0x11000, Access::kExec), FaultReason::kProtection);
  EXPECT_EQ(p->brk_base, 0x12000u);
}

// Data's bytes come from a different file page than the text's: the shared
// page is built from both.
TEST_F(ElfLoaderTest, SegmentsSharingAPageFromDifferentFilePagesAreCopied) {
  ElfImage e = Header(ET_EXEC, 0x10200);
  e.Put(0x200, kCode);
  e.Put(0x300, std::string(0x1000, '\xee'));  // not the data
  e.Put(0x1300, kData);
  e.Add(PT_LOAD, PF_R | PF_X, 0, 0x10000, 0x300, 0x300);
  e.Add(PT_LOAD, PF_R | PF_W, 0x1300, 0x10300, 0x100, 0x200);
  auto p = Load(e.Build());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(Bytes(0x10200, 0x100), kCode);
  EXPECT_EQ(Bytes(0x10300, 0x100), kData);
  EXPECT_EQ(Bytes(0x10400, 0x100), std::string(0x100, '\0')) << "bss";
  EXPECT_EQ(Bytes(0x10500, 0xb00), std::string(0xb00, '\0'))
      << "bytes no segment covers";
  EXPECT_EQ(Bytes(0x10000, 4), std::string(ELFMAG, SELFMAG));
  EXPECT_EQ(VmaAt(0x10000).prot, kRWX);
  EXPECT_EQ(Probe(0x10200, Access::kExec), FaultReason::kNone);
  EXPECT_EQ(Probe(0x10300, Access::kWrite), FaultReason::kNone);
}

// The earlier segment's bss lies in the shared page, where the file has
// other bytes: it must read as zero.
TEST_F(ElfLoaderTest, BssOfAnEarlierSegmentInASharedPageIsZero) {
  ElfImage e = Header(ET_EXEC, 0x10500);
  e.Put(0x200, kData);
  e.Put(0x300, std::string(0x200, '\xee'));  // file bytes under A's bss
  e.Put(0x500, kCode);
  e.Add(PT_LOAD, PF_R | PF_W, 0, 0x10000, 0x300, 0x400);  // A: bss 0x300
  e.Add(PT_LOAD, PF_R | PF_X, 0x500, 0x10500, 0x100, 0x100);
  auto p = Load(e.Build());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(Bytes(0x10200, 0x100), kData);
  EXPECT_EQ(Bytes(0x10300, 0x100), std::string(0x100, '\0'));
  EXPECT_EQ(Bytes(0x10500, 0x100), kCode);
  EXPECT_EQ(Probe(0x10500, Access::kExec), FaultReason::kNone);
}

TEST_F(ElfLoaderTest, ThreeSegmentsInOnePage) {
  ElfImage e = Header(ET_EXEC, 0x10100);
  e.Put(0x100, kCode);
  e.Put(0x200, Pattern(0x100, 3));
  e.Put(0x300, kData);
  e.Add(PT_LOAD, PF_R | PF_X, 0, 0x10000, 0x200, 0x200);
  e.Add(PT_LOAD, PF_R, 0x200, 0x10200, 0x100, 0x100);
  e.Add(PT_LOAD, PF_R | PF_W, 0x300, 0x10300, 0x100, 0x3000);
  auto p = Load(e.Build());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(Bytes(0x10100, 0x100), kCode);
  EXPECT_EQ(Bytes(0x10200, 0x100), Pattern(0x100, 3));
  EXPECT_EQ(Bytes(0x10300, 0x100), kData);
  EXPECT_EQ(Bytes(0x10400, 0x2f00), std::string(0x2f00, '\0'));
  EXPECT_EQ(VmaAt(0x10000).prot, kRWX);
  EXPECT_EQ(VmaAt(0x11000).prot, kRW);
  EXPECT_EQ(p->brk_base, 0x14000u);
}

// ---- Static PIE ----

TEST_F(ElfLoaderTest, StaticPieLoadsAtElfEtDynBase) {
  const std::string file = MakePie().Build();
  auto p = Load(file);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->load_bias, kDynBase);
  EXPECT_EQ(p->entry, kDynBase + 0x200);
  EXPECT_EQ(p->phdr, kDynBase + 0x40);
  EXPECT_EQ(p->brk_base, kDynBase + 0x4000);
  EXPECT_EQ(Bytes(kDynBase + 0x200, 0x100), kCode);
  EXPECT_EQ(Bytes(kDynBase + 0x1300, 0x100), kData);
  EXPECT_EQ(Bytes(p->phdr, 3 * 56), file.substr(0x40, 3 * 56));
  EXPECT_EQ(Probe(p->entry, Access::kExec), FaultReason::kNone);
  auto aux = [&](uint64_t type) {
    for (auto [t, v] : p->auxv) {
      if (t == type) return v;
    }
    return ~uint64_t{0};
  };
  EXPECT_EQ(aux(AT_BASE), 0u) << "no interpreter";
  EXPECT_EQ(aux(AT_ENTRY), p->entry);
  EXPECT_EQ(aux(AT_PHDR), p->phdr);
}

TEST_F(ElfLoaderTest, StaticPieBiasHonoursTheLargestPAlign) {
  ElfImage e = MakePie();
  e.phdrs[1].p_align = 0x200000;
  auto p = Load(e.Build());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->load_bias % 0x200000, 0u);
  EXPECT_EQ(p->load_bias, kDynBase & ~uint64_t{0x1fffff});
}

TEST_F(ElfLoaderTest, StaticPieGoesBelowTheMmapAreaInASmallAddressSpace) {
  AddressSpace::Options ao;
  ao.va_limit = 64 << 20;  // ELF_ET_DYN_BASE is above mmap_base here
  auto p = Load(MakePie().Build(), Options(), ao);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->brk_base, mm_->mmap_base()) << "top-down below mmap_base";
  EXPECT_EQ(Bytes(p->load_bias + 0x200, 0x100), kCode);
}

TEST_F(ElfLoaderTest, StaticPieThatFitsNowhereIsRejected) {
  ElfImage e = MakePie();
  e.phdrs[1].p_memsz = 3 << 20;
  AddressSpace::Options ao;
  ao.va_limit = 4 << 20;
  auto p = Load(e.Build(), Options(), ao);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(p.status()), HasSubstr("does not fit"));
}

TEST_F(ElfLoaderTest, DynamicallyLinkedProgramsAreAFailedPrecondition) {
  for (uint16_t type : {ET_EXEC, ET_DYN}) {
    ElfImage e = type == ET_EXEC ? MakeExec() : MakePie();
    const std::string interp = "/lib/ld-linux-riscv64-lp64d.so.1";
    e.Put(0x140, interp + '\0');  // after the four program headers
    e.Add(PT_INTERP, PF_R, 0x140, e.phdrs[0].p_vaddr + 0x140, interp.size() + 1,
          interp.size() + 1);
    auto p = Load(e.Build());
    EXPECT_EQ(p.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(Msg(p.status()),
                HasSubstr("dynamically linked programs are not supported "
                          "(PT_INTERP \"/lib/ld-linux-riscv64-lp64d.so.1\"); "
                          "link with -static"));
    EXPECT_EQ(mm_->vmas().size(), 0u) << "nothing mapped";
  }
}

// ---- Arguments and preconditions ----

TEST_F(ElfLoaderTest, ArgumentListTooLongIsRejected) {
  LoadOptions o = Options();
  for (int i = 0; i < 17; ++i) {  // 17 * 128 KiB > 8 MiB / 4
    o.envp.push_back(std::string((128 << 10) - 1, 'x'));
  }
  auto p = Load(MakeExec().Build(), o);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(p.status()), HasSubstr("argument list too long"));
  EXPECT_EQ(mm_->vmas().size(), 0u);

  o = Options();
  o.argv.push_back(std::string(128 << 10, 'y'));  // + NUL > MAX_ARG_STRLEN
  p = Load(MakeExec().Build(), o);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(p.status()), HasSubstr("argv[1]"));
  EXPECT_THAT(Msg(p.status()), HasSubstr("MAX_ARG_STRLEN"));
}

TEST_F(ElfLoaderTest, ArgumentLimitIsAQuarterOfTheStackLimitAtLeast128K) {
  AddressSpace::Options ao;
  ao.stack_limit = 1 << 20;  // quarter = 256 KiB
  LoadOptions o = Options();
  o.envp = {std::string(100 << 10, 'a'), std::string(100 << 10, 'b')};
  EXPECT_TRUE(Load(MakeExec().Build(), o, ao).ok());
  o.envp.push_back(std::string(100 << 10, 'c'));
  EXPECT_THAT(Msg(Load(MakeExec().Build(), o, ao).status()),
              HasSubstr("E2BIG"));
  ao.stack_limit = 64 << 10;  // quarter = 16 KiB, but ARG_MAX is the floor
  o.envp = {std::string(100 << 10, 'a')};
  auto p = Load(MakeExec().Build(), o, ao);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_LE(VmaAt(p->stack_pointer).start, PageDown(p->stack_pointer))
      << "the frame is mapped even above the stack limit";
}

TEST_F(ElfLoaderTest, StringsWithNulBytesAreRejected) {
  LoadOptions o = Options();
  o.envp = {std::string("A=1\0B=2", 7)};
  auto p = Load(MakeExec().Build(), o);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(p.status()), HasSubstr("envp[0] contains a NUL"));
}

TEST_F(ElfLoaderTest, StackSizeMustMatchTheAddressSpace) {
  LoadOptions o = Options();
  o.stack_size = 16 << 20;
  auto p = Load(MakeExec().Build(), o);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(p.status()), HasSubstr("stack_size 0x1000000"));
  o.stack_size = 8 << 20;
  EXPECT_TRUE(Load(MakeExec().Build(), o).ok());
}

TEST_F(ElfLoaderTest, AddressSpaceMustBeEmpty) {
  auto mm = AddressSpace::Create(pool_.get(), {});
  ASSERT_TRUE(mm.ok());
  ASSERT_TRUE((*mm)->Mmap(0, kPageSize, kRW, 0).ok());
  auto p = LoadElf(
      **mm,
      std::make_shared<GuestImage>(GuestImage{"prog", MakeExec().Build()}),
      Options());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(p.status()), HasSubstr("fresh"));
  auto no_image = LoadElf(**mm, nullptr, Options());
  EXPECT_EQ(no_image.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ElfLoaderTest, SegmentOverlappingTheStackIsRejected) {
  ElfImage e = MakeExec();
  e.phdrs[1].p_vaddr = mmu::kMaxUserVa - 0x10000 + 0x300;
  e.phdrs[1].p_memsz = 0x100;
  auto p = Load(e.Build());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(p.status()),
              HasSubstr("segment 1 (0x7fffffff0300-0x7fffffff0400) overlaps "
                        "the initial stack"));
  EXPECT_EQ(mm_->vmas().size(), 0u);
}

TEST_F(ElfLoaderTest, InitialStackThatDoesNotFitTheAddressSpaceIsRejected) {
  AddressSpace::Options ao;
  ao.va_limit = 0x120000;  // 1.06 MiB above mmap_min_addr
  LoadOptions o = Options();
  for (int i = 0; i < 10; ++i) o.envp.push_back(std::string(120 << 10, 'f'));
  auto p = Load(MakeExec().Build(), o, ao);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(p.status()), HasSubstr("the initial stack frame (up to 0x"));
  // The frame fits, but not with setup_arg_pages' 128 KiB below it.
  o.envp.pop_back();
  p = Load(MakeExec().Build(), o, ao);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(p.status()), HasSubstr("the initial stack (0x"));
  EXPECT_EQ(mm_->vmas().size(), 0u);
}

TEST_F(ElfLoaderTest, RunningOutOfFramesForTheStackIsResourceExhausted) {
  AddressSpace::Options ao;
  ao.limit_pages = 8;
  LoadOptions o = Options();
  o.envp.push_back(std::string(100 << 10, 'e'));  // 25 pages of strings
  auto p = Load(MakeExec().Build(), o, ao);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(Msg(p.status()), HasSubstr("initial stack"));
}

// ---- Malformed files: every check names its field ----

struct BadCase {
  std::string name;
  std::function<void(ElfImage&)> mutate;
  std::string message;  // a substring of the error
};

std::vector<BadCase> BadCases() {
  return {
      {"magic", [](ElfImage& e) { e.ehdr.e_ident[EI_MAG1] = 'X'; },
       "e_ident magic"},
      {"class", [](ElfImage& e) { e.ehdr.e_ident[EI_CLASS] = ELFCLASS32; },
       "e_ident[EI_CLASS] 1 is not ELFCLASS64"},
      {"data", [](ElfImage& e) { e.ehdr.e_ident[EI_DATA] = ELFDATA2MSB; },
       "e_ident[EI_DATA] 2"},
      {"ident_version", [](ElfImage& e) { e.ehdr.e_ident[EI_VERSION] = 0; },
       "e_ident[EI_VERSION] 0"},
      {"type_rel", [](ElfImage& e) { e.ehdr.e_type = ET_REL; },
       "e_type 1 is not ET_EXEC"},
      {"type_core", [](ElfImage& e) { e.ehdr.e_type = ET_CORE; }, "e_type 4"},
      {"machine", [](ElfImage& e) { e.ehdr.e_machine = EM_X86_64; },
       "e_machine 62 is not EM_RISCV"},
      {"version", [](ElfImage& e) { e.ehdr.e_version = 2; }, "e_version 2"},
      {"phentsize", [](ElfImage& e) { e.ehdr.e_phentsize = 32; },
       "e_phentsize 32"},
      {"phnum_zero", [](ElfImage& e) { e.ehdr.e_phnum = 0; }, "e_phnum 0"},
      {"phnum_huge", [](ElfImage& e) { e.ehdr.e_phnum = 1171; },
       "e_phnum 1171 is out of range"},
      {"phnum_beyond_file", [](ElfImage& e) { e.ehdr.e_phnum = 100; },
       "e_phoff 0x40 + e_phnum 100 * 56 exceeds file size 0x400"},
      {"phoff_beyond_file", [](ElfImage& e) { e.ehdr.e_phoff = 0x3c0; },
       "e_phoff 0x3c0"},
      {"phoff_overflow",
       [](ElfImage& e) { e.ehdr.e_phoff = ~uint64_t{0} - 0x20; },
       "e_phoff 0xffffffffffffffdf"},
      {"filesz_above_memsz", [](ElfImage& e) { e.phdrs[1].p_filesz = 0x2001; },
       "segment 1: p_filesz 0x2001 exceeds p_memsz 0x2000"},
      {"filesz_beyond_file", [](ElfImage& e) { e.phdrs[1].p_filesz = 0x101; },
       "segment 1: p_offset 0x300 + p_filesz 0x101 exceeds file size 0x400"},
      {"offset_overflow",
       [](ElfImage& e) {
         e.phdrs[1].p_offset = ~uint64_t{0} - 0xcff;  // ...f300
         e.phdrs[1].p_vaddr = 0x11300;
       },
       "segment 1: p_offset 0xfffffffffffff300"},
      {"align_not_power_of_two",
       [](ElfImage& e) { e.phdrs[0].p_align = 0x3000; },
       "segment 0: p_align 0x3000 is not a power of two"},
      {"vaddr_offset_incongruent",
       [](ElfImage& e) { e.phdrs[1].p_vaddr = 0x11310; },
       "segment 1: p_vaddr 0x11310 and p_offset 0x300 differ modulo the page "
       "size"},
      {"vaddr_memsz_overflow",
       [](ElfImage& e) {
         e.phdrs[1].p_vaddr = ~uint64_t{0} - 0xcff;
         e.phdrs[1].p_memsz = 0x2000;
       },
       "segment 1: p_vaddr 0xfffffffffffff300 + p_memsz 0x2000 is beyond "
       "va_limit"},
      {"vaddr_beyond_va_limit",
       [](ElfImage& e) { e.phdrs[1].p_vaddr = 0x800000000300; },
       "beyond va_limit 0x800000000000"},
      {"end_beyond_va_limit",
       [](ElfImage& e) {
         e.phdrs[1].p_vaddr = 0x7ffffffff300;
         e.phdrs[1].p_memsz = 0x1000;
       },
       "segment 1: p_vaddr 0x7ffffffff300 + p_memsz 0x1000"},
      {"below_mmap_min_addr",
       [](ElfImage& e) {
         e.phdrs[0].p_vaddr = 0xf000;
         e.ehdr.e_entry = 0xf200;
       },
       "segment 0: p_vaddr 0xf000 is below mmap_min_addr 0x10000"},
      {"overlapping",
       [](ElfImage& e) {
         e.phdrs[1].p_vaddr = 0x10300;
         e.phdrs[0].p_memsz = 0x301;
       },
       "segment 1: p_vaddr 0x10300 is below the end 0x10301 of PT_LOAD "
       "segment 0"},
      {"descending", [](ElfImage& e) { std::swap(e.phdrs[0], e.phdrs[1]); },
       "segment 1: p_vaddr 0x10000 is below the end 0x13300 of PT_LOAD "
       "segment 0"},
      {"no_load",
       [](ElfImage& e) { e.phdrs[0].p_type = e.phdrs[1].p_type = PT_NOTE; },
       "no PT_LOAD segment"},
      {"only_empty_loads",
       [](ElfImage& e) {
         e.phdrs[0].p_memsz = e.phdrs[0].p_filesz = 0;
         e.phdrs[1].p_memsz = e.phdrs[1].p_filesz = 0;
       },
       "no PT_LOAD segment with p_memsz > 0"},
      {"entry_odd", [](ElfImage& e) { e.ehdr.e_entry += 1; },
       "is not 2-byte aligned"},
      {"entry_outside", [](ElfImage& e) { e.ehdr.e_entry = 0x50000; },
       "e_entry 0x50000 is not inside any PT_LOAD segment"},
      {"entry_not_executable", [](ElfImage& e) { e.ehdr.e_entry = 0x11300; },
       "e_entry 0x11300 is inside segment 1, which is not executable"},
      {"phdrs_outside_segments",
       [](ElfImage& e) {
         e.phdr_at = e.ehdr.e_phoff = 0x400;  // after the data's file bytes
       },
       "the program headers (e_phoff 0x400, 0xa8 bytes) are not inside any "
       "PT_LOAD"},
      {"pt_phdr_mismatch",
       [](ElfImage& e) { e.Add(PT_PHDR, PF_R, 0x40, 0x10000, 224, 224); },
       "PT_PHDR p_vaddr 0x10000 is not 0x10040"},
      {"interp_beyond_file",
       [](ElfImage& e) { e.Add(PT_INTERP, PF_R, 0x3f0, 0, 0x20, 0x20); },
       "segment 3: PT_INTERP p_offset 0x3f0 + p_filesz 0x20 exceeds file "
       "size 0x400"},
  };
}

TEST_F(ElfLoaderTest, EveryMalformedFieldIsAnInvalidArgumentNamingIt) {
  for (const BadCase& c : BadCases()) {
    SCOPED_TRACE(c.name);
    ElfImage e = MakeExec();
    c.mutate(e);
    const std::string file = e.Build();
    absl::Status v = ValidateElf(file);
    EXPECT_EQ(v.code(), absl::StatusCode::kInvalidArgument) << v;
    EXPECT_THAT(Msg(v), HasSubstr(c.message));
    EXPECT_THAT(Msg(v), ::testing::StartsWith("ELF: "));
    auto p = Load(file);
    EXPECT_EQ(p.status(), v) << "LoadElf runs the same checks first";
    EXPECT_EQ(mm_->vmas().size(), 0u) << "nothing mapped";
  }
}

TEST_F(ElfLoaderTest, ShortFilesAreRejected) {
  EXPECT_THAT(Msg(ValidateElf("")), HasSubstr("not an ELF file"));
  EXPECT_THAT(Msg(ValidateElf("\x7f"
                              "EL")),
              HasSubstr("not an ELF"));
  EXPECT_THAT(Msg(ValidateElf(std::string("\x7f"
                                          "ELF\2\1\1",
                                          7))),
              HasSubstr("file size 0x7 is smaller than the 0x40-byte ELF64 "
                        "header"));
}

TEST_F(ElfLoaderTest, StaticPieSpanLargerThanTheAddressSpaceIsRejected) {
  ElfImage e = MakePie();
  e.phdrs[1].p_vaddr = 0x7fffffffd300;  // congruent with p_offset 0x300
  auto v = ValidateElf(e.Build());
  EXPECT_EQ(v.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(v), HasSubstr("PT_LOAD segments span 0x800000000000 bytes"));
}

TEST_F(ElfLoaderTest, ValidateElfUsesTheGivenLimits) {
  AddressSpace::Options small;
  small.va_limit = 0x12000;
  EXPECT_THAT(Msg(ValidateElf(MakeExec().Build(), small)),
              HasSubstr("segment 1: p_vaddr 0x11300 + p_memsz 0x2000 is beyond "
                        "va_limit 0x12000"));
  small.mmap_min_addr = 0x20000;
  EXPECT_THAT(Msg(ValidateElf(MakeExec().Build(), small)),
              HasSubstr("va_limit 0x12000 is not above mmap_min_addr"));
}

// Every prefix of a valid file is invalid (its last byte is file data).
TEST_F(ElfLoaderTest, EveryTruncationIsRejectedWithoutCrashing) {
  const std::string file = MakeExec().Build();
  ASSERT_TRUE(Load(file).ok());
  for (size_t n = 0; n < file.size(); ++n) {
    SCOPED_TRACE(n);
    const std::string prefix = file.substr(0, n);
    EXPECT_EQ(ValidateElf(prefix).code(), absl::StatusCode::kInvalidArgument);
    auto p = Load(prefix);
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

// Seeded random corruption of the headers: every outcome is a status; a
// file that loads has its entry fetchable and a sane stack.
TEST_F(ElfLoaderTest, RandomHeaderMutationsNeverCrash) {
  const std::string valid = MakeExec().Build();
  const std::string valid_pie = MakePie().Build();
  const size_t header_bytes = 0x40 + 3 * sizeof(Elf64_Phdr);
  const uint64_t interesting[] = {0,
                                  1,
                                  0x1000,
                                  0x10000,
                                  0x300,
                                  0x400,
                                  0x7fffffffffff,
                                  0x800000000000,
                                  0x7ffffffff000,
                                  ~uint64_t{0},
                                  ~uint64_t{0} - 0xfff,
                                  uint64_t{1} << 63};
  std::mt19937_64 rng(20240501);
  int loaded = 0, rejected = 0;
  for (int iter = 0; iter < 10000; ++iter) {
    std::string file = (iter % 2 == 0) ? valid : valid_pie;
    const int edits = 1 + rng() % 4;
    for (int k = 0; k < edits; ++k) {
      if (rng() % 2 == 0) {
        file[rng() % header_bytes] = static_cast<char>(rng());
      } else {
        const uint64_t v = rng() % 3 == 0
                               ? rng()
                               : interesting[rng() % std::size(interesting)];
        const size_t at = (rng() % (header_bytes / 8)) * 8;
        std::memcpy(file.data() + at, &v, 8);
      }
    }
    absl::Status v = ValidateElf(file);
    auto p = Load(file);
    if (!v.ok()) {
      ASSERT_EQ(p.status(), v) << "iteration " << iter;
    }
    if (!p.ok()) {
      ++rejected;
      const auto code = p.status().code();
      ASSERT_TRUE(code == absl::StatusCode::kInvalidArgument ||
                  code == absl::StatusCode::kFailedPrecondition)
          << "iteration " << iter << ": " << p.status();
      ASSERT_THAT(Msg(p.status()), ::testing::StartsWith("ELF: "));
      continue;
    }
    ++loaded;
    Fault f;
    uint16_t insn;
    EXPECT_TRUE(mm_->Fetch(p->entry, &insn, &f))
        << "iteration " << iter << std::hex << ": entry 0x" << p->entry;
    EXPECT_EQ(U64(p->stack_pointer), 1u) << "iteration " << iter;
    EXPECT_EQ(p->stack_pointer % 16, 0u);
  }
  RecordProperty("loaded", loaded);
  RecordProperty("rejected", rejected);
  EXPECT_GT(loaded, 1000) << "mutations too destructive to test loading";
  EXPECT_GT(rejected, 5000);
}

// ---- Real binaries from the cross compiler (built by tests/CMakeLists.txt)
// ----

struct FileHeaders {
  Elf64_Ehdr ehdr;
  std::vector<Elf64_Phdr> phdrs;
};

FileHeaders ReadHeaders(const std::string& file) {
  FileHeaders h;
  std::memcpy(&h.ehdr, file.data(), sizeof(h.ehdr));
  h.phdrs.resize(h.ehdr.e_phnum);
  std::memcpy(h.phdrs.data(), file.data() + h.ehdr.e_phoff,
              h.phdrs.size() * sizeof(Elf64_Phdr));
  return h;
}

TEST_F(ElfLoaderTest, LoadsARealStaticGlibcBinary) {
  const std::string path = MEMMGR_RISCV_STATIC_HELLO;
  if (path.empty()) GTEST_SKIP() << "riscv64-linux-gnu-gcc is not installed";
  const std::string file = ReadFile(path);
  ASSERT_GT(file.size(), 4096u) << path;
  const FileHeaders h = ReadHeaders(file);
  ASSERT_EQ(h.ehdr.e_type, ET_EXEC);
  LoadOptions o = Options();
  o.argv = {path, "a"};
  auto p = Load(file, o);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->entry, h.ehdr.e_entry);
  EXPECT_EQ(Bytes(p->phdr, h.phdrs.size() * sizeof(Elf64_Phdr)),
            file.substr(h.ehdr.e_phoff, h.phdrs.size() * sizeof(Elf64_Phdr)));
  GuestAddr end = 0;
  int loads = 0;
  for (const Elf64_Phdr& ph : h.phdrs) {
    if (ph.p_type == PT_GNU_STACK) {
      EXPECT_FALSE(p->executable_stack);
    }
    if (ph.p_type != PT_LOAD) continue;
    ++loads;
    SCOPED_TRACE(loads);
    EXPECT_EQ(Bytes(ph.p_vaddr, ph.p_filesz),
              file.substr(ph.p_offset, ph.p_filesz));
    EXPECT_EQ(Bytes(ph.p_vaddr + ph.p_filesz, ph.p_memsz - ph.p_filesz),
              std::string(ph.p_memsz - ph.p_filesz, '\0'));
    const Access forbidden =
        (ph.p_flags & PF_X) ? Access::kWrite : Access::kExec;
    EXPECT_EQ(Probe(ph.p_vaddr + ph.p_filesz / 2, forbidden),
              FaultReason::kProtection);
    end = std::max(end, ph.p_vaddr + ph.p_memsz);
  }
  EXPECT_EQ(loads, 2);
  EXPECT_EQ(p->brk_base, PageUp(end));
  EXPECT_EQ(Probe(p->entry, Access::kExec), FaultReason::kNone);
  EXPECT_EQ(U64(p->stack_pointer), 2u);
  EXPECT_EQ(CString(U64(p->stack_pointer + 16)), "a");
}

TEST_F(ElfLoaderTest, LoadsARealStaticPie) {
  const std::string path = MEMMGR_RISCV_STATIC_PIE;
  if (path.empty()) GTEST_SKIP() << "riscv64-linux-gnu-gcc is not installed";
  const std::string file = ReadFile(path);
  const FileHeaders h = ReadHeaders(file);
  ASSERT_EQ(h.ehdr.e_type, ET_DYN);
  auto p = Load(file);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->load_bias, kDynBase);
  EXPECT_EQ(p->entry, kDynBase + h.ehdr.e_entry);
  EXPECT_EQ(p->phdr, kDynBase + h.ehdr.e_phoff) << "first PT_LOAD at 0";
  for (const Elf64_Phdr& ph : h.phdrs) {
    if (ph.p_type != PT_LOAD) continue;
    EXPECT_EQ(Bytes(kDynBase + ph.p_vaddr, ph.p_filesz),
              file.substr(ph.p_offset, ph.p_filesz));
  }
  EXPECT_EQ(Bytes(p->entry, 4), file.substr(h.ehdr.e_entry, 4));
  EXPECT_EQ(Probe(p->entry, Access::kExec), FaultReason::kNone);
}

}  // namespace
}  // namespace memmgr::loader
