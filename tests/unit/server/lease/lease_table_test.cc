#include "server/lease/lease_table.h"

#include "gtest/gtest.h"

namespace memmgr {
namespace {

const absl::Time kT0 = absl::UnixEpoch() + absl::Hours(1);

Lease MakeLease(uint32_t number, absl::Time deadline) {
  Lease l;
  l.id = LeaseTable::NewLeaseId();
  l.number = number;
  l.deadline = deadline;
  return l;
}

TEST(LeaseTableTest, NewLeaseIdsAreHexAndDistinct) {
  const std::string a = LeaseTable::NewLeaseId();
  const std::string b = LeaseTable::NewLeaseId();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(LeaseTableTest, ResolveDistinguishesUnknownExpiredAndEnded) {
  LeaseTable table;
  Lease* live = table.Add(MakeLease(1, kT0 + absl::Seconds(10)));
  const std::string id = live->id;
  ASSERT_TRUE(table.Resolve(id, kT0).ok());
  EXPECT_EQ(table.Resolve("", kT0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(table.Resolve(std::string(65, 'a'), kT0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(table.Resolve("feedfeed", kT0).status().code(),
            absl::StatusCode::kUnauthenticated);
  // Past its deadline but not yet reaped.
  EXPECT_EQ(table.Resolve(id, kT0 + absl::Seconds(11)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // Ended: remembered as a tombstone.
  table.Remove(1);
  EXPECT_EQ(table.Resolve(id, kT0).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(table.FindByNumber(1), nullptr);
}

TEST(LeaseTableTest, ExpiredListsOnlyLeasesPastTheirDeadline) {
  LeaseTable table;
  table.Add(MakeLease(1, kT0 + absl::Seconds(1)));
  table.Add(MakeLease(2, kT0 + absl::Seconds(5)));
  EXPECT_TRUE(table.Expired(kT0).empty());
  EXPECT_EQ(table.Expired(kT0 + absl::Seconds(2)), std::vector<uint32_t>{1});
  EXPECT_EQ(table.Expired(kT0 + absl::Seconds(6)).size(), 2u);
}

TEST(LeaseTableTest, TombstonesAreBounded) {
  LeaseTable table;
  std::string first_id;
  for (uint32_t i = 1; i <= LeaseTable::kTombstones + 1; ++i) {
    Lease* l = table.Add(MakeLease(i, kT0 + absl::Seconds(1)));
    if (i == 1) first_id = l->id;
    table.Remove(i);
  }
  // The oldest tombstone fell out: the id is now simply unknown.
  EXPECT_EQ(table.Resolve(first_id, kT0).status().code(),
            absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace memmgr
