// container.log: encoding, line splitting, rotation at the cap, and following a rotating file.
#include "truman/daemon/container_log.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "test_support.hpp"
#include "truman/daemon/time_format.hpp"

namespace fs = std::filesystem;
using namespace truman::daemon;
using truman::test::TempDir;

namespace {

std::vector<std::string> texts(const std::vector<LogLine>& lines) {
    std::vector<std::string> out;
    for (const auto& l : lines) out.push_back(l.stream + ":" + l.text);
    return out;
}

}  // namespace

TEST(ContainerLog, EncodesOneJsonRecordPerLine) {
    std::string record =
        encode_log_line({"stderr", "2026-11-29T12:00:00.000000001Z", "a \"b\"\tc"});
    EXPECT_EQ(record,
              "{\"log\":\"a \\\"b\\\"\\tc\",\"stream\":\"stderr\","
              "\"time\":\"2026-11-29T12:00:00.000000001Z\"}\n");
    auto back = decode_log_line(record);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->stream, "stderr");
    EXPECT_EQ(back->text, "a \"b\"\tc");
    EXPECT_EQ(back->time, "2026-11-29T12:00:00.000000001Z");
}

TEST(ContainerLog, InvalidUtf8IsReplacedNotAnError) {
    std::string record = encode_log_line({"stdout", "t", std::string("ok\xff\xfe end")});
    auto back = decode_log_line(record);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->text, "ok\xEF\xBF\xBD\xEF\xBF\xBD end");
}

TEST(ContainerLog, TornOrForeignRecordsAreIgnored) {
    EXPECT_FALSE(decode_log_line("{\"time\":\"t\",\"stream\":\"stdout\",\"lo"));
    EXPECT_FALSE(decode_log_line("[1,2]"));
    EXPECT_FALSE(decode_log_line("{\"time\":1,\"stream\":\"stdout\",\"log\":\"x\"}"));
}

TEST(ContainerLog, WriterSplitsOnNewlinesAndFlushesPartialLines) {
    TempDir dir;
    std::string path = dir.path() + "/container.log";
    {
        LogWriter writer(path);
        writer.append("stdout", "one\ntw");
        writer.append("stderr", "err1\n");
        writer.append("stdout", "o\n\nthree");  // an empty line is a line too
        writer.append("stderr", "partial");
        EXPECT_EQ(texts(read_log_lines(path)),
                  (std::vector<std::string>{"stdout:one", "stderr:err1", "stdout:two", "stdout:"}));
        writer.flush();
    }
    EXPECT_EQ(texts(read_log_lines(path)),
              (std::vector<std::string>{"stdout:one", "stderr:err1", "stdout:two",
                                        "stdout:", "stdout:three", "stderr:partial"}));
    struct stat st {};
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(ContainerLog, VeryLongLinesAreCut) {
    TempDir dir;
    std::string path = dir.path() + "/container.log";
    LogWriter writer(path);
    writer.append("stdout", std::string(max_log_line_bytes * 2 + 10, 'x'));
    writer.flush();
    auto lines = read_log_lines(path);
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[0].text.size(), max_log_line_bytes);
    EXPECT_EQ(lines[2].text.size(), 10u);
}

TEST(ContainerLog, RotatesAtTheCapKeepingOneOldFile) {
    TempDir dir;
    std::string path = dir.path() + "/container.log";
    const uint64_t cap = 1000;
    LogWriter writer(path, cap);
    for (int i = 0; i < 100; ++i) writer.append("stdout", "line " + std::to_string(i) + "\n");
    ASSERT_TRUE(fs::exists(path + ".1"));
    EXPECT_LE(fs::file_size(path), cap);
    EXPECT_LE(fs::file_size(path + ".1"), cap);
    EXPECT_FALSE(fs::exists(path + ".2"));
    // What is kept is the newest lines, in order, without a gap.
    auto lines = read_log_lines(path);
    ASSERT_FALSE(lines.empty());
    EXPECT_EQ(lines.back().text, "line 99");
    int first = std::stoi(lines.front().text.substr(5));
    for (size_t i = 0; i < lines.size(); ++i)
        EXPECT_EQ(lines[i].text, "line " + std::to_string(first + static_cast<int>(i)));
    EXPECT_GT(first, 0);
}

TEST(ContainerLog, ReaderFollowsAppendsPartialRecordsAndRotation) {
    TempDir dir;
    std::string path = dir.path() + "/container.log";
    LogReader reader(path);
    EXPECT_TRUE(reader.read_available().empty());  // no file yet

    LogWriter writer(path, 400);
    writer.append("stdout", "a\n");
    EXPECT_EQ(texts(reader.read_available()), std::vector<std::string>{"stdout:a"});
    EXPECT_TRUE(reader.read_available().empty());

    // Half a record (a writer caught mid-write) is held back until it is complete.
    std::string record = encode_log_line({"stderr", "t", "half"});
    {
        std::ofstream out(path, std::ios::app);
        out << record.substr(0, 10);
    }
    EXPECT_TRUE(reader.read_available().empty());
    {
        std::ofstream out(path, std::ios::app);
        out << record.substr(10);
    }
    EXPECT_EQ(texts(reader.read_available()), std::vector<std::string>{"stderr:half"});

    // Enough lines to rotate once: the reader finishes the old file, then reads the new one.
    std::vector<std::string> expected;
    for (int i = 0; i < 6; ++i) {
        writer.append("stdout", "n" + std::to_string(i) + "\n");
        expected.push_back("stdout:n" + std::to_string(i));
    }
    ASSERT_TRUE(fs::exists(path + ".1"));
    EXPECT_EQ(texts(reader.read_available()), expected);
}

TEST(ContainerLog, FilterKeepsStreamsThenTail) {
    std::vector<LogLine> lines = {{"stdout", "t", "1"},
                                  {"stderr", "t", "2"},
                                  {"stdout", "t", "3"},
                                  {"stderr", "t", "4"},
                                  {"stdout", "t", "5"}};
    LogOptions all;
    EXPECT_EQ(filter_log_lines(lines, all).size(), 5u);
    LogOptions out_only;
    out_only.stderr_stream = false;
    EXPECT_EQ(texts(filter_log_lines(lines, out_only)),
              (std::vector<std::string>{"stdout:1", "stdout:3", "stdout:5"}));
    LogOptions tail2 = out_only;
    tail2.tail = 2;
    EXPECT_EQ(texts(filter_log_lines(lines, tail2)),
              (std::vector<std::string>{"stdout:3", "stdout:5"}));
    LogOptions tail0;
    tail0.tail = 0;
    EXPECT_TRUE(filter_log_lines(lines, tail0).empty());
    LogOptions big_tail;
    big_tail.tail = 100;
    EXPECT_EQ(filter_log_lines(lines, big_tail).size(), 5u);
}

TEST(ContainerLog, TimestampsAreRfc3339UtcWithNanoseconds) {
    EXPECT_EQ(rfc3339({0, 5}), "1970-01-01T00:00:00.000000005Z");
    EXPECT_EQ(rfc3339({1798546716, 123456789}), "2026-12-29T12:18:36.123456789Z");
    EXPECT_EQ(rfc3339_now().size(), 30u);
}
