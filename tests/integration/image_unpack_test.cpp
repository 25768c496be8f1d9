// Unpacking image layers, hostile ones included, on the real filesystem as root: what a
// layer holds arrives with its owners, modes, times, xattrs and devices; whiteouts become
// overlayfs's; every escape is refused naming the entry, and nothing lands outside.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "test_support.hpp"
#include "truman/daemon/images/digest.hpp"
#include "truman/daemon/images/layer_unpack.hpp"
#include "truman/daemon/images/tar_writer.hpp"
#include "truman/error.hpp"
#include "truman/fd.hpp"

namespace fs = std::filesystem;
using namespace truman::daemon::images;
using truman::test::TempDir;

namespace {

ByteSource bytes_of(std::string data) {
    auto state = std::make_shared<std::pair<std::string, size_t>>(std::move(data), 0);
    return [state](void* buf, size_t size) {
        size_t n = std::min(size, state->first.size() - state->second);
        std::memcpy(buf, state->first.data() + state->second, n);
        state->second += n;
        return n;
    };
}

// A layer directory and, beside it, an "outside" with a file that must stay untouched.
struct Target {
    TempDir dir;
    std::string layer = dir.path() + "/layer";
    std::string outside = dir.path() + "/outside";
    truman::Fd fd;

    Target() {
        fs::create_directories(layer);
        fs::create_directories(outside);
        std::ofstream(outside + "/secret") << "untouched";
        fd.reset(open(layer.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    }
    UnpackedLayer unpack(const std::string& tar) { return unpack_layer(bytes_of(tar), fd.get()); }
    // Only the secret, as it was.
    bool outside_intact() const {
        size_t n = std::distance(fs::directory_iterator(outside), fs::directory_iterator{});
        return n == 1 && truman::test::read_file(outside + "/secret") == "untouched" &&
               std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator{}) == 2;
    }
};

// Unpacking `tar` fails with an invalid error naming `entry`, and writes nothing outside.
void expect_refused(const std::string& tar, const std::string& entry, const std::string& why) {
    Target t;
    try {
        t.unpack(tar);
        ADD_FAILURE() << "unpacked a layer with " << entry;
    } catch (const truman::Error& e) {
        EXPECT_EQ(e.kind(), truman::ErrorKind::invalid) << e.what();
        EXPECT_NE(std::string(e.what()).find("\"" + entry + "\""), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
    EXPECT_TRUE(t.outside_intact());
}

std::string file_capability(uint32_t cap) {
    vfs_cap_data data{};
    data.magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE;
    data.data[0].permitted = 1u << cap;
    return std::string(reinterpret_cast<const char*>(&data), sizeof data);
}

}  // namespace

TEST(ImageUnpack, KeepsOwnersModesTimesXattrsDevicesAndLinks) {
    TarWriter w(Compression::gzip);
    w.directory("usr", {.mode = 0750, .uid = 12, .gid = 34, .mtime = 1000000});
    w.directory("usr/bin", {.mode = 0755, .mtime = 2000000});
    w.file("usr/bin/ping", "ping!",
           {.mode = 04755,
            .uid = 0,
            .gid = 0,
            .mtime = 3000000,
            .xattrs = {{"security.capability", file_capability(13)}}});
    w.file("usr/bin/tool", "tool", {.mode = 02711, .uid = 1000, .gid = 1001, .mtime = 4000000});
    w.hardlink("usr/bin/tool2", "usr/bin/tool");
    w.symlink("usr/bin/sh", "/bin/busybox", {.uid = 5, .gid = 6, .mtime = 5000000});
    w.node("dev/null", 'c', 1, 3, {.mode = 0666});
    w.node("dev/sda", 'b', 8, 0, {.mode = 0660, .gid = 6});
    w.node("run/fifo", 'p', 0, 0, {.mode = 0620});
    w.file("etc/hosts", "implied parents");
    w.directory("tmp", {.mode = 01777});
    std::string tar = w.finish();

    Target t;
    UnpackedLayer u = t.unpack(tar);
    EXPECT_EQ(u.compressed_digest, sha256_digest(tar));
    EXPECT_EQ(u.compressed_size, tar.size());
    EXPECT_EQ(u.entries, 11u);
    struct stat st {};
    ASSERT_EQ(lstat((t.layer + "/usr").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0750u);
    EXPECT_EQ(st.st_uid, 12u);
    EXPECT_EQ(st.st_gid, 34u);
    EXPECT_EQ(st.st_mtim.tv_sec, 1000000);  // set after usr/bin was written into it
    ASSERT_EQ(lstat((t.layer + "/usr/bin/ping").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 04755u);
    EXPECT_EQ(st.st_mtim.tv_sec, 3000000);
    EXPECT_EQ(truman::test::read_file(t.layer + "/usr/bin/ping"), "ping!");
    char cap[64];
    ssize_t n =
        lgetxattr((t.layer + "/usr/bin/ping").c_str(), "security.capability", cap, sizeof cap);
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string(cap, static_cast<size_t>(n)), file_capability(13));
    struct stat tool {};
    ASSERT_EQ(lstat((t.layer + "/usr/bin/tool").c_str(), &tool), 0);
    EXPECT_EQ(tool.st_mode & 07777, 02711u);
    EXPECT_EQ(tool.st_uid, 1000u);
    EXPECT_EQ(tool.st_gid, 1001u);
    EXPECT_EQ(tool.st_nlink, 2u);
    ASSERT_EQ(lstat((t.layer + "/usr/bin/tool2").c_str(), &st), 0);
    EXPECT_EQ(st.st_ino, tool.st_ino);
    ASSERT_EQ(lstat((t.layer + "/usr/bin/sh").c_str(), &st), 0);
    EXPECT_TRUE(S_ISLNK(st.st_mode));
    EXPECT_EQ(st.st_uid, 5u);
    EXPECT_EQ(st.st_mtim.tv_sec, 5000000);
    EXPECT_EQ(fs::read_symlink(t.layer + "/usr/bin/sh"), "/bin/busybox");
    ASSERT_EQ(lstat((t.layer + "/dev/null").c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode));
    EXPECT_EQ(st.st_rdev, makedev(1, 3));
    EXPECT_EQ(st.st_mode & 07777, 0666u);
    ASSERT_EQ(lstat((t.layer + "/dev/sda").c_str(), &st), 0);
    EXPECT_TRUE(S_ISBLK(st.st_mode));
    EXPECT_EQ(st.st_rdev, makedev(8, 0));
    EXPECT_EQ(st.st_gid, 6u);
    ASSERT_EQ(lstat((t.layer + "/run/fifo").c_str(), &st), 0);
    EXPECT_TRUE(S_ISFIFO(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0620u);
    ASSERT_EQ(lstat((t.layer + "/etc").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0755u);
    ASSERT_EQ(lstat((t.layer + "/tmp").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 01777u);
    EXPECT_TRUE(t.outside_intact());
}

TEST(ImageUnpack, DigestsCoverCompressedAndUncompressedStreams) {
    for (Compression c : {Compression::none, Compression::gzip, Compression::zstd}) {
        TarWriter plain;
        plain.file("a", std::string(300000, 'x'));
        std::string tar = plain.finish();
        TarWriter packed(c);
        packed.file("a", std::string(300000, 'x'));
        std::string blob = packed.finish();
        Target t;
        UnpackedLayer u = t.unpack(blob);
        EXPECT_EQ(u.diff_id, sha256_digest(tar)) << static_cast<int>(c);
        EXPECT_EQ(u.size, tar.size());
        EXPECT_EQ(u.compressed_digest, sha256_digest(blob));
        EXPECT_EQ(fs::file_size(t.layer + "/a"), 300000u);
    }
    // Bytes after the tar's end marker are part of the stream, so part of its digest.
    TarWriter w;
    w.file("a", "x");
    std::string padded = w.finish() + std::string(4096, '\0');
    Target t;
    EXPECT_EQ(t.unpack(padded).diff_id, sha256_digest(padded));
}

TEST(ImageUnpack, WhiteoutsBecomeOverlayWhiteouts) {
    TarWriter w;
    w.directory("etc");
    w.file("etc/.wh.gone", "");
    w.directory("var/cache");
    w.file("var/cache/.wh..wh..opq", "");
    w.file("var/cache/kept", "new");
    w.file(".wh..wh.plnk", "");  // aufs's bookkeeping: ignored
    Target t;
    t.unpack(w.finish());
    struct stat st {};
    ASSERT_EQ(lstat((t.layer + "/etc/gone").c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode));
    EXPECT_EQ(st.st_rdev, makedev(0, 0));
    EXPECT_FALSE(fs::exists(t.layer + "/etc/.wh.gone"));
    char value[4] = {};
    EXPECT_EQ(getxattr((t.layer + "/var/cache").c_str(), "trusted.overlay.opaque", value, 4), 1);
    EXPECT_EQ(value[0], 'y');
    EXPECT_FALSE(fs::exists(t.layer + "/var/cache/.wh..wh..opq"));
    EXPECT_TRUE(fs::exists(t.layer + "/var/cache/kept"));
    EXPECT_FALSE(fs::exists(t.layer + "/.wh..wh.plnk"));
}

TEST(ImageUnpack, ForgedOverlayXattrsAreDropped) {
    TarWriter w;
    w.directory(
        "d", {.mode = 0755,
              .xattrs = {{"trusted.overlay.redirect", "/etc"}, {"trusted.overlay.opaque", "y"}}});
    Target t;
    t.unpack(w.finish());
    char value[16];
    EXPECT_LT(getxattr((t.layer + "/d").c_str(), "trusted.overlay.redirect", value, 16), 0);
    EXPECT_LT(getxattr((t.layer + "/d").c_str(), "trusted.overlay.opaque", value, 16), 0);
}

TEST(ImageUnpack, PathEscapesAreRefusedNamingTheEntry) {
    {
        TarWriter w;
        w.file("ok", "fine");
        w.file("../escape", "evil");
        expect_refused(w.finish(), "../escape", "\"..\" refused");
    }
    {
        TarWriter w;
        w.file("a/b/../../../escape", "evil");
        expect_refused(w.finish(), "a/b/../../../escape", "\"..\" refused");
    }
    {
        TarWriter w;
        w.file("/tmp/absolute", "evil");
        expect_refused(w.finish(), "/tmp/absolute", "absolute path refused");
    }
    {
        TarWriter w;
        w.file("x/.wh..", "");
        expect_refused(w.finish(), "x/.wh..", "whiteout of nothing");
    }
}

TEST(ImageUnpack, SymlinkEscapesAreRefusedEvenWhenTheTarballMadeTheLink) {
    {
        TarWriter w;
        w.symlink("out", "../outside");
        w.file("out/planted", "evil");
        expect_refused(w.finish(), "out/planted", "leads outside the layer");
    }
    {
        TarWriter w;
        w.directory("a");
        w.symlink("a/up", "../../outside");
        w.file("a/up/planted", "evil");
        expect_refused(w.finish(), "a/up/planted", "leads outside the layer");
    }
    {
        // An absolute link is not resolved against the host's root either.
        TarWriter w;
        w.symlink("abs", "/tmp");
        w.file("abs/truman-planted", "evil");
        expect_refused(w.finish(), "abs/truman-planted", "leads outside the layer");
        EXPECT_FALSE(fs::exists("/tmp/truman-planted"));
    }
    {
        TarWriter w;
        w.symlink("proc", "/proc/self/root");
        w.file("proc/etc/x", "evil");
        expect_refused(w.finish(), "proc/etc/x", "proc/etc/x");
    }
    {
        // A whiteout through an outward link would delete outside: refused too.
        TarWriter w;
        w.symlink("out", "../outside");
        w.file("out/.wh.secret", "");
        expect_refused(w.finish(), "out/.wh.secret", "leads outside the layer");
    }
    {
        // A link inside is fine, and a later entry replaces a link rather than follow it.
        TarWriter w;
        w.directory("real");
        w.symlink("in", "real");
        w.file("in/file", "inside");
        w.symlink("secret", "../outside/secret");
        w.file("secret", "replaced the link");
        Target t;
        t.unpack(w.finish());
        EXPECT_EQ(truman::test::read_file(t.layer + "/real/file"), "inside");
        EXPECT_EQ(truman::test::read_file(t.layer + "/secret"), "replaced the link");
        EXPECT_TRUE(t.outside_intact());
    }
}

TEST(ImageUnpack, HardlinksOnlyToEntriesInside) {
    {
        TarWriter w;
        w.hardlink("pw", "../outside/secret");
        expect_refused(w.finish(), "pw", "\"..\" refused");
    }
    {
        TarWriter w;
        w.hardlink("pw", "/etc/passwd");
        expect_refused(w.finish(), "pw", "absolute path refused");
    }
    {
        TarWriter w;
        w.symlink("out", "../outside");
        w.hardlink("stolen", "out/secret");
        expect_refused(w.finish(), "stolen", "not in the layer");
    }
    {
        TarWriter w;
        w.hardlink("dangling", "never-written");
        expect_refused(w.finish(), "dangling", "not in the layer");
    }
}

TEST(ImageUnpack, BrokenArchivesAreInvalid) {
    TarWriter w;
    w.file("big", std::string(100000, 'b'));
    std::string tar = w.finish();
    for (const std::string& broken :
         {tar.substr(0, 20000), std::string("not a tarball at all, just some text.........")}) {
        Target t;
        try {
            t.unpack(broken);
            ADD_FAILURE() << "unpacked a broken archive";
        } catch (const truman::Error& e) {
            EXPECT_EQ(e.kind(), truman::ErrorKind::invalid) << e.what();
        }
    }
}
