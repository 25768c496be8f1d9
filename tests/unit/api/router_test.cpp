// The router (404/405 + Allow, placeholders, targets), the error mapping and the query-string
// parsers: the parts of the API that need neither a service nor a socket.
#include "truman/api/router.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <nlohmann/json.hpp>

#include "api_mock_service.hpp"
#include "truman/api/errors.hpp"
#include "truman/api/mapping.hpp"

namespace truman::api {
namespace {

using nlohmann::json;
using test::RecordingResponder;

struct Routed {
    std::string handler;
    std::map<std::string, std::string> params;
};

class RouterTest : public ::testing::Test {
  protected:
    void SetUp() override {
        for (auto [method, pattern] :
             std::vector<std::pair<std::string, std::string>>{{"GET", "/v1/containers"},
                                                              {"POST", "/v1/containers"},
                                                              {"GET", "/v1/containers/{id}"},
                                                              {"DELETE", "/v1/containers/{id}"},
                                                              {"POST", "/v1/containers/{id}/start"},
                                                              {"GET", "/v1/images/{ref*}"},
                                                              {"POST", "/v1/images/{ref*}/tag"}}) {
            router.add(
                method, pattern,
                [this, name = method + " " + pattern](Request& req, std::shared_ptr<Responder> r) {
                    last = Routed{name, req.path_params};
                    r->respond(empty_response(204));
                });
        }
    }

    std::shared_ptr<RecordingResponder> dispatch(const std::string& method,
                                                 const std::string& target) {
        Request req;
        req.method = method;
        req.target = target;
        parse_target(target, &req.path, &req.query);
        auto responder = std::make_shared<RecordingResponder>();
        router.dispatch(req, responder);
        return responder;
    }

