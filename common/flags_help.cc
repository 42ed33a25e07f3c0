#include "common/flags_help.h"

#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"

namespace memmgr {

void ShowFlagsOfInHelp(const char* main_source) {
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [main_source](absl::string_view file) {
    return absl::StrContains(file, main_source);
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
}

}  // namespace memmgr
