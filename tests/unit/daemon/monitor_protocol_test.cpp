// The service <-> monitor protocol: start-up replies, control commands and their replies.
#include "truman/daemon/monitor_protocol.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <utility>

#include "test_support.hpp"
#include "truman/fd.hpp"

using namespace truman::daemon;
using truman::ErrorKind;

TEST(MonitorProtocol, StartUpReplyCarriesBothPids) {
    std::string line = encode_reply({std::nullopt, 1234, 1230});
    EXPECT_EQ(line.find('\n'), line.size() - 1);
    MonitorReply ok = parse_reply(line);
    EXPECT_FALSE(ok.error);
    EXPECT_EQ(ok.pid, 1234);
    EXPECT_EQ(ok.monitor_pid, 1230);
    EXPECT_FALSE(parse_reply(encode_reply({})).error);
    for (const char* bad : {"garbage", "ok", "{\"ok\":false}", "{\"ok\":true,\"pid\":\"x\"}",
                            "{\"error\":{\"kind\":\"invalid\"}}", "[]", ""})
        EXPECT_THROW(parse_reply(bad), truman::Error) << bad;
}

// What the monitor caught is what the service throws: kind, errno and the message that
// names the step, even one with a newline in it, not an errno guessed from the kind.
TEST(MonitorProtocol, FailureRepliesCarryTheWholeError) {
    truman::Error caught(ErrorKind::system, ENOENT,
                         "mount /src on /mnt: No such file or directory\n(bind)");
    std::string line = encode_reply(failure_reply(caught));
    EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line";
    MonitorReply reply = parse_reply(line);
    ASSERT_TRUE(reply.error);
    try {
        throw_if_failed(reply);
        FAIL();
    } catch (const truman::Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::system);
        EXPECT_EQ(e.err(), ENOENT);
        EXPECT_STREQ(e.what(), caught.what());
    }
    for (auto [kind, err] : {std::pair{ErrorKind::invalid, EINVAL},
                             {ErrorKind::not_found, 0},
                             {ErrorKind::conflict, EBUSY},
                             {ErrorKind::unsupported, ENOSYS}}) {
        MonitorReply back = parse_reply(encode_reply({truman::Error(kind, err, "why")}));
        ASSERT_TRUE(back.error);
        EXPECT_EQ(back.error->kind(), kind);
        EXPECT_EQ(back.error->err(), err);
    }
    // Anything else the monitor caught is a system error with its text and no errno.
    MonitorReply other = parse_reply(encode_reply(failure_reply(std::runtime_error("boom"))));
    ASSERT_TRUE(other.error);
    EXPECT_EQ(other.error->kind(), ErrorKind::system);
    EXPECT_EQ(other.error->err(), 0);
    EXPECT_STREQ(other.error->what(), "boom");
    // A kind this service does not know (a newer monitor) is still an error, a system one.
    MonitorReply unknown = parse_reply(R"({"error":{"kind":"bogus","errno":5,"message":"m"}})");
    ASSERT_TRUE(unknown.error);
    EXPECT_EQ(unknown.error->kind(), ErrorKind::system);
    EXPECT_EQ(unknown.error->err(), 5);
}

TEST(MonitorProtocol, CommandsParseAndRejectBadSignals) {
    EXPECT_EQ(parse_command(encode_command({ControlCommand::Verb::start, 0})).verb,
              ControlCommand::Verb::start);
    ControlCommand kill = parse_command(encode_command({ControlCommand::Verb::kill, 15}));
    EXPECT_EQ(kill.verb, ControlCommand::Verb::kill);
    EXPECT_EQ(kill.signal, 15);
    EXPECT_EQ(parse_command(encode_command({ControlCommand::Verb::kill, 64})).signal, 64);
    for (const char* bad : {R"({"command":"kill","signal":0})", R"({"command":"kill","signal":65})",
                            R"({"command":"kill","signal":-9})",
                            R"({"command":"kill","signal":"9"})", R"({"command":"kill"})",
                            R"({"command":"stop"})", R"({"command":1})", "start", "", "kill 9"}) {
        try {
            parse_command(bad);
            ADD_FAILURE() << bad;
        } catch (const truman::Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::invalid) << bad;
        }
    }
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
        for (const std::string& reply :
             {encode_reply({}), encode_reply({truman::Error(ErrorKind::not_found, ENOENT,
                                                            "execve /bin/nope: No such file")})}) {
            truman::Fd conn(accept4(server.get(), nullptr, nullptr, SOCK_CLOEXEC));
            char buf[64] = {};
            ssize_t n = read(conn.get(), buf, sizeof buf - 1);
            received.emplace_back(buf, n > 0 ? static_cast<size_t>(n) : 0);
            (void)!write(conn.get(), reply.data(), reply.size());
        }
    });
    EXPECT_NO_THROW(send_monitor_command(path, {ControlCommand::Verb::start, 0}));
    try {
        send_monitor_command(path, {ControlCommand::Verb::kill, 9});
        ADD_FAILURE();
    } catch (const truman::Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::not_found);
        EXPECT_EQ(e.err(), ENOENT);
        EXPECT_STREQ(e.what(), "execve /bin/nope: No such file");
    }
    peer.join();
    EXPECT_EQ(received,
              (std::vector<std::string>{encode_command({ControlCommand::Verb::start, 0}),
                                        encode_command({ControlCommand::Verb::kill, 9})}));
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
