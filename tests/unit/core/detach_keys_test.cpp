// Detach keys: Docker's notation, and a matcher that passes on everything that turns out not
// to be the sequence, in order, without losing a byte that starts the next attempt.
#include "truman/detach_keys.hpp"

#include <gtest/gtest.h>

#include <string>

#include "truman/error.hpp"

namespace truman {
namespace {

TEST(DetachKeys, ParsesDockerNotation) {
    EXPECT_EQ(parse_detach_keys(kDefaultDetachKeys), "\x10\x11");
    EXPECT_EQ(parse_detach_keys("ctrl-a"), "\x01");
    EXPECT_EQ(parse_detach_keys("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_"),
              std::string("\x00\x1b\x1c\x1d\x1e\x1f", 6));
    EXPECT_EQ(parse_detach_keys("a,b,ctrl-z"), "ab\x1a");
}

TEST(DetachKeys, RefusesUnknownKeys) {
    for (const char* bad :
         {"", "ctrl-1", "alt-x", "ctrl-", "ctrl-ab", "ab", "ctrl-p,", ",", "ctrl-A"}) {
        try {
            parse_detach_keys(bad);
            ADD_FAILURE() << "accepted \"" << bad << "\"";
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::invalid) << bad;
            EXPECT_EQ(e.field(), "detach_keys") << bad;
        }
    }
}

TEST(DetachMatcher, PassesOrdinaryInputThrough) {
    DetachMatcher m("\x10\x11");
    std::string out;
    EXPECT_FALSE(m.feed("echo hi\n", out));
    EXPECT_EQ(out, "echo hi\n");
    EXPECT_EQ(m.flush(), "");
}

TEST(DetachMatcher, DetachesOnTheSequenceAndDropsWhatFollows) {
    DetachMatcher m("\x10\x11");
    std::string out;
    EXPECT_TRUE(m.feed("ls\x10\x11more", out));
    EXPECT_EQ(out, "ls");
}

TEST(DetachMatcher, HoldsAPrefixAcrossFeeds) {
    DetachMatcher m("\x10\x11");
    std::string out;
    EXPECT_FALSE(m.feed("a\x10", out));
    EXPECT_EQ(out, "a");  // the ctrl-p is held: it may be the start of a detach
    EXPECT_TRUE(m.feed("\x11", out));
    EXPECT_EQ(out, "a");
}

TEST(DetachMatcher, BrokenPrefixIsPassedOnInOrder) {
    DetachMatcher m("\x10\x11");
    std::string out;
    EXPECT_FALSE(m.feed("\x10x", out));
    EXPECT_EQ(out, "\x10x");
}

TEST(DetachMatcher, ByteThatBreaksOneAttemptStartsTheNext) {
    DetachMatcher m("\x10\x11");
    std::string out;
    EXPECT_TRUE(m.feed("\x10\x10\x11", out));
    EXPECT_EQ(out, "\x10");

    // A sequence that overlaps itself: "aab" typed as "aaab".
    DetachMatcher overlap("aab");
    std::string out2;
    EXPECT_TRUE(overlap.feed("aaab", out2));
    EXPECT_EQ(out2, "a");
}

TEST(DetachMatcher, FlushReturnsAHeldPrefixAtEndOfInput) {
    DetachMatcher m("\x10\x11");
    std::string out;
    EXPECT_FALSE(m.feed("x\x10", out));
    EXPECT_EQ(out, "x");
    EXPECT_EQ(m.flush(), "\x10");
    EXPECT_EQ(m.flush(), "");
}

TEST(DetachMatcher, EmptySequenceIsRefused) {
    EXPECT_THROW(DetachMatcher(""), Error);
}

}  // namespace
}  // namespace truman
