// trumanctl denials: one readable line per seccomp record.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "truman/client/format.hpp"

using nlohmann::json;
using truman::client::denial_text;

TEST(DenialText, ADenialNamesTimePidCommandCallAndErrno) {
    json r = {{"time", "2026-11-29T12:00:01.123456789Z"},
              {"pid", 7},
              {"comm", "sh"},
              {"syscall", "mount"},
              {"errno", "EPERM"},
              {"action", "errno"}};
    EXPECT_EQ(denial_text(r), "12:00:01 pid 7 (sh) mount → EPERM");
}

TEST(DenialText, KillsAndDropNotesReadAsWhatTheyAre) {
    json kill = {{"time", "2026-11-29T12:00:02.0Z"},
                 {"pid", 1},
                 {"comm", ""},
                 {"syscall", "unknown"},
                 {"errno", nullptr},
                 {"action", "kill"}};
    EXPECT_EQ(denial_text(kill), "12:00:02 pid 1 killed by SIGSYS");
    json note = {{"time", "2026-11-29T12:00:03.0Z"}, {"dropped", 1234}};
    EXPECT_EQ(denial_text(note), "12:00:03 (1234 older denials dropped)");
}
