// The ELF loader: Linux's fs/binfmt_elf.c (load_elf_binary,
// create_elf_tables) and the argument handling of fs/exec.c
// (bprm_stack_limits, copy_strings, setup_arg_pages) for static RISC-V
// executables, on top of the software MMU.
//
// Order of work, so that a bad file maps nothing:
//   1. Parse(): every header field is checked (ValidateElf is this step);
//   2. the layout is computed: load bias, initial stack frame and its vma,
//      program break; collisions between them are errors;
//   3. the stack vma and the segments are mapped, the frame written.
//
// Decisions where Linux has no single answer or we deviate on purpose:
//   - Static-PIE placement. Linux maps an ET_DYN without PT_INTERP like
//     mmap(NULL) (top-down below mmap_base). We put it at ELF_ET_DYN_BASE
//     (va_limit / 3 * 2, the PIE base), which is deterministic and leaves the
//     program break room to grow, and fall back to Linux's top-down
//     placement below mmap_base when the image does not fit there. The bias
//     honours the largest PT_LOAD p_align (maximum_alignment()).
//   - A page shared by two segments (text end and data start in one page, as
//     `ld -N` or hand-made files do). Linux maps the later segment over it
//     with MAP_FIXED: the earlier segment's bytes survive only if both map
//     the same file page, a bss tail of the earlier segment in that page is
//     lost, and the page gets the later segment's permissions (a text tail
//     there stops being executable). We build the page so that every byte
//     is what its own segment says, with the union of the segments'
//     permissions: one image mapping when all segments in the page map the
//     same file page and no bss byte lies below a file byte; otherwise an
//     anonymous page filled with CopyToGuest and then mprotected. Bytes of a
//     shared page no segment covers read as the file page in the first case
//     (like Linux) and as zero in the second.
//   - The stack top is va_limit: riscv's STACK_TOP is TASK_SIZE (no guard
//     page like x86-64's), and we do not randomise it. mmap_base leaves
//     max(stack_limit, 128 MiB) below va_limit for it (AddressSpace::Create).
//   - PT_GNU_STACK: executable only with PF_X. riscv defines
//     VM_DATA_DEFAULT_FLAGS as VM_DATA_FLAGS_NON_EXEC and has no
//     elf_read_implies_exec, so without PT_GNU_STACK Linux/riscv gives a
//     non-executable stack too.
//   - PF_X without PF_R stays execute-only (riscv ptes allow it); PF_W gets
//     PF_R (riscv has no write-only ptes).
#include "worker/loader/elf_loader.h"

#include <elf.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace memmgr::loader {
namespace {

using mmu::AddressSpace;
using mmu::Fault;
using mmu::FaultReason;
using mmu::GuestAddr;
using mmu::GuestImage;
using mmu::kPageSize;
using mmu::PageDown;
using mmu::PageUp;

// Headers are copied into <elf.h>'s structs with memcpy: the file is
// little-endian (checked), so the host has to be too.
static_assert(std::endian::native == std::endian::little,
              "the ELF loader reads little-endian headers with memcpy");
static_assert(sizeof(Elf64_Ehdr) == 64 && sizeof(Elf64_Phdr) == 56);

// load_elf_phdrs(): the program header table may be at most 64 KiB
// (1170 entries).
constexpr uint64_t kMaxPhdrTableBytes = 65536;
// fs/exec.c and include/uapi/linux/limits.h.
constexpr uint64_t kStkLim = 8 << 20;               // _STK_LIM
constexpr uint64_t kArgMax = 32 * kPageSize;        // ARG_MAX (128 KiB)
constexpr uint64_t kMaxArgStrlen = 32 * kPageSize;  // MAX_ARG_STRLEN
constexpr uint64_t kStackExpand = 128 << 10;        // setup_arg_pages()
constexpr uint64_t kPathMax = 4096;                 // PATH_MAX (PT_INTERP)
constexpr uint64_t kClockTicks = 100;               // USER_HZ

// include/uapi/linux/auxvec.h (the same numbers on every architecture).
enum AuxType : uint64_t {
  kAtNull = 0,
  kAtPhdr = 3,
  kAtPhent = 4,
  kAtPhnum = 5,
  kAtPagesz = 6,
  kAtBase = 7,
  kAtFlags = 8,
  kAtEntry = 9,
  kAtUid = 11,
  kAtEuid = 12,
  kAtGid = 13,
  kAtEgid = 14,
  kAtHwcap = 16,
  kAtClktck = 17,
  kAtSecure = 23,
  kAtRandom = 25,
  kAtExecfn = 31,
};

absl::Status Bad(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("ELF: ", what));
}

