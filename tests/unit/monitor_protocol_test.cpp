// The service <-> monitor protocol: sync reports, control commands and replies.
#include "truman/daemon/monitor_protocol.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "test_support.hpp"
#include "truman/fd.hpp"

using namespace truman::daemon;
using truman::ErrorKind;

TEST(MonitorProtocol, ReportsRoundTrip) {
    MonitorReport ok = parse_report(encode_report_ok(1234, 1230));
    EXPECT_TRUE(ok.ok);
    EXPECT_EQ(ok.pid, 1234);
    EXPECT_EQ(ok.monitor_pid, 1230);
    std::string line = encode_report_error(ErrorKind::invalid, "pivot_root: Invalid argument");
    EXPECT_EQ(line.back(), '\n');
    EXPECT_EQ(line.find('\n'), line.size() - 1);
    MonitorReport err = parse_report(line);
    EXPECT_FALSE(err.ok);
    EXPECT_EQ(err.kind, ErrorKind::invalid);
    EXPECT_EQ(err.message, "pivot_root: Invalid argument");
    EXPECT_THROW(parse_report("garbage"), truman::Error);
    EXPECT_THROW(parse_report("{\"ok\":true}"), truman::Error);
}

TEST(MonitorProtocol, CommandsParseAndRejectBadSignals) {
    EXPECT_EQ(parse_command("start\n").verb, ControlCommand::Verb::start);
    ControlCommand kill = parse_command("kill 15\n");
    EXPECT_EQ(kill.verb, ControlCommand::Verb::kill);
    EXPECT_EQ(kill.signal, 15);
    EXPECT_EQ(parse_command(encode_command({ControlCommand::Verb::kill, 64})).signal, 64);
    for (const char* bad : {"kill 0", "kill 65", "kill -9", "kill x", "kill ", "stop", ""}) {
        try {
            parse_command(bad);
            ADD_FAILURE() << bad;
        } catch (const truman::Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::invalid) << bad;
        }
    }
}

TEST(MonitorProtocol, ErrorRepliesCarryKindAndMessage) {
    EXPECT_NO_THROW(check_reply("ok\n"));
    try {
        check_reply(encode_reply_error(ErrorKind::conflict, "container already\nstarted"));
        FAIL();
    } catch (const truman::Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::conflict);
        EXPECT_STREQ(e.what(), "container already started");
    }
    EXPECT_THROW(check_reply("what"), truman::Error);
    EXPECT_EQ(error_kind_from_string("not_found"), ErrorKind::not_found);
    EXPECT_EQ(error_kind_from_string("bogus"), ErrorKind::system);
}

TEST(MonitorProtocol, SendCommandOverAUnixSocket) {
    truman::test::TempDir dir;
    std::string path = dir.path() + "/monitor.sock";
    truman::Fd server(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(server);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path.c_str());
    ASSERT_EQ(bind(server.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(listen(server.get(), 4), 0);
    std::vector<std::string> received;
    std::thread peer([&] {
        for (const char* reply : {"ok\n", "error not_found execve /bin/nope: No such file\n"}) {
            truman::Fd conn(accept4(server.get(), nullptr, nullptr, SOCK_CLOEXEC));
            char buf[64] = {};
            ssize_t n = read(conn.get(), buf, sizeof buf - 1);
            received.emplace_back(buf, n > 0 ? static_cast<size_t>(n) : 0);
            (void)!write(conn.get(), reply, strlen(reply));
        }
    });
    EXPECT_NO_THROW(send_monitor_command(path, {ControlCommand::Verb::start, 0}));
    try {
        send_monitor_command(path, {ControlCommand::Verb::kill, 9});
        ADD_FAILURE();
    } catch (const truman::Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::not_found);
        EXPECT_STREQ(e.what(), "execve /bin/nope: No such file");
    }
    peer.join();
    EXPECT_EQ(received, (std::vector<std::string>{"start\n", "kill 9\n"}));
}

TEST(MonitorProtocol, UnreachableMonitorIsASystemError) {
    truman::test::TempDir dir;
    try {
        send_monitor_command(dir.path() + "/none.sock", {ControlCommand::Verb::start, 0});
        FAIL();
    } catch (const truman::Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::system);
        EXPECT_NE(std::string(e.what()).find("none.sock"), std::string::npos);
    }
}
