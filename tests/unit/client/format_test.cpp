// trumanctl's presentation logic: durations, status text, sizes, CPUs, signals, tables.
#include "truman/client/format.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <stdexcept>

namespace truman::client {
namespace {

using nlohmann::json;

TEST(TrumanctlFormat, ParsesTheDaemonsRfc3339Times) {
    EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:00Z"), 0);
    EXPECT_EQ(parse_rfc3339("2026-11-29T13:32:29.123456789Z"), 1795959149);
    EXPECT_EQ(parse_rfc3339("2026-11-29T13:32:29Z"), 1795959149);
    EXPECT_FALSE(parse_rfc3339(""));
    EXPECT_FALSE(parse_rfc3339("2026-11-29 13:32:29"));
    EXPECT_FALSE(parse_rfc3339("2026-11-29T13:32:29.5+01:00"));
    EXPECT_FALSE(parse_rfc3339("2026-11-29T13:32:29Zjunk"));
}

TEST(TrumanctlFormat, HumanDurationsUseDockersWords) {
    EXPECT_EQ(human_duration(0), "Less than a second");
    EXPECT_EQ(human_duration(1), "1 second");
    EXPECT_EQ(human_duration(5), "5 seconds");
    EXPECT_EQ(human_duration(59), "59 seconds");
    EXPECT_EQ(human_duration(60), "About a minute");
    EXPECT_EQ(human_duration(119), "About a minute");
    EXPECT_EQ(human_duration(120), "2 minutes");
    EXPECT_EQ(human_duration(59 * 60), "59 minutes");
    EXPECT_EQ(human_duration(3600), "About an hour");
    EXPECT_EQ(human_duration(5 * 3600), "5 hours");
    EXPECT_EQ(human_duration(3 * 86400), "3 days");
    EXPECT_EQ(human_duration(15 * 86400), "2 weeks");
    EXPECT_EQ(human_duration(120 * 86400), "4 months");
    EXPECT_EQ(human_duration(800 * 86400), "2 years");
}

TEST(TrumanctlFormat, StatusTextForEachState) {
    std::time_t now = *parse_rfc3339("2026-01-01T00:10:00Z");
    EXPECT_EQ(status_text(json{{"status", "created"}}, now), "Created");
    EXPECT_EQ(
        status_text(json{{"status", "running"}, {"started_at", "2026-01-01T00:09:55.1Z"}}, now),
        "Up 5 seconds");
    EXPECT_EQ(status_text(json{{"status", "exited"},
                               {"exit_code", 3},
                               {"finished_at", "2026-01-01T00:08:00.000000001Z"}},
                          now),
              "Exited (3) 2 minutes ago");
    // A clock that went backwards is never a negative duration.
    EXPECT_EQ(status_text(json{{"status", "running"}, {"started_at", "2026-01-01T01:00:00Z"}}, now),
              "Up Less than a second");
    EXPECT_EQ(
        status_text(json{{"status", "exited"}, {"exit_code", nullptr}, {"finished_at", ""}}, now),
        "Exited (?)");
    EXPECT_EQ(time_ago("2026-01-01T00:07:00Z", now), "3 minutes ago");
    EXPECT_EQ(time_ago("garbage", now), "");
}

TEST(TrumanctlFormat, CommandIsQuotedAndTruncated) {
    EXPECT_EQ(quoted_command({"sh", "-c", "exit 7"}), "\"sh -c exit 7\"");
    EXPECT_EQ(quoted_command({"sh", "-c", "while true; do sleep 1; done"}),
              "\"sh -c while true; d…\"");
    EXPECT_EQ(quoted_command({}), "\"\"");
    // The cut never splits a multi-byte character.
    EXPECT_EQ(quoted_command({"ééééé"}, 4), "\"é…\"");
    EXPECT_EQ(short_id("0123456789abcdef0123"), "0123456789ab");
    EXPECT_EQ(short_id("abc"), "abc");
}

TEST(TrumanctlFormat, SizesInBinaryUnits) {
    EXPECT_EQ(parse_size("1024"), 1024);
    EXPECT_EQ(parse_size("512b"), 512);
    EXPECT_EQ(parse_size("4k"), 4096);
    EXPECT_EQ(parse_size("128m"), 128LL << 20);
    EXPECT_EQ(parse_size("128M"), 128LL << 20);
    EXPECT_EQ(parse_size("64MiB"), 64LL << 20);
    EXPECT_EQ(parse_size("2GB"), 2LL << 30);
    EXPECT_EQ(parse_size("1t"), 1LL << 40);
    for (const char* bad : {"", "m", "-1m", "1.5g", "12x", "1 m", "99999999999999999999"})
        EXPECT_THROW(parse_size(bad), std::invalid_argument) << bad;
    EXPECT_THROW(parse_size("9000000000000t"), std::invalid_argument);
    try {
        parse_size("12x");
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("\"12x\""), std::string::npos) << e.what();
    }
}

TEST(TrumanctlFormat, CpusBecomeAQuotaPerPeriod) {
    EXPECT_EQ(cpus_to_quota("1"), 100000);
    EXPECT_EQ(cpus_to_quota("0.5"), 50000);
    EXPECT_EQ(cpus_to_quota("2.25"), 225000);
    for (const char* bad : {"", "0", "-1", "abc", "1x", "0.001"})
        EXPECT_THROW(cpus_to_quota(bad), std::invalid_argument) << bad;
}

TEST(TrumanctlFormat, SignalNamesAndNumbers) {
    EXPECT_EQ(parse_signal("KILL"), SIGKILL);
    EXPECT_EQ(parse_signal("sigterm"), SIGTERM);
    EXPECT_EQ(parse_signal("SIGHUP"), SIGHUP);
    EXPECT_EQ(parse_signal("usr1"), SIGUSR1);
    EXPECT_EQ(parse_signal("9"), 9);
    EXPECT_EQ(parse_signal("RTMIN"), SIGRTMIN);
    EXPECT_EQ(parse_signal("RTMIN+2"), SIGRTMIN + 2);
    EXPECT_EQ(parse_signal("SIGRTMAX-1"), SIGRTMAX - 1);
    for (const char* bad : {"", "0", "65", "1000", "BOGUS", "SIG", "RTMIN+99", "RTMIN-1", "-9"})
        EXPECT_THROW(parse_signal(bad), std::invalid_argument) << bad;
}

TEST(TrumanctlFormat, TableColumnsAreAligned) {
    std::string table = format_table(
        {{"ID", "NAME", "STATUS"}, {"abc", "x", "Up 5 seconds"}, {"a", "longer-name", "Created"}});
    EXPECT_EQ(table,
              "ID    NAME          STATUS\n"
              "abc   x             Up 5 seconds\n"
              "a     longer-name   Created\n");
    // "…" is one column wide, not three bytes.
    EXPECT_EQ(format_table({{"C", "D"}, {"\"a…\"", "x"}}), "C      D\n\"a…\"   x\n");
    EXPECT_EQ(format_table({}), "");
}

}  // namespace
}  // namespace truman::client