// One PT_LOAD as the file gives it (unbiased).
struct Segment {
  int index = 0;  // position in the program header table
  uint64_t vaddr = 0;
  uint64_t memsz = 0;
  uint64_t offset = 0;
  uint64_t filesz = 0;
  uint32_t flags = 0;  // PF_*
};

// What Parse() extracts from a valid file.
struct ParsedElf {
  uint16_t type = 0;  // ET_EXEC or ET_DYN
  uint64_t entry = 0;
  uint16_t phnum = 0;
  std::vector<Segment> loads;  // ascending, non-overlapping
  bool executable_stack = false;
  uint64_t phdr_vaddr = 0;  // unbiased address of the phdr table
  GuestAddr low = 0;        // PageDown of the first non-empty PT_LOAD
  GuestAddr high = 0;       // PageUp of the highest segment end
  uint64_t max_align = kPageSize;
};

uint32_t ProtFromFlags(uint32_t p_flags) {
  uint32_t prot = mmu::kProtNone;
  if (p_flags & PF_R) prot |= mmu::kProtRead;
  if (p_flags & PF_W) prot |= mmu::kProtWrite | mmu::kProtRead;
  if (p_flags & PF_X) prot |= mmu::kProtExec;
  return prot;
}

absl::Status CheckIdent(const std::string& bytes, Elf64_Ehdr* ehdr) {
  const uint64_t size = bytes.size();
  if (size < SELFMAG || std::memcmp(bytes.data(), ELFMAG, SELFMAG) != 0) {
    const uint64_t n = std::min<uint64_t>(size, SELFMAG);
    return Bad(absl::StrFormat(
        "not an ELF file: e_ident magic is \"%s\" (%d bytes), not "
        "\"\\x7fELF\"",
        absl::CHexEscape(bytes.substr(0, n)), n));
  }
  if (size < sizeof(Elf64_Ehdr)) {
    return Bad(absl::StrFormat(
        "file size 0x%x is smaller than the 0x%x-byte ELF64 header", size,
        sizeof(Elf64_Ehdr)));
  }
  std::memcpy(ehdr, bytes.data(), sizeof(*ehdr));
  const unsigned char* id = ehdr->e_ident;
  if (id[EI_CLASS] != ELFCLASS64) {
    return Bad(absl::StrFormat(
        "e_ident[EI_CLASS] %d is not ELFCLASS64 (2): only RV64 is supported",
        id[EI_CLASS]));
  }
  if (id[EI_DATA] != ELFDATA2LSB) {
    return Bad(absl::StrFormat(
        "e_ident[EI_DATA] %d is not ELFDATA2LSB (1, little-endian)",
        id[EI_DATA]));
  }
  if (id[EI_VERSION] != EV_CURRENT) {
    return Bad(absl::StrFormat("e_ident[EI_VERSION] %d is not EV_CURRENT (1)",
                               id[EI_VERSION]));
  }
  if (ehdr->e_type != ET_EXEC && ehdr->e_type != ET_DYN) {
    return Bad(absl::StrFormat(
        "e_type %d is not ET_EXEC (2) or ET_DYN (3): not an executable",
        ehdr->e_type));
  }
  if (ehdr->e_machine != EM_RISCV) {
    return Bad(
        absl::StrFormat("e_machine %d is not EM_RISCV (243)", ehdr->e_machine));
  }
  if (ehdr->e_version != EV_CURRENT) {
    return Bad(
        absl::StrFormat("e_version %d is not EV_CURRENT (1)", ehdr->e_version));
  }
  if (ehdr->e_phentsize != sizeof(Elf64_Phdr)) {
    return Bad(absl::StrFormat("e_phentsize %d is not %d (sizeof Elf64_Phdr)",
                               ehdr->e_phentsize, sizeof(Elf64_Phdr)));
  }
  const uint64_t table = uint64_t{ehdr->e_phnum} * sizeof(Elf64_Phdr);
  if (ehdr->e_phnum == 0 || table > kMaxPhdrTableBytes) {
    return Bad(absl::StrFormat(
        "e_phnum %d is out of range: 1 to %d program headers (64 KiB)",
        ehdr->e_phnum, kMaxPhdrTableBytes / sizeof(Elf64_Phdr)));
  }
  if (ehdr->e_phoff > size || table > size - ehdr->e_phoff) {
    return Bad(
        absl::StrFormat("e_phoff 0x%x + e_phnum %d * 56 exceeds file size 0x%x",
                        ehdr->e_phoff, ehdr->e_phnum, size));
  }
  return absl::OkStatus();
}

