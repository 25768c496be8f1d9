// The v1 handlers against a mocked ContainerService: each maps HTTP onto one service call
// and the result (or the error) back onto HTTP.
#include "truman/api/handlers.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "api_mock_service.hpp"
#include "truman/api/router.hpp"
#include "truman/error.hpp"

namespace truman::api {
namespace {

using nlohmann::json;
using test::FakeSubscription;
using test::MockService;
using test::RecordingResponder;
using ::testing::_;
using ::testing::Return;
using ::testing::StrictMock;
using ::testing::Throw;

class HandlersTest : public ::testing::Test {
  protected:
    HandlersTest() {
        ApiOptions options;
        options.version = "9.9.9";
        add_v1_routes(router, service, options);
    }

    std::shared_ptr<RecordingResponder> call(const std::string& method, const std::string& target,
                                             const std::string& body = "",
                                             const std::string& type = "application/json") {
        Request req;
        req.method = method;
        req.target = target;
        req.content_type = type;
        req.body = body;
        parse_target(target, &req.path, &req.query);
        auto responder = std::make_shared<RecordingResponder>();
        router.dispatch(req, responder);
        return responder;
    }

    static json body(const std::shared_ptr<RecordingResponder>& r) {
        return json::parse(r->response.body);
    }

    StrictMock<MockService> service;
    Router router;
};

TEST_F(HandlersTest, PingAndVersion) {
    auto r = call("GET", "/v1/_ping");
    EXPECT_EQ(r->response.status, 200u);
    EXPECT_EQ(r->response.body, "OK");
    EXPECT_EQ(r->response.content_type.rfind("text/plain", 0), 0u);
    r = call("GET", "/v1/version");
    EXPECT_EQ(body(r), json({{"version", "9.9.9"}, {"api_version", "1"}}));
}

TEST_F(HandlersTest, Info) {
    EXPECT_CALL(service, info()).WillOnce(Return(daemon::DaemonInfo{"6.1.0", "v1", 1, 2, 3}));
    auto j = body(call("GET", "/v1/info"));
    EXPECT_EQ(j["kernel"], "6.1.0");
    EXPECT_EQ(j["cgroup_mode"], "v1");
    EXPECT_EQ(j["containers"]["running"], 2);
    EXPECT_EQ(j["version"], "9.9.9");
}

TEST_F(HandlersTest, CreateReturns201WithId) {
    EXPECT_CALL(service, create(_)).WillOnce([](const daemon::CreateRequest& req) {
        EXPECT_EQ(req.name, "web");
        EXPECT_EQ(req.spec.process.args, (std::vector<std::string>{"echo", "hello"}));
        return std::string(64, 'f');
    });
    auto r =
        call("POST", "/v1/containers", R"({"name":"web","rootfs":"/r","cmd":["echo","hello"]})",
             "application/json; charset=utf-8");
    EXPECT_EQ(r->response.status, 201u);
    EXPECT_EQ(body(r), json({{"id", std::string(64, 'f')}}));
}

TEST_F(HandlersTest, CreateRejectsBadBodiesBeforeTheService) {
    auto r = call("POST", "/v1/containers", R"({"rootfs":"/r"})", "text/plain");
    EXPECT_EQ(r->response.status, 415u);
    EXPECT_EQ(body(r)["error"]["code"], "unsupported_media_type");
    EXPECT_EQ(call("POST", "/v1/containers", R"({"rootfs":"/r"})", "")->response.status, 415u);

    r = call("POST", "/v1/containers", R"({"rootfs":)");
    EXPECT_EQ(r->response.status, 400u);
    EXPECT_EQ(body(r)["error"]["message"], "body: malformed JSON");
    EXPECT_EQ(call("POST", "/v1/containers", "")->response.status, 400u);
    EXPECT_EQ(call("POST", "/v1/containers", "\xff\xfe")->response.status, 400u);

    r = call("POST", "/v1/containers", R"({"rootfs":"/r","cmd":[1]})");
    EXPECT_EQ(r->response.status, 400u);
    EXPECT_EQ(body(r)["error"]["code"], "invalid");
    EXPECT_EQ(body(r)["error"]["message"].get<std::string>().rfind("cmd[0]: ", 0), 0u);
}

TEST_F(HandlersTest, ServiceErrorsMapToStatuses) {
    EXPECT_CALL(service, create(_))
        .WillOnce(Throw(make_error(ErrorKind::conflict, "name web is already in use")));
    auto r = call("POST", "/v1/containers", R"({"name":"web","rootfs":"/r"})");
    EXPECT_EQ(r->response.status, 409u);
    EXPECT_EQ(body(r)["error"]["code"], "conflict");
    EXPECT_EQ(body(r)["error"]["message"], "name web is already in use");

    EXPECT_CALL(service, inspect("nope"))
        .WillOnce(Throw(make_error(ErrorKind::not_found, "no such container: nope")));
    EXPECT_EQ(call("GET", "/v1/containers/nope")->response.status, 404u);

    EXPECT_CALL(service, start("c")).WillOnce(Throw(system_error("clone", EAGAIN)));
    r = call("POST", "/v1/containers/c/start");
    EXPECT_EQ(r->response.status, 500u);
    EXPECT_EQ(body(r)["error"]["code"], "system");
}

TEST_F(HandlersTest, ListWithAndWithoutStateFilter) {
    daemon::ContainerInfo a;
    a.id = "a";
    EXPECT_CALL(service, list(std::optional<daemon::Status>()))
        .WillOnce(Return(std::vector<daemon::ContainerInfo>{a}));
    auto r = call("GET", "/v1/containers");
    ASSERT_TRUE(body(r).is_array());
    EXPECT_EQ(body(r)[0]["id"], "a");

    EXPECT_CALL(service, list(std::optional<daemon::Status>(daemon::Status::running)))
        .WillOnce(Return(std::vector<daemon::ContainerInfo>{}));
    EXPECT_EQ(body(call("GET", "/v1/containers?state=running")), json::array());

    r = call("GET", "/v1/containers?state=sleeping");
    EXPECT_EQ(r->response.status, 400u);
    EXPECT_EQ(body(r)["error"]["message"].get<std::string>().rfind("state: ", 0), 0u);
}

TEST_F(HandlersTest, UnknownQueryParametersAreRejected) {
    auto r = call("DELETE", "/v1/containers/c?forse=true");
    EXPECT_EQ(r->response.status, 400u);
    EXPECT_EQ(body(r)["error"]["message"], "forse: unknown query parameter");
}

TEST_F(HandlersTest, StartAndDelete) {
    EXPECT_CALL(service, start("c"));
    EXPECT_EQ(call("POST", "/v1/containers/c/start")->response.status, 204u);
    EXPECT_CALL(service, remove("c", false));
    EXPECT_EQ(call("DELETE", "/v1/containers/c")->response.status, 204u);
    EXPECT_CALL(service, remove("c", true));
    EXPECT_EQ(call("DELETE", "/v1/containers/c?force=true")->response.status, 204u);
    EXPECT_CALL(service, remove("c", false))
        .WillOnce(Throw(make_error(ErrorKind::conflict, "container c is running")));
    EXPECT_EQ(call("DELETE", "/v1/containers/c?force=0")->response.status, 409u);
    EXPECT_EQ(call("DELETE", "/v1/containers/c?force=sure")->response.status, 400u);
}

TEST_F(HandlersTest, KillDefaultsToSigkillAndParsesSignals) {
    EXPECT_CALL(service, kill("c", SIGKILL));
    EXPECT_EQ(call("POST", "/v1/containers/c/kill")->response.status, 204u);
    EXPECT_CALL(service, kill("c", SIGTERM));
    EXPECT_EQ(call("POST", "/v1/containers/c/kill?signal=TERM")->response.status, 204u);
    EXPECT_CALL(service, kill("c", SIGUSR1));
    EXPECT_EQ(call("POST", "/v1/containers/c/kill?signal=SIGUSR1")->response.status, 204u);
    EXPECT_CALL(service, kill("c", 2));
    EXPECT_EQ(call("POST", "/v1/containers/c/kill?signal=2")->response.status, 204u);
    auto r = call("POST", "/v1/containers/c/kill?signal=NOPE");
    EXPECT_EQ(r->response.status, 400u);
    EXPECT_NE(body(r)["error"]["message"].get<std::string>().find("signal"), std::string::npos);
}

TEST_F(HandlersTest, WaitAnswersWhenTheServiceCallsBack) {
    std::function<void(std::exception_ptr, daemon::ContainerState)> done;
    EXPECT_CALL(service, async_wait("c", _)).WillOnce([&](auto, auto cb) { done = cb; });
    auto r = call("POST", "/v1/containers/c/wait");
    EXPECT_EQ(r->responses, 0) << "wait must not answer before the container exits";
    daemon::ContainerState state;
    state.status = daemon::Status::exited;
    state.exit_code = 137;
    state.signal = 9;
    state.oom_killed = true;
    done(nullptr, state);
    EXPECT_EQ(r->responses, 1);
    EXPECT_EQ(body(r), json({{"exit_code", 137}, {"signal", 9}, {"oom_killed", true}}));

    EXPECT_CALL(service, async_wait("gone", _)).WillOnce([](auto, auto cb) {
        cb(std::make_exception_ptr(make_error(ErrorKind::not_found, "no such container: gone")),
           daemon::ContainerState{});
    });
    EXPECT_EQ(call("POST", "/v1/containers/gone/wait")->response.status, 404u);
}

TEST_F(HandlersTest, StopPassesTimeoutAndAnswersOnCompletion) {
    std::function<void(std::exception_ptr)> done;
    EXPECT_CALL(service, async_stop("c", std::chrono::seconds(10), 0, _))
        .WillOnce([&](auto, auto, auto, auto cb) { done = cb; });
    auto r = call("POST", "/v1/containers/c/stop");
    EXPECT_EQ(r->responses, 0);
    done(nullptr);
    EXPECT_EQ(r->response.status, 204u);

    EXPECT_CALL(service, async_stop("c", std::chrono::seconds(3), 0, _))
        .WillOnce([](auto, auto, auto, auto cb) { cb(nullptr); });
    EXPECT_EQ(call("POST", "/v1/containers/c/stop?timeout=3")->response.status, 204u);
    // A named signal replaces the container's stop signal.
    EXPECT_CALL(service, async_stop("c", std::chrono::seconds(10), SIGINT, _))
        .WillOnce([](auto, auto, auto, auto cb) { cb(nullptr); });
    EXPECT_EQ(call("POST", "/v1/containers/c/stop?signal=INT")->response.status, 204u);
    EXPECT_EQ(call("POST", "/v1/containers/c/stop?signal=NOPE")->response.status, 400u);
    EXPECT_EQ(call("POST", "/v1/containers/c/stop?timeout=soon")->response.status, 400u);
    EXPECT_EQ(call("POST", "/v1/containers/c/stop?timeout=-1")->response.status, 400u);
}

TEST_F(HandlersTest, LogsStreamTextLinesWithOptions) {
    auto cancelled = std::make_shared<int>(0);
    EXPECT_CALL(service, logs("c", _, _, _))
        .WillOnce([&](auto, const daemon::LogOptions& o, auto on_line, auto on_end) {
            EXPECT_TRUE(o.follow);
            EXPECT_EQ(o.tail, 5u);
            EXPECT_TRUE(o.timestamps);
            EXPECT_TRUE(o.stdout_stream);
            EXPECT_FALSE(o.stderr_stream);
            on_line(daemon::LogLine{"stdout", "2026-01-01T00:00:00Z", "hello"});
            on_end();
            return std::make_unique<FakeSubscription>(cancelled);
        });
    auto r = call("GET", "/v1/containers/c/logs?follow=1&tail=5&timestamps=true&stderr=false");
    EXPECT_EQ(r->stream_status, 200u);
    EXPECT_EQ(r->stream_type.rfind("text/plain", 0), 0u);
    ASSERT_EQ(r->chunks.size(), 1u);
    EXPECT_EQ(r->chunks[0], "2026-01-01T00:00:00Z hello\n");
    EXPECT_TRUE(r->ended);
    EXPECT_TRUE(r->subscription);
}

TEST_F(HandlersTest, LogsAsNdjson) {
    EXPECT_CALL(service, logs("c", _, _, _)).WillOnce([](auto, auto o, auto on_line, auto on_end) {
        EXPECT_FALSE(o.follow);
        EXPECT_FALSE(o.tail);
        on_line(daemon::LogLine{"stderr", "t", "oops"});
        on_end();
        return nullptr;
    });
    auto r = call("GET", "/v1/containers/c/logs?format=json&tail=all");
    EXPECT_EQ(r->stream_type, "application/x-ndjson");
    ASSERT_EQ(r->chunks.size(), 1u);
    EXPECT_EQ(json::parse(r->chunks[0]),
              json({{"stream", "stderr"}, {"time", "t"}, {"log", "oops"}}));
    EXPECT_EQ(call("GET", "/v1/containers/c/logs?format=xml")->response.status, 400u);
    EXPECT_EQ(call("GET", "/v1/containers/c/logs?tail=-3")->response.status, 400u);
}

TEST_F(HandlersTest, LogsOfUnknownContainerIs404NotAStream) {
    EXPECT_CALL(service, logs("nope", _, _, _))
        .WillOnce(Throw(make_error(ErrorKind::not_found, "no such container: nope")));
    auto r = call("GET", "/v1/containers/nope/logs");
    EXPECT_EQ(r->responses, 1);
    EXPECT_EQ(r->response.status, 404u);
}

TEST_F(HandlersTest, EventsStreamJsonLines) {
    std::function<void(const daemon::Event&)> deliver;
    EXPECT_CALL(service, events(_)).WillOnce([&](auto cb) {
        deliver = cb;
        return std::make_unique<FakeSubscription>(std::make_shared<int>(0));
    });
    auto r = call("GET", "/v1/events");
    EXPECT_EQ(r->stream_type, "application/x-ndjson");
    deliver(daemon::Event{"t", "start", "id1", "web", std::nullopt});
    deliver(daemon::Event{"t", "die", "id1", "web", 0});
    ASSERT_EQ(r->chunks.size(), 2u);
    EXPECT_EQ(json::parse(r->chunks[0])["type"], "start");
    EXPECT_EQ(json::parse(r->chunks[1])["exit_code"], 0);
    EXPECT_EQ(r->chunks[1].back(), '\n');
}

TEST_F(HandlersTest, SeccompStreamsRecordsAsJsonLines) {
    EXPECT_CALL(service, seccomp("c", _, _, _))
        .WillOnce([](auto, const daemon::SeccompOptions& o, auto on_record, auto on_end) {
            EXPECT_TRUE(o.follow);
            EXPECT_EQ(o.tail, 3u);
            EXPECT_EQ(o.since, "2026-01-01T00:00:00Z");  // the service judges it
            daemon::SeccompRecord denial;
            denial.time = "t";
            denial.pid = 7;
            denial.comm = "sh";
            denial.syscall = "mount";
            denial.nr = 165;
            denial.action = "errno";
            denial.error = "EPERM";
            on_record(denial);
            daemon::SeccompRecord note;
            note.time = "t2";
            note.dropped = 5;
            note.dropped_by_syscall = {{"mount", 5}};
            on_record(note);
            on_end();
            return nullptr;
        });
    auto r = call("GET", "/v1/containers/c/seccomp?follow=1&tail=3&since=2026-01-01T00:00:00Z");
    EXPECT_EQ(r->stream_status, 200u);
    EXPECT_EQ(r->stream_type, "application/x-ndjson");
    ASSERT_EQ(r->chunks.size(), 2u);
    json denial = json::parse(r->chunks[0]);
    EXPECT_EQ(denial["syscall"], "mount");
    EXPECT_EQ(denial["pid"], 7);
    EXPECT_EQ(denial["errno"], "EPERM");
    EXPECT_EQ(json::parse(r->chunks[1]),
              json({{"time", "t2"}, {"dropped", 5}, {"dropped_by_syscall", {{"mount", 5}}}}));
    EXPECT_TRUE(r->ended);
    EXPECT_EQ(call("GET", "/v1/containers/c/seccomp?tail=x")->response.status, 400u);
    EXPECT_EQ(call("GET", "/v1/containers/c/seccomp?follow=maybe")->response.status, 400u);
}

TEST_F(HandlersTest, SeccompErrorsAreAnsweredBeforeAStreamOpens) {
    EXPECT_CALL(service, seccomp("nope", _, _, _))
        .WillOnce(Throw(make_error(ErrorKind::not_found, "no such container: nope")));
    EXPECT_CALL(service, seccomp("c", _, _, _))
        .WillOnce(Throw(invalid_argument("since", "must be an RFC 3339 time")));
    auto missing = call("GET", "/v1/containers/nope/seccomp");
    EXPECT_EQ(missing->responses, 1);
    EXPECT_EQ(missing->response.status, 404u);
    EXPECT_FALSE(missing->subscription);
    auto bad = call("GET", "/v1/containers/c/seccomp?since=yesterday");
    EXPECT_EQ(bad->responses, 1);
    EXPECT_EQ(bad->response.status, 400u);
}

}  // namespace
}  // namespace truman::api

