// The real server answers the standard gRPC health check and server
// reflection, so grpc_health_probe, Kubernetes gRPC probes and grpcurl work.
// Debian ships neither service's client stubs, so the messages are encoded
// by hand and sent with the generic stub.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/byte_buffer.h>

#include "gtest/gtest.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace memmgr::testing {
namespace {

grpc::ByteBuffer Bytes(const std::string& s) {
  grpc::Slice slice(s);
  return grpc::ByteBuffer(&slice, 1);
}

std::string Flatten(const grpc::ByteBuffer& b) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(b.Dump(&slices).ok());
  std::string out;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

// Waits for the completion of the operation tagged `tag`.
bool Await(grpc::CompletionQueue* cq, void* tag) {
  void* got = nullptr;
  bool ok = false;
  const auto deadline =
      std::chrono::system_clock::now() + std::chrono::seconds(20);
  if (cq->AsyncNext(&got, &ok, deadline) != grpc::CompletionQueue::GOT_EVENT) {
    return false;
  }
  EXPECT_EQ(got, tag);
  return ok;
}

class HealthReflectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = ServerProcess::Start(MEMMGR_SERVER_BIN, dir_.Sub("db"));
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
    channel_ = grpc::CreateChannel(server_->address(),
                                   grpc::InsecureChannelCredentials());
  }

  // One unary call of `method`; returns the status and the response bytes.
  grpc::Status Unary(const std::string& method, const std::string& request,
                     std::string* response) {
    grpc::GenericStub stub(channel_);
    grpc::CompletionQueue cq;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(20));
    grpc::ByteBuffer req = Bytes(request), resp;
    auto call = stub.PrepareUnaryCall(&ctx, method, req, &cq);
    call->StartCall();
    grpc::Status status;
    call->Finish(&resp, &status, this);
    EXPECT_TRUE(Await(&cq, this));
    if (status.ok()) *response = Flatten(resp);
    return status;
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(HealthReflectionTest, HealthCheckReportsServing) {
  std::string resp;
  // HealthCheckRequest{service: ""} encodes to zero bytes; the answer is
  // HealthCheckResponse{status: SERVING (1)} = field 1, varint 1.
  grpc::Status s = Unary("/grpc.health.v1.Health/Check", "", &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp, std::string("\x08\x01", 2));
  // An unknown service name is NOT_FOUND, per the health protocol.
  s = Unary("/grpc.health.v1.Health/Check",
            std::string("\x0a\x03"
                        "foo",
                        5),
            &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(HealthReflectionTest, ReflectionListsTheMemoryManagerService) {
  grpc::GenericStub stub(channel_);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto call = stub.PrepareCall(
      &ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      &cq);
  int tag[5];
  call->StartCall(&tag[0]);
  ASSERT_TRUE(Await(&cq, &tag[0]));
  // ServerReflectionRequest{list_services: ""}: field 7, length 0.
  call->Write(Bytes(std::string("\x3a\x00", 2)), &tag[1]);
  ASSERT_TRUE(Await(&cq, &tag[1]));
  grpc::ByteBuffer resp;
  call->Read(&resp, &tag[2]);
  ASSERT_TRUE(Await(&cq, &tag[2]));
  const std::string listing = Flatten(resp);
  EXPECT_NE(listing.find("memmgr.v1.MemoryManager"), std::string::npos);
  EXPECT_NE(listing.find("grpc.health.v1.Health"), std::string::npos);
  call->WritesDone(&tag[3]);
  ASSERT_TRUE(Await(&cq, &tag[3]));
  grpc::Status status;
  call->Finish(&status, &tag[4]);
  ASSERT_TRUE(Await(&cq, &tag[4]));
  EXPECT_TRUE(status.ok()) << status.error_message();
}

}  // namespace
}  // namespace memmgr::testing
