// Shared pieces of the integration tests: a client against a ServerProcess
// and deterministic pages.
#ifndef MEMMGR_TESTS_INTEGRATION_TEST_HELPERS_H_
#define MEMMGR_TESTS_INTEGRATION_TEST_HELPERS_H_

#include <memory>
#include <string>

#include "client/client.h"
#include "client/ctl_commands.h"
#include "gtest/gtest.h"
#include "tests/testing/server_process.h"

namespace memmgr::testing {

inline std::unique_ptr<Client> ClientFor(const ServerProcess& server,
                                         int attempts = 1) {
  ClientOptions o;
  o.target = server.address();
  o.max_attempts = attempts;
  o.deadline = absl::Seconds(20);
  auto c = Client::Create(o);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *std::move(c) : nullptr;
}

inline std::string RegisterLease(Client& client, const std::string& name) {
  v1::RegisterWorkerRequest r;
  r.set_node_name(name);
  r.set_frame_capacity_pages(4096);
  auto resp = client.RegisterWorker(r);
  EXPECT_TRUE(resp.ok()) << resp.status();
  return resp.ok() ? resp->lease_id() : "";
}

inline std::vector<std::string> Pages(uint64_t seed, uint64_t first,
                                      uint64_t n) {
  std::vector<std::string> out;
  for (uint64_t i = 0; i < n; ++i) out.push_back(MakeTestPage(seed, first + i));
  return out;
}

}  // namespace memmgr::testing

#endif  // MEMMGR_TESTS_INTEGRATION_TEST_HELPERS_H_