namespace truman::api {
namespace {

// openapi.yaml at the repository root must describe exactly the routes the router has: every
// route appears under its path with its method, and the document has no path the router lacks.
TEST(OpenApi, DocumentsEveryRouteAndNoOther) {
    std::string yaml_path = std::filesystem::path(TRUMAN_SOURCE_DIR) / "openapi.yaml";
    std::ifstream in(yaml_path);
    ASSERT_TRUE(in) << "cannot read " << yaml_path;
    // path -> methods, from the two-space-indented path keys under "paths:".
    std::map<std::string, std::set<std::string>> documented;
    std::string line, current;
    bool in_paths = false;
    while (std::getline(in, line)) {
        if (line == "paths:") {
            in_paths = true;
            continue;
        }
        if (!line.empty() && line[0] != ' ' && line[0] != '#') in_paths = false;
        if (!in_paths) continue;
        if (line.rfind("  /", 0) == 0 && line.back() == ':') {
            current = line.substr(2, line.size() - 3);
            documented[current];
        } else if (!current.empty() && line.rfind("    ", 0) == 0 && line[4] != ' ') {
            std::string key = line.substr(4, line.find(':') - 4);
            if (key == "get" || key == "post" || key == "delete" || key == "put" || key == "patch")
                documented[current].insert(key);
        }
    }
    MockService service;
    Router router;
    add_v1_routes(router, service);
    std::map<std::string, std::set<std::string>> routed;
    for (auto& [method, pattern] : router.routes()) {
        std::string lower;
        for (char c : method) lower.push_back(static_cast<char>(std::tolower(c)));
        // A "{ref*}" (the rest of the path) is an ordinary {ref} to OpenAPI.
        std::string documented_as = pattern;
        if (auto star = documented_as.find("*}"); star != std::string::npos)
            documented_as.erase(star, 1);
        routed[documented_as].insert(lower);
    }
    EXPECT_EQ(documented, routed);
}

}  // namespace
}  // namespace truman::api