absl::Status CheckLoad(const Elf64_Phdr& ph, int i, uint64_t size,
                       const AddressSpace::Options& limits, bool exec_type,
                       const Segment* prev) {
  if (ph.p_filesz > ph.p_memsz) {
    return Bad(absl::StrFormat("segment %d: p_filesz 0x%x exceeds p_memsz 0x%x",
                               i, ph.p_filesz, ph.p_memsz));
  }
  if (ph.p_offset > size || ph.p_filesz > size - ph.p_offset) {
    return Bad(absl::StrFormat(
        "segment %d: p_offset 0x%x + p_filesz 0x%x exceeds file size 0x%x", i,
        ph.p_offset, ph.p_filesz, size));
  }
  if (ph.p_align != 0 && !std::has_single_bit(ph.p_align)) {
    return Bad(absl::StrFormat("segment %d: p_align 0x%x is not a power of two",
                               i, ph.p_align));
  }
  if (((ph.p_vaddr - ph.p_offset) & mmu::kPageOffsetMask) != 0) {
    return Bad(absl::StrFormat(
        "segment %d: p_vaddr 0x%x and p_offset 0x%x differ modulo the page "
        "size 0x%x, so the segment cannot be mapped from the file",
        i, ph.p_vaddr, ph.p_offset, kPageSize));
  }
  if (ph.p_vaddr > limits.va_limit ||
      ph.p_memsz > limits.va_limit - ph.p_vaddr) {
    return Bad(absl::StrFormat(
        "segment %d: p_vaddr 0x%x + p_memsz 0x%x is beyond va_limit 0x%x", i,
        ph.p_vaddr, ph.p_memsz, limits.va_limit));
  }
  if (exec_type && ph.p_memsz > 0 &&
      PageDown(ph.p_vaddr) < limits.mmap_min_addr) {
    return Bad(
        absl::StrFormat("segment %d: p_vaddr 0x%x is below mmap_min_addr 0x%x",
                        i, ph.p_vaddr, limits.mmap_min_addr));
  }
  if (prev != nullptr && ph.p_vaddr < prev->vaddr + prev->memsz) {
    return Bad(absl::StrFormat(
        "segment %d: p_vaddr 0x%x is below the end 0x%x of PT_LOAD segment %d "
        "(PT_LOAD segments must ascend by p_vaddr without overlapping)",
        i, ph.p_vaddr, prev->vaddr + prev->memsz, prev->index));
  }
  return absl::OkStatus();
}