    Router router;
    std::optional<Routed> last;
};

TEST_F(RouterTest, MatchesMethodAndPatternAndFillsPlaceholders) {
    auto r = dispatch("POST", "/v1/containers/abc123/start");
    ASSERT_TRUE(last);
    EXPECT_EQ(last->handler, "POST /v1/containers/{id}/start");
    EXPECT_EQ(last->params.at("id"), "abc123");
    EXPECT_EQ(r->response.status, 204u);

    dispatch("DELETE", "/v1/containers/web-1?force=true");
    EXPECT_EQ(last->handler, "DELETE /v1/containers/{id}");
    EXPECT_EQ(last->params.at("id"), "web-1");
}

// A "{name*}" takes slashes and all, also when fixed segments follow it.
TEST_F(RouterTest, RestPlaceholdersTakeSeveralSegmentsBeforeFixedOnes) {
    dispatch("GET", "/v1/images/127.0.0.1:5000/team/app:1");
    ASSERT_TRUE(last);
    EXPECT_EQ(last->handler, "GET /v1/images/{ref*}");
    EXPECT_EQ(last->params.at("ref"), "127.0.0.1:5000/team/app:1");
    dispatch("POST", "/v1/images/127.0.0.1:5000/team/app:1/tag");
    EXPECT_EQ(last->handler, "POST /v1/images/{ref*}/tag");
    EXPECT_EQ(last->params.at("ref"), "127.0.0.1:5000/team/app:1");
    dispatch("POST", "/v1/images/busybox/tag");
    EXPECT_EQ(last->params.at("ref"), "busybox");
    EXPECT_EQ(dispatch("POST", "/v1/images/tag")->response.status, 405u);
    EXPECT_EQ(dispatch("POST", "/v1/images/busybox/retag")->response.status, 405u);
}

TEST_F(RouterTest, UnknownPathIs404WithJsonError) {
    for (std::string target : {"/v1/nope", "/v2/containers", "/v1/containers/a/b/c", "/",
                               "/v1/containers//start", "/v1/containers/a/start/"}) {
        auto r = dispatch("GET", target);
        EXPECT_EQ(r->response.status, 404u) << target;
        json body = json::parse(r->response.body);
        EXPECT_EQ(body["error"]["code"], "not_found") << target;
        EXPECT_NE(body["error"]["message"].get<std::string>().find(target.substr(0, 4)),
                  std::string::npos);
    }
    EXPECT_FALSE(last) << "no handler may run for an unknown path";
}

TEST_F(RouterTest, KnownPathWithWrongMethodIs405WithAllowHeader) {
    auto r = dispatch("PUT", "/v1/containers/xyz");
    EXPECT_EQ(r->response.status, 405u);
    ASSERT_EQ(r->response.headers.size(), 1u);
    EXPECT_EQ(r->response.headers[0].first, "Allow");
    EXPECT_EQ(r->response.headers[0].second, "GET, DELETE");
    EXPECT_EQ(json::parse(r->response.body)["error"]["code"], "method_not_allowed");

    r = dispatch("GET", "/v1/containers/xyz/start");
    EXPECT_EQ(r->response.status, 405u);
    EXPECT_EQ(r->response.headers[0].second, "POST");
    EXPECT_FALSE(last);
}

TEST_F(RouterTest, HandlerExceptionsBecomeJsonErrors) {
    router.add("GET", "/boom/{kind}", [](Request& req, std::shared_ptr<Responder>) {
        const std::string& kind = req.path_params.at("kind");
        if (kind == "truman") throw make_error(ErrorKind::conflict, "already running");
        if (kind == "json") json::parse("{").dump();
        if (kind == "std") throw std::runtime_error("broken");
        throw 42;
    });
    EXPECT_EQ(dispatch("GET", "/boom/truman")->response.status, 409u);
    EXPECT_EQ(dispatch("GET", "/boom/json")->response.status, 400u);
    auto r = dispatch("GET", "/boom/std");
    EXPECT_EQ(r->response.status, 500u);
    EXPECT_EQ(json::parse(r->response.body)["error"]["code"], "internal");
    EXPECT_EQ(dispatch("GET", "/boom/other")->response.status, 500u);
}

TEST(ParseTarget, SplitsPathAndDecodesQuery) {
    std::string path;
    std::map<std::string, std::string> query;
    parse_target("/v1/containers/a%20b/logs?tail=10&follow&x=a+b%2Fc&x=last", &path, &query);
    EXPECT_EQ(path, "/v1/containers/a b/logs");
    EXPECT_EQ(query.at("tail"), "10");
    EXPECT_EQ(query.at("follow"), "");
    EXPECT_EQ(query.at("x"), "last");

    parse_target("/v1/containers?", &path, &query);
    EXPECT_EQ(path, "/v1/containers");
    EXPECT_TRUE(query.empty());
}

TEST(ParseTarget, RejectsMalformedTargets) {
    std::string path;
    std::map<std::string, std::string> query;
    for (std::string target : {"v1/containers", "", "*", "/v1/%zz", "/v1/x%4", "/v1?a=%"}) {
        try {
            parse_target(target, &path, &query);
            ADD_FAILURE() << target << " was accepted";
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::invalid) << target;
        }
    }
}

TEST(ErrorMapping, KindsMapToStatuses) {
    EXPECT_EQ(http_status(ErrorKind::invalid), 400u);
    EXPECT_EQ(http_status(ErrorKind::not_found), 404u);
    EXPECT_EQ(http_status(ErrorKind::conflict), 409u);
    EXPECT_EQ(http_status(ErrorKind::unsupported), 400u);
    EXPECT_EQ(http_status(ErrorKind::system), 500u);
}

TEST(ErrorMapping, BodyCarriesCodeAndMessage) {
    auto check = [](Error e, unsigned status, const char* code) {
        Response r = error_response(std::make_exception_ptr(e));
        EXPECT_EQ(r.status, status);
        EXPECT_EQ(r.content_type, "application/json");
        json body = json::parse(r.body);
        EXPECT_EQ(body["error"]["code"], code);
        EXPECT_EQ(body["error"]["message"], e.what());
    };
    check(invalid_argument("cmd", "must not be empty"), 400, "invalid");
    check(make_error(ErrorKind::not_found, "no such container: x"), 404, "not_found");
    check(make_error(ErrorKind::conflict, "name web is taken"), 409, "conflict");
    check(make_error(ErrorKind::unsupported, "cgroup v2 only"), 400, "unsupported");
    check(system_error("mount /x", EPERM), 500, "system");
}

TEST(ParseSignal, AcceptsNamesWithOrWithoutPrefixAndNumbers) {
    EXPECT_EQ(parse_signal("KILL"), SIGKILL);
    EXPECT_EQ(parse_signal("SIGKILL"), SIGKILL);
    EXPECT_EQ(parse_signal("sigterm"), SIGTERM);
    EXPECT_EQ(parse_signal("hup"), SIGHUP);
    EXPECT_EQ(parse_signal("USR1"), SIGUSR1);
    EXPECT_EQ(parse_signal("9"), 9);
    EXPECT_EQ(parse_signal("15"), 15);
    EXPECT_EQ(parse_signal("RTMIN"), SIGRTMIN);
    EXPECT_EQ(parse_signal("SIGRTMIN+2"), SIGRTMIN + 2);
    EXPECT_EQ(parse_signal("RTMAX-1"), SIGRTMAX - 1);
    EXPECT_EQ(parse_signal(std::to_string(SIGRTMAX)), SIGRTMAX);
    // The aliases kill(1) knows, which glibc's abbreviations lack.
    EXPECT_EQ(parse_signal("IOT"), SIGABRT);
    EXPECT_EQ(parse_signal("SIGCLD"), SIGCHLD);
    EXPECT_EQ(parse_signal("poll"), SIGPOLL);
}

TEST(ParseSignal, RejectsInvalidNamingTheSignalField) {
    for (std::string bad : {"", "0", "-9", "65", "999", "1000000000000", "FOO", "SIG", "KILL9",
                            "9x", "RTMIN+99", "RTMAX-99", "RTMIN-1", " KILL"}) {
        try {
            parse_signal(bad);
            ADD_FAILURE() << "\"" << bad << "\" was accepted";
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::invalid);
            EXPECT_EQ(std::string(e.what()).rfind("signal: ", 0), 0u) << e.what();
        }
    }
}

TEST(QueryParams, BoolsAndIntsAreStrictAndNameTheParameter) {
    EXPECT_TRUE(parse_bool_param("force", "true"));
    EXPECT_TRUE(parse_bool_param("force", "1"));
    EXPECT_TRUE(parse_bool_param("follow", ""));  // "?follow" alone
    EXPECT_FALSE(parse_bool_param("force", "false"));
    EXPECT_FALSE(parse_bool_param("force", "0"));
    EXPECT_THROW(parse_bool_param("force", "maybe"), Error);
    try {
        parse_bool_param("force", "maybe");
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()).rfind("force: ", 0), 0u);
    }
    EXPECT_EQ(parse_int_param("timeout", "30", 0, 100), 30);
    EXPECT_EQ(parse_int_param("timeout", "-1", -1, 100), -1);
    for (std::string bad : {"", "x", "1.5", "101", "-2", "99999999999999999999", "+1", "1 "})
        EXPECT_THROW(parse_int_param("timeout", bad, -1, 100), Error) << bad;
}

}  // namespace
}  // namespace truman::api
