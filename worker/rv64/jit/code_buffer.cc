#include "worker/rv64/jit/code_buffer.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace memmgr::rv64::jit {

absl::StatusOr<std::unique_ptr<CodeBuffer>> CodeBuffer::Create(size_t size) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size = (size + page - 1) / page * page;
  if (size == 0) return absl::InvalidArgumentError("empty code buffer");
  const int fd = memfd_create("memmgr-jit", MFD_CLOEXEC);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("memfd_create: ", std::strerror(errno)));
  }
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    const int e = errno;
    close(fd);
    return absl::UnavailableError(
        absl::StrCat("ftruncate: ", std::strerror(e)));
  }
  void* rw = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (rw == MAP_FAILED) {
    const int e = errno;
    close(fd);
    return absl::UnavailableError(absl::StrCat("mmap rw: ", std::strerror(e)));
  }
  void* rx = mmap(nullptr, size, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
  const int e = errno;
  close(fd);  // the mappings keep the memory
  if (rx == MAP_FAILED) {
    munmap(rw, size);
    return absl::UnavailableError(absl::StrCat("mmap rx: ", std::strerror(e)));
  }
  return std::unique_ptr<CodeBuffer>(new CodeBuffer(
      static_cast<uint8_t*>(rw), static_cast<uint8_t*>(rx), size));
}

CodeBuffer::~CodeBuffer() {
  munmap(rw_, size_);
  munmap(rx_, size_);
}

}  // namespace memmgr::rv64::jit