// The whole of ValidateElf: every header field, in file order, then the
// cross-checks (span, PT_INTERP, entry, program header address).
absl::StatusOr<ParsedElf> Parse(const std::string& bytes,
                                const AddressSpace::Options& limits) {
  if (limits.va_limit <= limits.mmap_min_addr) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "ELF limits: va_limit 0x%x is not above mmap_min_addr 0x%x",
        limits.va_limit, limits.mmap_min_addr));
  }
  Elf64_Ehdr ehdr;
  if (absl::Status s = CheckIdent(bytes, &ehdr); !s.ok()) return s;
  const uint64_t size = bytes.size();
  ParsedElf elf;
  elf.type = ehdr.e_type;
  elf.entry = ehdr.e_entry;
  elf.phnum = ehdr.e_phnum;
  std::optional<Elf64_Phdr> interp;
  std::optional<Elf64_Phdr> pt_phdr;
  int interp_index = 0;
  for (int i = 0; i < ehdr.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, bytes.data() + ehdr.e_phoff + i * sizeof(ph), sizeof(ph));
    switch (ph.p_type) {
      case PT_LOAD: {
        const Segment* prev = elf.loads.empty() ? nullptr : &elf.loads.back();
        if (absl::Status s =
                CheckLoad(ph, i, size, limits, ehdr.e_type == ET_EXEC, prev);
            !s.ok()) {
          return s;
        }
        elf.loads.push_back(Segment{.index = i,
                                    .vaddr = ph.p_vaddr,
                                    .memsz = ph.p_memsz,
                                    .offset = ph.p_offset,
                                    .filesz = ph.p_filesz,
                                    .flags = ph.p_flags});
        if (ph.p_align > elf.max_align) elf.max_align = ph.p_align;
        break;
      }
      case PT_INTERP:
        if (!interp.has_value()) {
          interp = ph;
          interp_index = i;
        }
        break;
      case PT_GNU_STACK:  // the last one wins, as in load_elf_binary
        elf.executable_stack = (ph.p_flags & PF_X) != 0;
        break;
      case PT_PHDR:
        pt_phdr = ph;
        break;
      default:
        break;
    }
  }
  const Segment* first = nullptr;
  for (const Segment& s : elf.loads) {
    if (s.memsz == 0) continue;
    if (first == nullptr) first = &s;
    elf.high = std::max(elf.high, PageUp(s.vaddr + s.memsz));
  }
  if (first == nullptr) {
    return Bad(elf.loads.empty() ? "no PT_LOAD segment"
                                 : "no PT_LOAD segment with p_memsz > 0");
  }
  elf.low = PageDown(first->vaddr);
  if (elf.high - elf.low > limits.va_limit - limits.mmap_min_addr) {
    return Bad(absl::StrFormat(
        "PT_LOAD segments span 0x%x bytes (0x%x-0x%x), more than the 0x%x "
        "bytes of address space between mmap_min_addr and va_limit",
        elf.high - elf.low, elf.low, elf.high,
        limits.va_limit - limits.mmap_min_addr));
  }
  if (interp.has_value()) {
    if (interp->p_offset > size || interp->p_filesz > size - interp->p_offset) {
      return Bad(absl::StrFormat(
          "segment %d: PT_INTERP p_offset 0x%x + p_filesz 0x%x exceeds file "
          "size 0x%x",
          interp_index, interp->p_offset, interp->p_filesz, size));
    }
    std::string path = bytes.substr(
        interp->p_offset, std::min<uint64_t>(interp->p_filesz, kPathMax));
    path = path.substr(0, path.find('\0'));
    return absl::FailedPreconditionError(absl::StrCat(
        "ELF: dynamically linked programs are not supported (PT_INTERP \"",
        absl::CHexEscape(path), "\"); link with -static"));
  }
  if (elf.entry & 1) {
    // RV64GC instructions are 2-byte aligned; a misaligned entry could
    // never be fetched.
    return Bad(
        absl::StrFormat("e_entry 0x%x is not 2-byte aligned", elf.entry));
  }
  const Segment* entry_segment = nullptr;
  for (const Segment& s : elf.loads) {
    if (elf.entry >= s.vaddr && elf.entry - s.vaddr < s.memsz) {
      entry_segment = &s;
    }
  }
  if (entry_segment == nullptr) {
    return Bad(absl::StrFormat("e_entry 0x%x is not inside any PT_LOAD segment",
                               elf.entry));
  }
  if (!(entry_segment->flags & PF_X)) {
    return Bad(absl::StrFormat(
        "e_entry 0x%x is inside segment %d, which is not executable "
        "(p_flags 0x%x)",
        elf.entry, entry_segment->index, entry_segment->flags));
  }
  // AT_PHDR: where a PT_LOAD maps the program header table (binfmt_elf
  // looks for the PT_LOAD whose file bytes hold e_phoff).
  const uint64_t table = uint64_t{ehdr.e_phnum} * sizeof(Elf64_Phdr);
  const Segment* phdr_segment = nullptr;
  for (const Segment& s : elf.loads) {
    if (ehdr.e_phoff >= s.offset && ehdr.e_phoff - s.offset <= s.filesz &&
        table <= s.filesz - (ehdr.e_phoff - s.offset)) {
      phdr_segment = &s;
      break;
    }
  }
  if (phdr_segment == nullptr) {
    return Bad(absl::StrFormat(
        "the program headers (e_phoff 0x%x, 0x%x bytes) are not inside any "
        "PT_LOAD segment's file bytes, so AT_PHDR would point at nothing",
        ehdr.e_phoff, table));
  }
  elf.phdr_vaddr = phdr_segment->vaddr + (ehdr.e_phoff - phdr_segment->offset);
  if (pt_phdr.has_value() && pt_phdr->p_vaddr != elf.phdr_vaddr) {
    return Bad(absl::StrFormat(
        "PT_PHDR p_vaddr 0x%x is not 0x%x, where PT_LOAD segment %d maps the "
        "program headers at e_phoff 0x%x",
        pt_phdr->p_vaddr, elf.phdr_vaddr, phdr_segment->index, ehdr.e_phoff));
  }
  return elf;
}

// ELF_ET_DYN_BASE, or top-down below mmap_base when the image does not fit
// between it and mmap_base. Returns the bias (added to every p_vaddr; a
// multiple of max_align, possibly "negative" modulo 2^64).
absl::StatusOr<uint64_t> ChooseLoadBias(const ParsedElf& elf,
                                        const AddressSpace& as) {
  const AddressSpace::Options& o = as.options();
  const uint64_t span = elf.high - elf.low;
  const uint64_t align = elf.max_align;
  const uint64_t phase = elf.low & (align - 1);
  const GuestAddr top = as.mmap_base();
  GuestAddr start = (PageDown(o.va_limit / 3 * 2) & ~(align - 1)) + phase;
  if (start < o.mmap_min_addr || start > top || top - start < span) {
    if (top < span || top - span < phase) {
      start = 0;  // does not fit at all
    } else {
      start = ((top - span - phase) & ~(align - 1)) + phase;
    }
    if (start < o.mmap_min_addr) {
      return Bad(absl::StrFormat(
          "the static-PIE image (0x%x bytes, p_align 0x%x) does not fit "
          "between mmap_min_addr 0x%x and the mmap area at 0x%x",
          span, align, o.mmap_min_addr, top));
    }
  }
  return start - elf.low;
}

