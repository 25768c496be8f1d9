// The daemon's on-disk state: atomic replacement and a loader that survives bad entries.
#include "truman/daemon/state_store.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "test_support.hpp"
#include "truman/daemon/atomic_file.hpp"
#include "truman/daemon/names.hpp"
#include "truman/error.hpp"

namespace fs = std::filesystem;
using namespace truman::daemon;
using truman::test::TempDir;

namespace {

std::vector<std::string> dir_entries(const std::string& dir) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
}

ContainerMeta sample_meta(const std::string& id, const std::string& name) {
    return {id,
            name,
            "busybox",
            "/var/lib/truman/containers/" + id + "/rootfs",
            {"sh", "-c", "echo hi"},
            "2026-11-29T12:00:00.000000001Z"};
}

StoredState exited_state(int code) {
    StoredState s;
    s.state.status = Status::exited;
    s.state.exit_code = code;
    s.state.signal = 0;
    s.state.started_at = "2026-11-29T12:00:01.000000000Z";
    s.state.finished_at = "2026-11-29T12:00:02.000000000Z";
    s.monitor_pid = 4242;
    return s;
}

// Writes a container directory the way the service and the monitor do.
std::string make_container(const std::string& containers, const std::string& name,
                           const StoredState& state) {
    std::string id = generate_id();
    ContainerPaths paths(containers + "/" + id);
    fs::create_directories(paths.dir());
    write_meta(paths, sample_meta(id, name));
    write_state(paths, state);
    return id;
}

}  // namespace

TEST(AtomicFile, ReplacesContentAndLeavesNoTempFile) {
    TempDir dir;
    std::string path = dir.path() + "/state.json";
    write_file_atomic(path, "first");
    write_file_atomic(path, "second, longer content", 0640);
    EXPECT_EQ(truman::test::read_file(path), "second, longer content");
    struct stat st {};
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u);
    EXPECT_EQ(dir_entries(dir.path()), std::vector<std::string>{"state.json"});
}

