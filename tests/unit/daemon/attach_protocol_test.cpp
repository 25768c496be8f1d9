// attach's share of the monitor protocol: the attach command and an attached exec carry the
// streams, the detach keys and the client's early bytes (any bytes, through hex) whole.
#include <gtest/gtest.h>

#include <string>

#include "truman/daemon/monitor_protocol.hpp"
#include "truman/error.hpp"

using namespace truman::daemon;
using truman::ErrorKind;

namespace {

const std::string kId(64, 'b');

TEST(AttachProtocol, AttachCarriesStreamsKeysAndBinaryInput) {
    AttachRequest a;
    a.stdin_stream = true;
    a.stdout_stream = false;
    a.stderr_stream = true;
    a.detach_keys = "\x10\x11";
    a.input = std::string("\0\xff\n{\"x\"}", 8);
    ControlCommand command{ControlCommand::Verb::attach};
    command.attach = a;
    std::string line = encode_command(command);
    EXPECT_EQ(line.find('\n'), line.size() - 1);  // one line, whatever the bytes
    ControlCommand back = parse_command(line);
    EXPECT_EQ(back.verb, ControlCommand::Verb::attach);
    ASSERT_TRUE(back.attach);
    EXPECT_TRUE(back.attach->stdin_stream);
    EXPECT_FALSE(back.attach->stdout_stream);
    EXPECT_TRUE(back.attach->stderr_stream);
    EXPECT_EQ(back.attach->detach_keys, "\x10\x11");
    EXPECT_EQ(back.attach->input, a.input);
}

TEST(AttachProtocol, ExecIsAttachedOnlyWhenItSaysSo) {
    EXPECT_FALSE(parse_command(encode_command({ControlCommand::Verb::exec, 0, kId})).attach);
    ControlCommand attached{ControlCommand::Verb::exec, 0, kId};
    attached.attach = AttachRequest{};
    attached.attach->input = "abc";
    ControlCommand back = parse_command(encode_command(attached));
    EXPECT_EQ(back.exec_id, kId);
    ASSERT_TRUE(back.attach);
    EXPECT_EQ(back.attach->input, "abc");
}

TEST(AttachProtocol, MalformedAttachesAreRefused) {
    for (
        const char* bad :
        {R"({"command":"attach","stdin":"yes"})", R"({"command":"attach","input":"abc"})",
         R"({"command":"attach","input":"zz"})", R"({"command":"attach","detach_keys":7})",
         R"({"command":"exec","exec":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","attach":1})"}) {
        try {
            parse_command(bad);
            ADD_FAILURE() << bad;
        } catch (const truman::Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::invalid) << bad;
        }
    }
}

}  // namespace