// A PT_LOAD after the bias: its bytes [vaddr, file_end) come from the file
// at `offset`, [file_end, mem_end) are zero.
struct Placed {
  int index = 0;
  GuestAddr vaddr = 0;
  GuestAddr file_end = 0;
  GuestAddr mem_end = 0;
  uint64_t offset = 0;
  uint32_t prot = 0;
};

absl::Status Annotate(const absl::Status& s, absl::string_view what) {
  return absl::Status(s.code(), absl::StrCat("ELF: ", what, ": ", s.message()));
}

absl::Status FaultStatus(const Fault& fault, absl::string_view what) {
  const std::string msg =
      absl::StrFormat("ELF: %s: fault at 0x%x (%s)", what, fault.address,
                      mmu::FaultReasonName(fault.reason));
  if (fault.reason == FaultReason::kMemoryLimit ||
      fault.reason == FaultReason::kOutOfMemory) {
    return absl::ResourceExhaustedError(msg);
  }
  return absl::InternalError(msg);
}

// Maps [start, end) of segment `s` (its pages no other segment touches).
absl::Status MapOwnPages(AddressSpace& as,
                         const std::shared_ptr<const GuestImage>& image,
                         const Placed& s, GuestAddr start, GuestAddr end) {
  const uint64_t file_bytes =
      s.file_end > start ? std::min(s.file_end - start, end - start) : 0;
  absl::StatusOr<GuestAddr> mapped;
  if (file_bytes == 0) {
    // Only bss here: anonymous, like the pages Linux adds with vm_brk.
    mapped = as.Mmap(start, end - start, s.prot, mmu::kMapFixedNoReplace);
  } else {
    const uint64_t file_offset =
        PageDown(s.offset) + (start - PageDown(s.vaddr));
    mapped = as.MapImage(start, end - start, s.prot, image, file_offset,
                         file_bytes, mmu::kMapFixedNoReplace);
  }
  if (!mapped.ok()) {
    return Annotate(mapped.status(),
                    absl::StrFormat("mapping segment %d at 0x%x-0x%x", s.index,
                                    start, end));
  }
  return absl::OkStatus();
}

// Builds page `page`, which the page ranges of every segment in `members`
// include (see the file comment for the rules).
absl::Status MapSharedPage(AddressSpace& as,
                           const std::shared_ptr<const GuestImage>& image,
                           const std::vector<Placed>& segs, GuestAddr page,
                           const std::vector<size_t>& members) {
  const GuestAddr page_end = page + kPageSize;
  uint32_t prot = 0;
  bool same_file_page = true;
  GuestAddr file_hi = page;  // end of the highest file byte in the page
  const Placed& m0 = segs[members[0]];
  for (size_t i : members) {
    const Placed& s = segs[i];
    prot |= s.prot;
    if (s.vaddr - s.offset != m0.vaddr - m0.offset) same_file_page = false;
    const GuestAddr lo = std::max(s.vaddr, page);
    const GuestAddr hi = std::min(s.file_end, page_end);
    if (lo < hi) file_hi = std::max(file_hi, hi);
  }
  for (size_t i : members) {
    const Placed& s = segs[i];
    const GuestAddr bss_lo = std::max(s.file_end, page);
    const GuestAddr bss_hi = std::min(s.mem_end, page_end);
    if (bss_lo < bss_hi && bss_lo < file_hi) same_file_page = false;
  }
  const std::string where =
      absl::StrFormat("mapping page 0x%x shared by segments %d-%d", page,
                      m0.index, segs[members.back()].index);
  if (file_hi == page) {  // only bss bytes: a zero page
    absl::StatusOr<GuestAddr> r =
        as.Mmap(page, kPageSize, prot, mmu::kMapFixedNoReplace);
    return r.ok() ? absl::OkStatus() : Annotate(r.status(), where);
  }
  if (same_file_page) {
    const uint64_t file_offset =
        PageDown(m0.offset) + (page - PageDown(m0.vaddr));
    absl::StatusOr<GuestAddr> r =
        as.MapImage(page, kPageSize, prot, image, file_offset, file_hi - page,
                    mmu::kMapFixedNoReplace);
    return r.ok() ? absl::OkStatus() : Annotate(r.status(), where);
  }
  absl::StatusOr<GuestAddr> r =
      as.Mmap(page, kPageSize, mmu::kProtRead | mmu::kProtWrite,
              mmu::kMapFixedNoReplace, image->name);
  if (!r.ok()) return Annotate(r.status(), where);
  for (size_t i : members) {
    const Placed& s = segs[i];
    const GuestAddr lo = std::max(s.vaddr, page);
    const GuestAddr hi = std::min(s.file_end, page_end);
    if (lo >= hi) continue;
    Fault fault;
    if (!as.CopyToGuest(lo, image->bytes.data() + s.offset + (lo - s.vaddr),
                        hi - lo, &fault)) {
      return FaultStatus(fault, where);
    }
  }
  if (prot != (mmu::kProtRead | mmu::kProtWrite)) {
    if (absl::Status s = as.Mprotect(page, kPageSize, prot); !s.ok()) {
      return Annotate(s, where);
    }
  }
  return absl::OkStatus();
}

