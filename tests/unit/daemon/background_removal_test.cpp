// BackgroundRemoval: directories handed to it are deleted off the caller's thread, counted
// as pending until then, and the destructor finishes what is still queued.
#include "truman/daemon/background_removal.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "test_support.hpp"

namespace fs = std::filesystem;
using truman::daemon::BackgroundRemoval;
using truman::test::TempDir;

namespace {

// A directory with a few nested files, as a container directory has.
std::string make_tree(const std::string& root, const std::string& name) {
    std::string dir = root + "/" + name;
    fs::create_directories(dir + "/upper/tmp/a");
    for (int i = 0; i < 5; ++i) std::ofstream(dir + "/upper/tmp/a/f" + std::to_string(i)) << i;
    std::ofstream(dir + "/state.json") << "{}";
    return dir;
}

}  // namespace

TEST(BackgroundRemoval, RemovesEveryDirectoryAndCountsThemUntilDone) {
    TempDir root;
    BackgroundRemoval removals;
    EXPECT_EQ(removals.pending(), 0u);
    std::vector<std::string> dirs;
    dirs.reserve(4);
    for (int i = 0; i < 4; ++i) dirs.push_back(make_tree(root.path(), "c" + std::to_string(i)));
    for (const auto& d : dirs) removals.add(d);
    EXPECT_LE(removals.pending(), dirs.size());
    removals.flush();
    EXPECT_EQ(removals.pending(), 0u);
    for (const auto& d : dirs) EXPECT_FALSE(fs::exists(d)) << d;
    EXPECT_TRUE(fs::is_empty(root.path()));
}

TEST(BackgroundRemoval, AMissingDirectoryIsNoErrorAndTheDestructorFinishesTheQueue) {
    TempDir root;
    std::vector<std::string> dirs;
    dirs.reserve(3);
    {
        BackgroundRemoval removals;
        removals.add(root.path() + "/never-made");
        for (int i = 0; i < 3; ++i) {
            dirs.push_back(make_tree(root.path(), "d" + std::to_string(i)));
            removals.add(dirs.back());
        }
    }
    for (const auto& d : dirs) EXPECT_FALSE(fs::exists(d)) << d;
}
