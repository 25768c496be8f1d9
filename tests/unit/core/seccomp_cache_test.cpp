#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "test_support.hpp"
#include "truman/seccomp.hpp"

using namespace truman;

namespace {
bool same(const SeccompProgram& a, const SeccompProgram& b) {
    return a.filter.size() == b.filter.size() &&
           std::memcmp(a.filter.data(), b.filter.data(), a.filter.size() * sizeof(sock_filter)) ==
               0 &&
           a.needs_listener == b.needs_listener && a.notify_errno == b.notify_errno &&
           a.default_notify_errno == b.default_notify_errno;
}
}  // namespace

TEST(SeccompCache, DiskCacheGivesTheCompiledProgramBack) {
    test::TempDir dir;
    Seccomp profile = default_seccomp_profile();
    profile.syscalls.push_back({{"uname"}, "SCMP_ACT_ERRNO", 38u, {}});  // a key of its own
    SeccompProgram compiled = compile_seccomp(profile);
    SeccompProgram first = cached_seccomp(profile, dir.path());
    EXPECT_TRUE(same(compiled, first));
    size_t files = 0;
    std::string file;
    for (auto& e : std::filesystem::directory_iterator(dir.path())) {
        ++files;
        file = e.path();
    }
    ASSERT_EQ(files, 1u) << "one cache file, no temporary left";
    // Another process (here: another cache directory, which the memory cache keys apart)
    // loads the file instead of compiling; a torn file is ignored and replaced, never trusted.
    test::TempDir intact, torn;
    std::string name = std::filesystem::path(file).filename();
    std::filesystem::copy_file(file, intact.path() + "/" + name);
    std::filesystem::copy_file(file, torn.path() + "/" + name);
    auto full_size = std::filesystem::file_size(file);
    std::filesystem::resize_file(torn.path() + "/" + name, 100);
    EXPECT_TRUE(same(compiled, cached_seccomp(profile, intact.path())));
    EXPECT_TRUE(same(compiled, cached_seccomp(profile, torn.path())));
    EXPECT_EQ(std::filesystem::file_size(torn.path() + "/" + name), full_size);
}

TEST(SeccompCache, DifferentProfilesGetDifferentPrograms) {
    Seccomp a = default_seccomp_profile();
    Seccomp b = a;
    b.syscalls.push_back({{"uname"}, "SCMP_ACT_ERRNO", 40u, {}});
    EXPECT_FALSE(same(cached_seccomp(a), cached_seccomp(b)));
    EXPECT_TRUE(same(cached_seccomp(a), compile_seccomp(a)));
}
