#include "worker/service/image_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace memmgr::worker {
namespace {

class ImageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::mkdir(images().c_str(), 0755);
    ::mkdir((images() + "/sub").c_str(), 0755);
    Write(images() + "/prog", "ELF bytes");
    Write(images() + "/sub/prog2", "more");
    Write(dir_.Sub("secret"), "outside");
  }
  static void Write(const std::string& path, const std::string& data) {
    std::ofstream(path, std::ios::binary) << data;
  }
  std::string images() const { return dir_.Sub("images"); }
  testing::TempDir dir_;
};

TEST_F(ImageStoreTest, ReadsNamesInsideTheDirectory) {
  EXPECT_EQ(*ReadImage(images(), "prog", 1 << 20), "ELF bytes");
  EXPECT_EQ(*ReadImage(images(), "sub/prog2", 1 << 20), "more");
}

TEST_F(ImageStoreTest, RefusesEverythingThatLeadsOutside) {
  for (const char* name : {"../secret", "/etc/passwd", "sub/../../secret",
                           "./prog", "sub//prog2", "", "sub/"}) {
    EXPECT_EQ(ReadImage(images(), name, 1 << 20).status().code(),
              absl::StatusCode::kInvalidArgument)
        << name;
  }
  ASSERT_EQ(::symlink(dir_.Sub("secret").c_str(), (images() + "/link").c_str()),
            0);
  EXPECT_EQ(ReadImage(images(), "link", 1 << 20).status().code(),
            absl::StatusCode::kPermissionDenied);
  ASSERT_EQ(::symlink("prog", (images() + "/inside").c_str()), 0);
  EXPECT_EQ(*ReadImage(images(), "inside", 1 << 20), "ELF bytes");
}

TEST_F(ImageStoreTest, MissingLargeAndOddFilesAreRefused) {
  EXPECT_EQ(ReadImage(images(), "nope", 1 << 20).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadImage(images(), "prog", 4).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadImage(images(), "sub", 1 << 20).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReadImage("", "prog", 1 << 20).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReadImage(dir_.Sub("missing"), "prog", 1 << 20).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReadImage(images(), absl::string_view("pr\0g", 4), 1 << 20)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace memmgr::worker