absl::Status MapSegments(AddressSpace& as,
                         const std::shared_ptr<const GuestImage>& image,
                         const std::vector<Placed>& segs) {
  // Only a segment's first and last page can be in another segment's page
  // range (their bytes ascend without overlap).
  std::map<GuestAddr, std::vector<size_t>> edges;
  for (size_t i = 0; i < segs.size(); ++i) {
    const GuestAddr first = PageDown(segs[i].vaddr);
    const GuestAddr last = PageDown(segs[i].mem_end - 1);
    edges[first].push_back(i);
    if (last != first) edges[last].push_back(i);
  }
  auto shared = [&edges](GuestAddr page) {
    auto it = edges.find(page);
    return it != edges.end() && it->second.size() > 1;
  };
  for (const Placed& s : segs) {
    GuestAddr start = PageDown(s.vaddr);
    GuestAddr end = PageUp(s.mem_end);
    if (shared(start)) start += kPageSize;
    if (end > start && shared(end - kPageSize)) end -= kPageSize;
    if (end > start) {
      if (absl::Status st = MapOwnPages(as, image, s, start, end); !st.ok()) {
        return st;
      }
    }
  }
  for (const auto& [page, members] : edges) {
    if (members.size() < 2) continue;
    if (absl::Status st = MapSharedPage(as, image, segs, page, members);
        !st.ok()) {
      return st;
    }
  }
  return absl::OkStatus();
}

// The strings execve copies (fs/exec.c), after Linux's argc == 0 fix-up.
struct Arguments {
  std::vector<std::string> argv;
  const std::vector<std::string>* envp = nullptr;
  std::string execfn;
  uint64_t string_bytes = 0;  // every string with its NUL
};

absl::Status CheckString(const std::string& s, absl::string_view name) {
  if (s.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ELF: ", name, " contains a NUL byte (execve takes C strings)"));
  }
  if (s.size() + 1 > kMaxArgStrlen) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "ELF: argument list too long (E2BIG): %s is 0x%x bytes, more than "
        "MAX_ARG_STRLEN 0x%x",
        name, s.size() + 1, kMaxArgStrlen));
  }
  return absl::OkStatus();
}

absl::StatusOr<Arguments> CheckArguments(const LoadOptions& options,
                                         uint64_t stack_limit) {
  Arguments args;
  args.argv = options.argv;
  // exec: "Force single empty string when argv is empty" (Linux 5.18).
  if (args.argv.empty()) args.argv.push_back("");
  args.envp = &options.envp;
  args.execfn = options.execfn.empty() ? args.argv[0] : options.execfn;
  for (size_t i = 0; i < args.argv.size(); ++i) {
    if (absl::Status s =
            CheckString(args.argv[i], absl::StrCat("argv[", i, "]"));
        !s.ok()) {
      return s;
    }
    args.string_bytes += args.argv[i].size() + 1;
  }
  for (size_t i = 0; i < options.envp.size(); ++i) {
    if (absl::Status s =
            CheckString(options.envp[i], absl::StrCat("envp[", i, "]"));
        !s.ok()) {
      return s;
    }
    args.string_bytes += options.envp[i].size() + 1;
  }
  if (absl::Status s = CheckString(args.execfn, "execfn"); !s.ok()) return s;
  args.string_bytes += args.execfn.size() + 1;
  // bprm_stack_limits().
  const uint64_t limit =
      std::max(std::min(kStkLim / 4 * 3, stack_limit / 4), kArgMax);
  const uint64_t ptr_size = (args.argv.size() + options.envp.size()) * 8;
  if (ptr_size >= limit || args.string_bytes > limit - ptr_size) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "ELF: argument list too long (E2BIG): %d argv and %d envp strings take "
        "0x%x bytes plus 0x%x of pointers, the limit is 0x%x (a quarter of "
        "the stack limit 0x%x, within [128 KiB, 6 MiB])",
        args.argv.size(), options.envp.size(), args.string_bytes, ptr_size,
        limit, stack_limit));
  }
  return args;
}

