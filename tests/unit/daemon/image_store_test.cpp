// The default busybox image, built from the host's static busybox.
#include "truman/daemon/image_store.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "test_support.hpp"
#include "truman/error.hpp"

namespace fs = std::filesystem;
using namespace truman::daemon;

TEST(ImageStore, BuildsBusyboxImageOnceAtomically) {
    truman::test::TempDir dir;
    std::string images = dir.path() + "/images";
    EXPECT_FALSE(find_image(images, "busybox"));
    ensure_busybox_image(images, TRUMAN_BUSYBOX);
    auto rootfs = find_image(images, "busybox");
    ASSERT_TRUE(rootfs);
    EXPECT_EQ(*rootfs, images + "/busybox/rootfs");
    EXPECT_EQ(fs::read_symlink(*rootfs + "/bin/sh"), "busybox");
    EXPECT_EQ(access((*rootfs + "/bin/sh").c_str(), X_OK), 0);
    EXPECT_NE(truman::test::read_file(*rootfs + "/etc/passwd").find("root:x:0:0"),
              std::string::npos);
    struct stat st {};
    ASSERT_EQ(stat((*rootfs + "/tmp").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 01777u);
    for (const char* d : {"proc", "sys", "dev", "root", "etc"})
        EXPECT_TRUE(fs::is_directory(*rootfs + "/" + d)) << d;
    // Only the image is left: the temp build directory was renamed into place.
    EXPECT_EQ(std::distance(fs::directory_iterator(images), fs::directory_iterator{}), 1);

    // A second call keeps what is there.
    auto mtime = fs::last_write_time(*rootfs + "/etc/passwd");
    ensure_busybox_image(images, TRUMAN_BUSYBOX);
    EXPECT_EQ(fs::last_write_time(*rootfs + "/etc/passwd"), mtime);
}

TEST(ImageStore, UnknownOrEscapingNamesAreNotFound) {
    truman::test::TempDir dir;
    fs::create_directories(dir.path() + "/images/x/rootfs");
    fs::create_directories(dir.path() + "/outside/rootfs");
    EXPECT_TRUE(find_image(dir.path() + "/images", "x"));
    EXPECT_FALSE(find_image(dir.path() + "/images", "y"));
    EXPECT_FALSE(find_image(dir.path() + "/images", "../outside"));
    EXPECT_FALSE(find_image(dir.path() + "/images", ""));
}

TEST(ImageStore, MissingBusyboxIsNotFoundAndLeavesNothing) {
    truman::test::TempDir dir;
    std::string images = dir.path() + "/images";
    try {
        ensure_busybox_image(images, dir.path() + "/no-busybox");
        FAIL();
    } catch (const truman::Error& e) {
        EXPECT_EQ(e.kind(), truman::ErrorKind::not_found);
        EXPECT_NE(std::string(e.what()).find("no-busybox"), std::string::npos);
    }
    EXPECT_FALSE(find_image(images, "busybox"));
}
