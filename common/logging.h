// Minimal logging and invariant checks. Abseil 20220623 (Debian 12) predates
// absl/log, and glog is not among our dependencies, so this is ours:
//
//   MEMMGR_LOG(INFO) << "expired " << n << " leases";
//   MEMMGR_CHECK(slots.size() == n) << "bitmap and free count disagree";
//
// A line goes to stderr in one write(2), so concurrent lines do not
// interleave. MEMMGR_CHECK is for our own invariants only — never for guest
// or RPC data, which get a Status. A failed check logs and aborts.
//
// Thread-safety: safe for concurrent use.
#ifndef MEMMGR_COMMON_LOGGING_H_
#define MEMMGR_COMMON_LOGGING_H_

#include <sstream>

namespace memmgr {

enum class LogSeverity { kInfo, kWarning, kError, kFatal };

class LogMessage {
 public:
  LogMessage(LogSeverity severity, const char* file, int line);
  ~LogMessage();  // writes the line; aborts for kFatal
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;
  std::ostream& stream() { return stream_; }

 private:
  const LogSeverity severity_;
  std::ostringstream stream_;
};

// Lets `cond ? (void)0 : Voidify() & stream` type-check.
struct LogVoidify {
  void operator&(std::ostream&) {}
};

// Suppress INFO lines (e.g. in benchmarks). Warnings and errors still print.
void SetMinLogSeverity(LogSeverity severity);

}  // namespace memmgr

#define MEMMGR_LOG_SEVERITY_INFO ::memmgr::LogSeverity::kInfo
#define MEMMGR_LOG_SEVERITY_WARNING ::memmgr::LogSeverity::kWarning
#define MEMMGR_LOG_SEVERITY_ERROR ::memmgr::LogSeverity::kError
#define MEMMGR_LOG_SEVERITY_FATAL ::memmgr::LogSeverity::kFatal

#define MEMMGR_LOG(severity)                                               \
  ::memmgr::LogMessage(MEMMGR_LOG_SEVERITY_##severity, __FILE__, __LINE__) \
      .stream()

#define MEMMGR_CHECK(cond)                                                   \
  (cond) ? (void)0                                                           \
         : ::memmgr::LogVoidify() &                                          \
               ::memmgr::LogMessage(::memmgr::LogSeverity::kFatal, __FILE__, \
                                    __LINE__)                                \
                       .stream()                                             \
                   << "Check failed: " #cond " "

#ifdef NDEBUG
#define MEMMGR_DCHECK(cond) \
  while (false) MEMMGR_CHECK(cond)
#else
#define MEMMGR_DCHECK(cond) MEMMGR_CHECK(cond)
#endif

#endif  // MEMMGR_COMMON_LOGGING_H_