// The initial stack contents [sp, top) and the values the loader reports.
struct StackFrame {
  GuestAddr sp = 0;
  std::vector<uint8_t> bytes;  // bytes[0] is at sp
  std::vector<std::pair<uint64_t, uint64_t>> auxv;
};

// create_elf_tables(): the layout of the frame below `top`. The auxv values
// that are addresses of the frame itself (AT_RANDOM, AT_EXECFN) are filled
// in here; the caller supplies the rest in `auxv` (in order, AT_NULL not
// included). INVALID_ARGUMENT if the frame would reach below `bottom`.
absl::StatusOr<StackFrame> BuildStackFrame(
    GuestAddr top, GuestAddr bottom, const Arguments& args,
    const std::array<uint8_t, 16>& random,
    std::vector<std::pair<uint64_t, uint64_t>> auxv) {
  const uint64_t items = (args.argv.size() + 1) + (args.envp->size() + 1) + 1;
  // Strings, the top word, AT_RANDOM, two alignments, auxv and the pointers
  // (CheckArguments bounded every term, so the sum cannot overflow).
  const uint64_t bound =
      8 + args.string_bytes + 15 + 16 + (auxv.size() + 1) * 16 + items * 8 + 15;
  if (bound > top - bottom) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "ELF: the initial stack frame (up to 0x%x bytes) does not fit between "
        "mmap_min_addr 0x%x and the stack top 0x%x",
        bound, bottom, top));
  }
  StackFrame f;
  // __bprm_mm_init: bprm->p starts one pointer below the top; then the
  // filename, envp and argv strings are copied downwards, so in memory they
  // ascend argv[0] .. argv[n-1], envp[0] .. envp[m-1], execfn.
  const GuestAddr strings = top - 8 - args.string_bytes;
  GuestAddr p = strings & ~uint64_t{15};  // arch_align_stack, not randomised
  const GuestAddr random_addr = p - 16;
  p = random_addr;
  const GuestAddr execfn_addr = top - 8 - (args.execfn.size() + 1);
  for (auto& [type, value] : auxv) {
    if (type == kAtRandom) value = random_addr;
    if (type == kAtExecfn) value = execfn_addr;
  }
  auxv.emplace_back(kAtNull, 0);
  f.sp = (p - auxv.size() * 16 - items * 8) & ~uint64_t{15};  // STACK_ROUND
  f.bytes.assign(top - f.sp, 0);
  auto put_word = [&f](GuestAddr at, uint64_t v) {
    std::memcpy(f.bytes.data() + (at - f.sp), &v, 8);
  };
  auto put_string = [&f](GuestAddr at, const std::string& s) {
    std::memcpy(f.bytes.data() + (at - f.sp), s.data(), s.size());
  };
  GuestAddr w = f.sp;
  put_word(w, args.argv.size());
  w += 8;
  GuestAddr str = strings;
  for (const std::string& a : args.argv) {
    put_word(w, str);
    w += 8;
    put_string(str, a);
    str += a.size() + 1;
  }
  w += 8;  // NULL
  for (const std::string& e : *args.envp) {
    put_word(w, str);
    w += 8;
    put_string(str, e);
    str += e.size() + 1;
  }
  w += 8;  // NULL
  for (const auto& [type, value] : auxv) {
    put_word(w, type);
    put_word(w + 8, value);
    w += 16;
  }
  put_string(execfn_addr, args.execfn);
  std::memcpy(f.bytes.data() + (random_addr - f.sp), random.data(), 16);
  f.auxv = std::move(auxv);
  return f;
}

}  // namespace

absl::Status ValidateElf(const std::string& bytes,
                         const AddressSpace::Options& limits) {
  return Parse(bytes, limits).status();
}

