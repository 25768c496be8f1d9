// exec's share of the monitor protocol and its files: the exec and wait_exec commands, the
// exit a wait_exec reply carries, and an exec's config and state written and read back.
#include <gtest/gtest.h>

#include <string>

#include "test_support.hpp"
#include "truman/daemon/exec_store.hpp"
#include "truman/daemon/monitor_protocol.hpp"
#include "truman/error.hpp"

using namespace truman::daemon;
using truman::ErrorKind;

namespace {

const std::string kId(64, 'a');

TEST(ExecProtocol, ExecCommandsCarryTheExecId) {
    ControlCommand exec = parse_command(encode_command({ControlCommand::Verb::exec, 0, kId}));
    EXPECT_EQ(exec.verb, ControlCommand::Verb::exec);
    EXPECT_EQ(exec.exec_id, kId);
    EXPECT_FALSE(exec.wait);
    ControlCommand wait = parse_command(encode_command({ControlCommand::Verb::wait_exec, 0, kId}));
    EXPECT_EQ(wait.verb, ControlCommand::Verb::wait_exec);
    EXPECT_EQ(wait.exec_id, kId);
    // An exec that answers at its exit (start and wait in one round trip).
    ControlCommand run{ControlCommand::Verb::exec, 0, kId};
    run.wait = true;
    EXPECT_TRUE(parse_command(encode_command(run)).wait);
    try {
        parse_command(R"({"command":"exec","exec":")" + kId + R"(","wait":1})");
        ADD_FAILURE() << "a wait that is not a boolean";
    } catch (const truman::Error& e) {
        EXPECT_EQ(e.field(), "wait");
    }
    for (
        const char* bad :
        {R"({"command":"exec"})", R"({"command":"exec","exec":"abc"})",
         R"({"command":"wait_exec","exec":7})",
         R"({"command":"exec","exec":"../../../../etc/passwd/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"})"}) {
        try {
            parse_command(bad);
            ADD_FAILURE() << bad;
        } catch (const truman::Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::invalid) << bad;
            EXPECT_EQ(e.field(), "exec") << bad;
        }
    }
}

TEST(ExecProtocol, WaitReplyCarriesTheExit) {
    MonitorReply reply;
    reply.exit_code = 137;
    reply.signal = 9;
    MonitorReply back = parse_reply(encode_reply(reply));
    ASSERT_TRUE(back.exit_code);
    EXPECT_EQ(*back.exit_code, 137);
    EXPECT_EQ(back.signal, 9);
    EXPECT_FALSE(back.error);
    // The exec reply: a PID, no exit.
    MonitorReply started;
    started.pid = 1234;
    back = parse_reply(encode_reply(started));
    EXPECT_EQ(back.pid, 1234);
    EXPECT_FALSE(back.exit_code);
}

TEST(ExecStore, ConfigAndStateRoundTrip) {
    truman::test::TempDir dir;
    ContainerPaths container(dir.path());
    ExecPaths paths(container, kId);
    EXPECT_EQ(paths.dir(), dir.path() + "/execs/" + kId);
    ExecRequest request;
    request.cmd = {"sh", "-c", "echo hi"};
    request.env = {"A=b"};
    request.cwd = "/tmp";
    request.user = truman::User{1000, 1001, {5, 6}, std::nullopt};
    write_exec_config(paths, request);
    ExecRequest back = read_exec_config(paths);
    EXPECT_EQ(back.cmd, request.cmd);
    EXPECT_EQ(back.env, request.env);
    EXPECT_EQ(back.cwd, request.cwd);
    ASSERT_TRUE(back.user);
    EXPECT_EQ(back.user->uid, 1000u);
    EXPECT_EQ(back.user->gid, 1001u);
    EXPECT_EQ(back.user->additional_gids, (std::vector<uint32_t>{5, 6}));
    EXPECT_FALSE(back.tty);

    EXPECT_FALSE(read_exec_state(paths));  // not started
    write_exec_state(paths, {true, 42, std::nullopt, 0});
    auto running = read_exec_state(paths);
    ASSERT_TRUE(running);
    EXPECT_TRUE(running->running);
    EXPECT_EQ(running->pid, 42);
    EXPECT_FALSE(running->exit_code);
    write_exec_state(paths, {false, 42, 137, 9});
    auto exited = read_exec_state(paths);
    ASSERT_TRUE(exited && exited->exit_code);
    EXPECT_FALSE(exited->running);
    EXPECT_EQ(*exited->exit_code, 137);
    EXPECT_EQ(exited->signal, 9);

    // A second exec with the same id is refused rather than overwritten.
    EXPECT_THROW(write_exec_config(paths, request), truman::Error);
}

}  // namespace
