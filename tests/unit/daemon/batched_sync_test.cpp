// BatchedSync: records handed to it are synced once each, off the caller's thread, and what
// is gone by then is skipped without an error.
#include "truman/daemon/batched_sync.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "test_support.hpp"
#include "truman/daemon/atomic_file.hpp"

namespace fs = std::filesystem;
using truman::daemon::BatchedSync;
using truman::daemon::write_file_replace;
using truman::test::TempDir;

TEST(BatchedSync, SyncsEveryPathHandedToIt) {
    TempDir dir;
    BatchedSync sync("test");
    for (int i = 0; i < 5; ++i) {
        std::string path = dir.path() + "/r" + std::to_string(i);
        write_file_replace(path, "record " + std::to_string(i) + "\n");
        sync.add(path);
    }
    sync.flush();
    EXPECT_EQ(sync.synced(), 5u);
    std::ifstream in(dir.path() + "/r3");
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line, "record 3");
}

TEST(BatchedSync, APathAddedTwiceBeforeItsBatchIsSyncedOnceOrTwiceNeverLost) {
    TempDir dir;
    BatchedSync sync("test");
    std::string path = dir.path() + "/state.json";
    for (int i = 0; i < 100; ++i) {
        write_file_replace(path, std::to_string(i));
        sync.add(path);
    }
    sync.flush();
    EXPECT_GE(sync.synced(), 1u);
    EXPECT_LE(sync.synced(), 100u);
}

TEST(BatchedSync, ARecordRemovedWithItsDirectoryIsSkipped) {
    TempDir dir;
    std::string sub = dir.path() + "/container";
    fs::create_directories(sub);
    write_file_replace(sub + "/meta.json", "{}");
    BatchedSync sync("test");
    fs::remove_all(sub);
    sync.add(sub + "/meta.json");
    sync.flush();
    EXPECT_EQ(sync.synced(), 1u);
}

TEST(BatchedSync, TheDestructorSyncsWhatIsPending) {
    TempDir dir;
    std::string path = dir.path() + "/last";
    write_file_replace(path, "x");
    {
        BatchedSync sync("test");
        sync.add(path);
    }  // must not hang nor drop it: nothing to assert but the return and no sanitizer finding
    EXPECT_TRUE(fs::exists(path));
}
