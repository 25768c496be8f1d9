// Seccomp denials as events: at most ten in any second per container, by the denials' own
// times, with the held-back count in the next one that goes out; history is not replayed.
#include "seccomp_events.hpp"

#include <gtest/gtest.h>

#include "test_support.hpp"
#include "truman/daemon/time_format.hpp"

using namespace truman::daemon;
using truman::test::TempDir;

namespace {

timespec at(time_t sec, long nsec = 0) {
    return timespec{sec, nsec};
}

SeccompRecord denial(const std::string& syscall, const timespec& when) {
    SeccompRecord r;
    r.time = rfc3339(when);
    r.pid = 7;
    r.syscall = syscall;
    r.nr = 1;
    r.action = "errno";
    r.error = "EPERM";
    return r;
}

}  // namespace

TEST(SeccompRateLimit, TenInAnySecondThenTheNextCountsTheRest) {
    SeccompRateLimit limit;
    int admitted = 0;
    for (int i = 0; i < 25; ++i)
        if (auto held = limit.admit(at(100, i * 1000))) {
            EXPECT_EQ(*held, 0U);
            ++admitted;
        }
    EXPECT_EQ(admitted, 10);
    // Still within a second of the first admitted one.
    EXPECT_FALSE(limit.admit(at(100, 999999999)));
    // A second after the first: admitted, carrying the 16 held back.
    auto next = limit.admit(at(101, 0));
    ASSERT_TRUE(next);
    EXPECT_EQ(*next, 16U);
    EXPECT_EQ(*limit.admit(at(101, 1000)), 0U);  // the second admitted one's slot is free too
}

TEST(SeccompRateLimit, ASlowCallerIsNeverHeldBack) {
    SeccompRateLimit limit;
    for (int i = 0; i < 100; ++i) {
        auto held = limit.admit(at(200 + i / 5, (i % 5) * 100000000L));
        ASSERT_TRUE(held) << i;
        EXPECT_EQ(*held, 0U);
    }
}

TEST(SeccompEvents, StartsAtTheEndAndLimitsWhatFollows) {
    TempDir dir;
    std::string path = dir.path() + "/seccomp.log";
    SeccompLogWriter writer(path);
    writer.append(denial("mount", at(50)));  // before: not news
    SeccompEvents events(path);
    EXPECT_TRUE(events.take("id", "web").empty());
    for (int i = 0; i < 30; ++i) writer.append(denial(i % 2 ? "keyctl" : "unshare", at(60, i)));
    writer.append(denial("mount", at(62)));
    auto out = events.take("id", "web");
    ASSERT_EQ(out.size(), 11U);
    EXPECT_EQ(out[0].type, "seccomp");
    EXPECT_EQ(out[0].id, "id");
    EXPECT_EQ(out[0].name, "web");
    EXPECT_EQ(out[0].syscall, "unshare");
    EXPECT_EQ(out[0].pid, 7);
    EXPECT_EQ(out[0].error, "EPERM");
    EXPECT_EQ(out[0].suppressed, 0U);
    EXPECT_EQ(out[10].syscall, "mount");
    EXPECT_EQ(out[10].suppressed, 20U);
    EXPECT_TRUE(events.take("id", "web").empty());
}
