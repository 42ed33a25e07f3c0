#include "worker/service/output_buffer.h"

#include <thread>

#include "gtest/gtest.h"

namespace memmgr::worker {
namespace {

std::string Join(const std::vector<OutputPiece>& pieces) {
  std::string s;
  for (const OutputPiece& p : pieces) s += p.data;
  return s;
}

TEST(OutputBufferTest, OffsetsAreAbsoluteAndStreamsStaySeparate) {
  OutputBuffer b(1 << 20);
  b.Append(1, "hello ");
  b.Append(1, "world\n");
  b.Append(2, "oops\n");
  const std::vector<OutputPiece> all = b.Read(0, 1 << 20);
  ASSERT_EQ(all.size(), 2u);  // same-stream writes coalesce
  EXPECT_EQ(all[0].fd, 1);
  EXPECT_EQ(all[0].data, "hello world\n");
  EXPECT_EQ(all[1].fd, 2);
  EXPECT_EQ(all[1].offset, 12u);
  EXPECT_EQ(Join(b.Read(6, 1 << 20)), "world\noops\n");
  EXPECT_EQ(b.Read(6, 1 << 20)[0].offset, 6u);
  EXPECT_TRUE(b.Read(17, 1 << 20).empty());
  EXPECT_EQ(b.end_offset(), 17u);
}

TEST(OutputBufferTest, KeepsOnlyTheNewestBytesAndReadersSkipAhead) {
  OutputBuffer b(2 * OutputBuffer::kMaxChunk);
  const std::string chunk(OutputBuffer::kMaxChunk, 'x');
  for (int i = 0; i < 5; ++i) b.Append(i % 2 + 1, chunk);  // no coalescing
  EXPECT_EQ(b.end_offset(), 5 * OutputBuffer::kMaxChunk);
  EXPECT_EQ(b.start_offset(), 3 * OutputBuffer::kMaxChunk);
  const std::vector<OutputPiece> got = b.Read(0, 1 << 30);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got[0].offset, 3 * OutputBuffer::kMaxChunk);
  EXPECT_EQ(Join(got).size(), 2 * OutputBuffer::kMaxChunk);
}

TEST(OutputBufferTest, WaitForWakesOnAppendAndOnClose) {
  OutputBuffer b(1 << 20);
  std::thread writer([&] {
    b.Append(1, "x");
    b.Close();
  });
  EXPECT_TRUE(b.WaitFor(0, absl::Seconds(60)));
  writer.join();
  EXPECT_FALSE(b.WaitFor(1, absl::Seconds(60)));  // closed: returns at once
  b.Append(1, "ignored");
  EXPECT_EQ(b.end_offset(), 1u);
}

}  // namespace
}  // namespace memmgr::worker
