// seccomp.log: records, the cap with its one rotation and drop notes, exact counts across
// rotations, following a rotating file, since and tail.
#include "truman/daemon/seccomp_log.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "test_support.hpp"
#include "truman/daemon/time_format.hpp"
#include "truman/error.hpp"

namespace fs = std::filesystem;
using namespace truman::daemon;
using truman::test::TempDir;

namespace {

SeccompRecord denial(const std::string& syscall, const std::string& time) {
    SeccompRecord r;
    r.time = time;
    r.pid = 7;
    r.host_pid = 4242;
    r.comm = "sh";
    r.syscall = syscall;
    r.nr = 165;
    r.arch = "x86_64";
    r.action = "errno";
    r.error = "EPERM";
    r.args = {1, 2, 3, 4, 5, 0xffffffffffffffffULL};
    return r;
}

std::string at(int second) {
    timespec ts{1764417600 + second, 5};
    return rfc3339(ts);
}

}  // namespace

TEST(SeccompLog, RecordRoundTripsAsOneJsonLine) {
    std::string line = encode_seccomp_record(denial("mount", at(1)));
    ASSERT_EQ(line.back(), '\n');
    EXPECT_EQ(line.find('\n'), line.size() - 1);
    auto back = decode_seccomp_record(line);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->syscall, "mount");
    EXPECT_EQ(back->pid, 7);
    EXPECT_EQ(back->host_pid, 4242);
    EXPECT_EQ(back->comm, "sh");
    EXPECT_EQ(back->nr, 165);
    EXPECT_EQ(back->arch, "x86_64");
    EXPECT_EQ(back->action, "errno");
    EXPECT_EQ(back->error, "EPERM");
    EXPECT_EQ(back->args.back(), 0xffffffffffffffffULL);
    EXPECT_EQ(back->dropped, 0U);
}

TEST(SeccompLog, TornOrForeignLinesAreNotRecords) {
    std::string line = encode_seccomp_record(denial("mount", at(1)));
    EXPECT_FALSE(decode_seccomp_record(line.substr(0, line.size() / 2)));
    EXPECT_FALSE(decode_seccomp_record("{\"time\":\"x\"}"));
    EXPECT_FALSE(decode_seccomp_record("{\"time\":\"x\",\"syscall\":3}"));
    EXPECT_FALSE(decode_seccomp_record("[]"));
}

TEST(SeccompLog, ErrnoNamesAreSymbolic) {
    EXPECT_EQ(errno_name(EPERM), "EPERM");
    EXPECT_EQ(errno_name(ENOSYS), "ENOSYS");
    EXPECT_EQ(errno_name(100000), "100000");
}

TEST(SeccompLog, CapRotatesOnceAndSaysWhatItDropped) {
    TempDir dir;
    std::string path = dir.path() + "/seccomp.log";
    const uint64_t cap = 4096;
    const int total = 200;  // about 230 bytes each: several rotations
    {
        SeccompLogWriter writer(path, cap);
        for (int i = 0; i < total; ++i)
            writer.append(denial(i % 3 == 0 ? "keyctl" : "mount", at(i)));
    }
    EXPECT_LE(fs::file_size(path), cap);
    EXPECT_LE(fs::file_size(path + ".1"), cap);
    EXPECT_FALSE(fs::exists(path + ".2"));

    auto records = read_seccomp_log(path);
    ASSERT_FALSE(records.empty());
    // The current file starts with a note of everything discarded before the old one.
    size_t notes = 0;
    uint64_t kept = 0;
    const SeccompRecord* last_note = nullptr;
    for (const auto& r : records) {
        if (r.dropped > 0) {
            ++notes;
            last_note = &r;
        } else {
            ++kept;
        }
    }
    ASSERT_NE(last_note, nullptr);
    EXPECT_LE(notes, 2U);  // at most one per file
    EXPECT_EQ(last_note->dropped + kept, static_cast<uint64_t>(total));
    // The denials kept are the newest ones, in order.
    EXPECT_EQ(records.back().time, at(total - 1));

    auto counts = seccomp_denial_counts(records);
    EXPECT_EQ(counts["keyctl"], 67U);
    EXPECT_EQ(counts["mount"], 133U);
}

TEST(SeccompLog, AReopenedWriterKeepsCountingExactly) {
    TempDir dir;
    std::string path = dir.path() + "/seccomp.log";
    for (int round = 0; round < 4; ++round) {
        SeccompLogWriter writer(path, 2048);
        for (int i = 0; i < 25; ++i) writer.append(denial("unshare", at(round * 25 + i)));
    }
    EXPECT_EQ(seccomp_denial_counts(read_seccomp_log(path))["unshare"], 100U);
}

TEST(SeccompLog, FollowingReaderCrossesRotations) {
    TempDir dir;
    std::string path = dir.path() + "/seccomp.log";
    SeccompLogReader reader(path);
    EXPECT_TRUE(reader.read_available().empty());  // nothing yet: not an error
    SeccompLogWriter writer(path, 1024);
    size_t seen = 0;
    for (int i = 0; i < 12; ++i) {
        writer.append(denial("mount", at(i)));
        for (const auto& r : reader.read_available())
            if (r.dropped == 0) {
                EXPECT_EQ(r.time, at(static_cast<int>(seen)));
                ++seen;
            }
    }
    EXPECT_EQ(seen, 12U);
}

TEST(SeccompLog, SinceAndTailSelect) {
    std::vector<SeccompRecord> records;
    for (int i = 0; i < 10; ++i) records.push_back(denial("mount", at(i)));
    auto since = select_seccomp_records(records, at(7), std::nullopt);
    ASSERT_EQ(since.size(), 3U);
    EXPECT_EQ(since.front().time, at(7));
    auto tail = select_seccomp_records(records, "", 2);
    ASSERT_EQ(tail.size(), 2U);
    EXPECT_EQ(tail.front().time, at(8));
    EXPECT_EQ(select_seccomp_records(records, at(3), 0).size(), 0U);
}

TEST(SeccompLog, SinceAcceptsRfc3339AndUnixSecondsOnly) {
    SeccompOptions options;
    options.since = "2025-11-29T12:00:00Z";
    EXPECT_EQ(seccomp_since(options), "2025-11-29T12:00:00.000000000Z");
    options.since = "2025-11-29T13:00:00.25+01:00";
    EXPECT_EQ(seccomp_since(options), "2025-11-29T12:00:00.250000000Z");
    options.since = "1764417600.5";
    EXPECT_EQ(seccomp_since(options), "2025-11-29T12:00:00.500000000Z");
    options.since = "";
    EXPECT_EQ(seccomp_since(options), "");
    for (const char* bad : {"yesterday", "2025-11-29", "2025-11-29T12:00:00", "12.", "-5",
                            "2025-11-29T12:00:00Zjunk", "2025-11-29T12:00:00+1:00"}) {
        options.since = bad;
        try {
            seccomp_since(options);
            ADD_FAILURE() << bad << " was accepted";
        } catch (const truman::Error& e) {
            EXPECT_EQ(e.kind(), truman::ErrorKind::invalid) << bad;
            EXPECT_EQ(e.field(), "since") << bad;
        }
    }
}
