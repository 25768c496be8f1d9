// The exec bodies: what is read, and every type error or unknown field named.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "truman/api/mapping.hpp"
#include "truman/error.hpp"

using namespace truman;
using nlohmann::json;

namespace {

std::string field_of(const json& body) {
    try {
        api::exec_request_from_json(body);
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::invalid) << body.dump();
        return e.field();
    }
    return "accepted";
}

TEST(ExecMapping, ReadsEveryField) {
    auto r = api::exec_request_from_json(
        {{"cmd", {"sh", "-c", "x"}}, {"env", {"A=b"}}, {"cwd", "/tmp"}, {"user", "7:8"}});
    EXPECT_EQ(r.cmd, (std::vector<std::string>{"sh", "-c", "x"}));
    EXPECT_EQ(r.env, (std::vector<std::string>{"A=b"}));
    EXPECT_EQ(r.cwd, "/tmp");
    ASSERT_TRUE(r.user);
    EXPECT_EQ(r.user->uid, 7u);
    EXPECT_EQ(r.user->gid, 8u);
    EXPECT_FALSE(r.tty);
    auto bare = api::exec_request_from_json({{"cmd", {"true"}}});
    EXPECT_FALSE(bare.user);
    EXPECT_FALSE(bare.cwd);
}

TEST(ExecMapping, NamesTheFieldOfEveryMistake) {
    EXPECT_EQ(field_of(json::object()), "cmd");
    EXPECT_EQ(field_of({{"cmd", "true"}}), "cmd");
    EXPECT_EQ(field_of({{"cmd", {"true", 1}}}), "cmd[1]");
    EXPECT_EQ(field_of({{"cmd", {"true"}}, {"user", "root"}}), "user");
    EXPECT_EQ(field_of({{"cmd", {"true"}}, {"tty", "yes"}}), "tty");
    EXPECT_EQ(field_of({{"cmd", {"true"}}, {"detach", true}}), "detach");
    EXPECT_EQ(field_of(json::array()), "body");
}

TEST(ExecMapping, StartBodyIsOptional) {
    EXPECT_FALSE(api::exec_detach_from_json(nullptr));
    EXPECT_FALSE(api::exec_detach_from_json(json::object()));
    EXPECT_TRUE(api::exec_detach_from_json({{"detach", true}}));
    EXPECT_THROW(api::exec_detach_from_json({{"detach", 1}}), Error);
    EXPECT_THROW(api::exec_detach_from_json({{"tty", true}}), Error);
}

}  // namespace