absl::StatusOr<LoadedProgram> LoadElf(AddressSpace& as,
                                      std::shared_ptr<const GuestImage> image,
                                      const LoadOptions& options) {
  if (image == nullptr) return absl::InvalidArgumentError("ELF: no image");
  const AddressSpace::Options& o = as.options();
  absl::StatusOr<ParsedElf> parsed = Parse(image->bytes, o);
  if (!parsed.ok()) return parsed.status();
  const ParsedElf& elf = *parsed;
  if (as.vmas().size() != 0 || as.brk_base() != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "ELF: the address space already has %d mappings (brk base 0x%x): "
        "load into a fresh one",
        as.vmas().size(), as.brk_base()));
  }
  if (options.stack_size != 0 && options.stack_size != o.stack_limit) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "ELF: stack_size 0x%x differs from the address space's stack_limit "
        "0x%x, which bounds the stack's growth (pass 0 or the same value)",
        options.stack_size, o.stack_limit));
  }
  absl::StatusOr<Arguments> args = CheckArguments(options, o.stack_limit);
  if (!args.ok()) return args.status();

  // Layout.
  LoadedProgram out;
  if (elf.type == ET_DYN) {
    absl::StatusOr<uint64_t> bias = ChooseLoadBias(elf, as);
    if (!bias.ok()) return bias.status();
    out.load_bias = *bias;
  }
  out.entry = elf.entry + out.load_bias;
  out.phdr = elf.phdr_vaddr + out.load_bias;
  out.brk_base = elf.high + out.load_bias;
  out.stack_top = o.va_limit;
  out.executable_stack = elf.executable_stack;
  std::vector<Placed> segs;
  for (const Segment& s : elf.loads) {
    if (s.memsz == 0) continue;  // maps nothing
    const GuestAddr v = s.vaddr + out.load_bias;
    segs.push_back(Placed{.index = s.index,
                          .vaddr = v,
                          .file_end = v + s.filesz,
                          .mem_end = v + s.memsz,
                          .offset = s.offset,
                          .prot = ProtFromFlags(s.flags)});
  }
  absl::StatusOr<StackFrame> frame =
      BuildStackFrame(out.stack_top, o.mmap_min_addr, *args, options.random,
                      {{kAtHwcap, options.hwcap},
                       {kAtPagesz, kPageSize},
                       {kAtClktck, kClockTicks},
                       {kAtPhdr, out.phdr},
                       {kAtPhent, sizeof(Elf64_Phdr)},
                       {kAtPhnum, elf.phnum},
                       {kAtBase, 0},  // no interpreter
                       {kAtFlags, 0},
                       {kAtEntry, out.entry},
                       {kAtUid, options.uid},
                       {kAtEuid, options.uid},
                       {kAtGid, options.gid},
                       {kAtEgid, options.gid},
                       {kAtSecure, 0},
                       {kAtRandom, 0},
                       {kAtExecfn, 0}});
  if (!frame.ok()) return frame.status();
  out.stack_pointer = frame->sp;
  // setup_arg_pages(): the frame's pages plus stack_expand (128 KiB), within
  // RLIMIT_STACK but never less than the frame itself.
  const uint64_t frame_pages = out.stack_top - PageDown(frame->sp);
  const uint64_t stack_len =
      std::max(frame_pages,
               std::min(PageDown(o.stack_limit), frame_pages + kStackExpand));
  if (stack_len > o.va_limit - o.mmap_min_addr) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "ELF: the initial stack (0x%x bytes) does not fit above mmap_min_addr "
        "0x%x below va_limit 0x%x",
        stack_len, o.mmap_min_addr, o.va_limit));
  }
  const GuestAddr stack_start = out.stack_top - stack_len;
  for (const Placed& s : segs) {
    if (PageUp(s.mem_end) > stack_start) {
      return Bad(absl::StrFormat(
          "segment %d (0x%x-0x%x) overlaps the initial stack 0x%x-0x%x below "
          "va_limit",
          s.index, s.vaddr, s.mem_end, stack_start, out.stack_top));
    }
  }

  // Mapping.
  const uint32_t stack_prot =
      mmu::kProtRead | mmu::kProtWrite |
      (out.executable_stack ? uint32_t{mmu::kProtExec} : 0u);
  absl::StatusOr<GuestAddr> stack =
      as.Mmap(stack_start, stack_len, stack_prot,
              mmu::kMapFixedNoReplace | mmu::kMapGrowsDown, "[stack]");
  if (!stack.ok()) return Annotate(stack.status(), "mapping the stack");
  if (absl::Status s = MapSegments(as, image, segs); !s.ok()) return s;
  Fault fault;
  if (!as.CopyToGuest(frame->sp, frame->bytes.data(), frame->bytes.size(),
                      &fault)) {
    return FaultStatus(fault, "writing the initial stack");
  }
  if (absl::Status s = as.SetBrkBase(out.brk_base); !s.ok()) {
    return Annotate(s, "setting the program break");
  }
  out.auxv = std::move(frame->auxv);
  return out;
}

}  // namespace memmgr::loader
