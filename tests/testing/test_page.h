// A deterministic pseudo-random 4 KiB page for store-level tests (no client
// library needed; memmgrctl's MakeTestPage plays this part end to end).
#ifndef MEMMGR_TESTS_TESTING_TEST_PAGE_H_
#define MEMMGR_TESTS_TESTING_TEST_PAGE_H_

#include <cstdint>
#include <cstring>
#include <random>
#include <string>

#include "server/swap/swap_entry.h"

namespace memmgr::testing {

inline std::string Page(uint64_t seed) {
  std::string p(kPageSize, '\0');
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < p.size(); i += 8) {
    const uint64_t v = rng();
    std::memcpy(p.data() + i, &v, 8);
  }
  return p;
}

}  // namespace memmgr::testing

#endif  // MEMMGR_TESTS_TESTING_TEST_PAGE_H_
