// Makes `--help` list a binary's own flags. Abseil's default filter shows
// only flags defined in a file named after the program (memmgr-server.cc),
// which none of our mains is; call this before absl::ParseCommandLine.
#ifndef MEMMGR_COMMON_FLAGS_HELP_H_
#define MEMMGR_COMMON_FLAGS_HELP_H_

#include "absl/strings/string_view.h"

namespace memmgr {

// `--help` and `--helpshort` list the flags defined in source files whose
// path contains `main_source` (e.g. "server/main.cc"). The string must
// outlive the process (a literal).
void ShowFlagsOfInHelp(const char* main_source);

}  // namespace memmgr

#endif  // MEMMGR_COMMON_FLAGS_HELP_H_