TEST(AtomicFile, FailureNamesThePathAndLeavesNothing) {
    TempDir dir;
    std::string path = dir.path() + "/missing-dir/state.json";
    try {
        write_file_atomic(path, "x");
        FAIL() << "expected an error";
    } catch (const truman::Error& e) {
        EXPECT_EQ(e.kind(), truman::ErrorKind::system);
        EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
    EXPECT_TRUE(dir_entries(dir.path()).empty());
}

TEST(AtomicFile, RecognisesItsTempNames) {
    EXPECT_TRUE(is_atomic_temp_name(".state.json.tmp.a1B2c3"));
    EXPECT_FALSE(is_atomic_temp_name("state.json"));
    EXPECT_FALSE(is_atomic_temp_name(".state.json"));
    EXPECT_FALSE(is_atomic_temp_name(".tmp.abcdef"));
}

TEST(AtomicFile, ReadMissingFileIsNotFound) {
    TempDir dir;
    try {
        read_whole_file(dir.path() + "/nope");
        FAIL();
    } catch (const truman::Error& e) {
        EXPECT_EQ(e.kind(), truman::ErrorKind::not_found);
    }
}

TEST(StateStore, MetaAndStateRoundTrip) {
    TempDir dir;
    std::string id = generate_id();
    ContainerPaths paths(dir.path());
    write_meta(paths, sample_meta(id, "web.1"));
    StoredState state = exited_state(137);
    state.state.signal = 9;
    state.state.oom_killed = true;
    state.reason = "monitor died";
    write_state(paths, state);

    ContainerMeta meta = read_meta(paths);
    EXPECT_EQ(meta.id, id);
    EXPECT_EQ(meta.name, "web.1");
    EXPECT_EQ(meta.image, "busybox");
    EXPECT_EQ(meta.cmd, (std::vector<std::string>{"sh", "-c", "echo hi"}));
    StoredState back = read_state(paths);
    EXPECT_EQ(back.state.status, Status::exited);
    EXPECT_EQ(back.state.exit_code, 137);
    EXPECT_EQ(back.state.signal, 9);
    EXPECT_TRUE(back.state.oom_killed);
    EXPECT_EQ(back.state.finished_at, state.state.finished_at);
    EXPECT_EQ(back.monitor_pid, 4242);
    EXPECT_EQ(back.reason, "monitor died");
}

TEST(StateStore, RunningStateHasNoExitCode) {
    TempDir dir;
    ContainerPaths paths(dir.path());
    StoredState running;
    running.state.status = Status::running;
    running.state.pid = 77;
    running.monitor_pid = 76;
    write_state(paths, running);
    StoredState back = read_state(paths);
    EXPECT_EQ(back.state.status, Status::running);
    EXPECT_EQ(back.state.pid, 77);
    EXPECT_FALSE(back.state.exit_code.has_value());
}

TEST(StateStore, CorruptStateIsAnInvalidErrorNamingTheFile) {
    TempDir dir;
    ContainerPaths paths(dir.path());
    std::ofstream(paths.state()) << "{\"status\": \"running\", \"pid\": ";
    try {
        read_state(paths);
        FAIL();
    } catch (const truman::Error& e) {
        EXPECT_EQ(e.kind(), truman::ErrorKind::invalid);
        EXPECT_NE(std::string(e.what()).find(paths.state()), std::string::npos) << e.what();
    }
    std::ofstream(paths.state(), std::ios::trunc) << "{\"status\": \"sleeping\"}";
    EXPECT_THROW(read_state(paths), truman::Error);
    std::ofstream(paths.state(), std::ios::trunc) << "{\"status\": \"exited\"}";
    EXPECT_THROW(read_state(paths), truman::Error);  // exited without an exit code
}

TEST(StateStore, LoadSkipsCorruptAndHalfWrittenEntries) {
    TempDir dir;
    std::string containers = dir.path();
    std::string good = make_container(containers, "good", exited_state(3));

    std::string corrupt = make_container(containers, "corrupt", exited_state(0));
    std::ofstream(containers + "/" + corrupt + "/state.json", std::ios::trunc) << "{\"stat";

    std::string no_meta = generate_id();  // a crash between mkdir and the first write
    fs::create_directories(containers + "/" + no_meta);

    std::string wrong_id = make_container(containers, "moved", exited_state(0));
    std::string other = generate_id();
    fs::rename(containers + "/" + wrong_id, containers + "/" + other);

    fs::create_directories(containers + "/not-a-container");
    std::ofstream(containers + "/" + good + "/.state.json.tmp.Xy12ab") << "half";

    std::vector<StoredContainer> loaded = load_containers(containers);
    ASSERT_EQ(loaded.size(), 1u);
    EXPECT_EQ(loaded[0].meta.id, good);
    EXPECT_EQ(loaded[0].state.state.exit_code, 3);
    EXPECT_FALSE(loaded[0].incomplete);
    EXPECT_FALSE(fs::exists(containers + "/" + good + "/.state.json.tmp.Xy12ab"));
    // Skipped entries are left for a human to look at, not deleted.
    EXPECT_TRUE(fs::exists(containers + "/" + corrupt));
    // Without meta.json nothing was ever started for it: removed, or it would leak forever.
    EXPECT_FALSE(fs::exists(containers + "/" + no_meta));
}

TEST(StateStore, LoadOfMissingDirectoryIsEmpty) {
    EXPECT_TRUE(load_containers("/nonexistent/truman/containers").empty());
}

TEST(StateStore, MetaWithoutStateIsReturnedIncomplete) {
    TempDir dir;
    std::string id = generate_id();
    ContainerPaths paths(dir.path() + "/" + id);
    fs::create_directories(paths.dir());
    write_meta(paths, sample_meta(id, "interrupted"));
    std::vector<StoredContainer> loaded = load_containers(dir.path());
    ASSERT_EQ(loaded.size(), 1u);
    EXPECT_TRUE(loaded[0].incomplete);
    EXPECT_EQ(loaded[0].meta.name, "interrupted");
}

// What a power loss before the batched fsync leaves of a first write: the name, no content.
TEST(StateStore, AnEmptyStateFromAPowerLossIsReadAsNoState) {
    TempDir dir;
    std::string id = generate_id();
    ContainerPaths paths(dir.path() + "/" + id);
    fs::create_directories(paths.dir());
    write_meta(paths, sample_meta(id, "cut-short"));
    std::ofstream(paths.state()).flush();  // exists, 0 bytes
    std::vector<StoredContainer> loaded = load_containers(dir.path());
    ASSERT_EQ(loaded.size(), 1u);
    EXPECT_TRUE(loaded[0].incomplete);
}

TEST(StateStore, ADirectoryWithAnEmptyMetaFromAPowerLossIsRemoved) {
    TempDir dir;
    std::string id = generate_id();
    ContainerPaths paths(dir.path() + "/" + id);
    fs::create_directories(paths.dir());
    std::ofstream(paths.meta()).flush();
    write_state(paths, exited_state(0));
    EXPECT_TRUE(load_containers(dir.path()).empty());
    EXPECT_FALSE(fs::exists(paths.dir()));
}

// A corrupt (non-empty) meta.json is not what a power loss makes: kept for a human to see.
TEST(StateStore, ACorruptMetaIsSkippedButKept) {
    TempDir dir;
    std::string id = generate_id();
    ContainerPaths paths(dir.path() + "/" + id);
    fs::create_directories(paths.dir());
    std::ofstream(paths.meta()) << "{not json";
    EXPECT_TRUE(load_containers(dir.path()).empty());
    EXPECT_TRUE(fs::exists(paths.meta()));
}

// remove() renames a directory out of its id's name before deleting it; a crash in between
// leaves it there, and the next load finishes the job without taking it for a container.
TEST(StateStore, AnInterruptedRemovalIsFinishedAtLoad) {
    TempDir dir;
    std::string kept = make_container(dir.path(), "kept", exited_state(0));
    std::string gone = make_container(dir.path(), "gone", exited_state(0));
    std::string doomed = removing_dir_name(dir.path() + "/" + gone);
    EXPECT_EQ(doomed, dir.path() + "/.removing-" + gone);
    fs::rename(dir.path() + "/" + gone, doomed);
    std::vector<StoredContainer> loaded = load_containers(dir.path());
    ASSERT_EQ(loaded.size(), 1u);
    EXPECT_EQ(loaded[0].meta.id, kept);
    EXPECT_FALSE(fs::exists(doomed));
}
