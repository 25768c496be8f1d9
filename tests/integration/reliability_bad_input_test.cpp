// Bad input against a real trumand: truncated and trickled requests, ten thousand idle
// connections, oversized and deeply nested JSON, invalid UTF-8 and path traversal. Each gets
// its documented answer (status and a message naming the field), and after each the daemon is
// still up and serving others.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "test_support.hpp"
#include "trumand_process.hpp"

namespace truman::test {
namespace {

using nlohmann::json;

class ReliabilityBadInput : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        // 10 000 client sockets here plus as many accepted ones in trumand (its child).
        getrlimit(RLIMIT_NOFILE, &saved_limit_);
        rlimit raised = saved_limit_;
        raised.rlim_cur = std::min<rlim_t>(saved_limit_.rlim_max, 20000);
        setrlimit(RLIMIT_NOFILE, &raised);
    }
    static void TearDownTestSuite() { setrlimit(RLIMIT_NOFILE, &saved_limit_); }

    void SetUp() override {
        TrumandOptions options;
        options.nofile = std::min<rlim_t>(saved_limit_.rlim_max, 20000);
        daemon_ = std::make_unique<TrumandProcess>(options);
    }
    void TearDown() override {
        if (HasFailure()) std::cerr << "trumand log:\n" << daemon_->log();
        EXPECT_TRUE(daemon_->remove_all_containers().empty());
        daemon_.reset();
    }

    // The daemon is alive and a fresh connection gets its _ping answered.
    void expect_serving() {
        ASSERT_TRUE(daemon_->alive()) << "trumand died";
        HttpClient c(daemon_->socket());
        auto ping = c.request("GET", "/v1/_ping");
        EXPECT_EQ(ping.status, 200);
        EXPECT_EQ(ping.body, "OK");
    }

    // POST /v1/containers with body; returns the response status and its error message.
    std::pair<int, std::string> create(const std::string& body) {
        HttpClient c(daemon_->socket());
        auto r = c.request("POST", "/v1/containers", body);
        std::string message;
        auto doc = json::parse(r.body, nullptr, false);
        if (doc.is_object() && doc.contains("error")) message = doc["error"]["message"];
        return {r.status, message.empty() ? r.body : message};
    }

    size_t container_count() {
        HttpClient c(daemon_->socket());
        return json::parse(c.request("GET", "/v1/containers").body).size();
    }

    static rlimit saved_limit_;
    std::unique_ptr<TrumandProcess> daemon_;
};
rlimit ReliabilityBadInput::saved_limit_{};

json valid_create() {
    return {{"rootfs", busybox_rootfs()}, {"cmd", {"/bin/true"}}, {"network", "none"}};
}

TEST_F(ReliabilityBadInput, TruncatedRequestsAreDroppedAndServeOthers) {
    std::string body = valid_create().dump();
    const std::vector<std::string> truncated = {
        "GET /v1/_pi",                          // request line cut
        "GET /v1/_ping HTTP/1.1\r\nHost: tru",  // header cut mid-line
        "POST /v1/containers HTTP/1.1\r\nContent-Type: application/json\r\n"
        "Content-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" +
            body.substr(0, body.size() / 2),  // body shorter than its length
    };
    for (auto& bytes : truncated) {
        {
            HttpClient c(daemon_->socket());
            c.send_raw(bytes);
        }  // the client hangs up
        expect_serving();
    }
    // Half a create must not have created anything.
    EXPECT_EQ(container_count(), 0u);
}

TEST_F(ReliabilityBadInput, SlowlorisDoesNotStallOthers) {
    // trumand drops a connection with no complete request after ServerLimits::idle_timeout
    // (30 s, not a trumand flag), too long to wait for here: what this proves is that a client
    // trickling its header a byte per 100 ms holds up no one else, and is still answered
    // correctly once its request is whole.
    const std::string request = "GET /v1/_ping HTTP/1.1\r\nHost: truman\r\n\r\n";
    HttpClient slow(daemon_->socket());
    for (size_t i = 0; i < request.size(); ++i) {
        slow.send_raw(request.substr(i, 1));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        if (i % 8 == 0) expect_serving();
    }
    auto answer = slow.read_response();
    EXPECT_EQ(answer.status, 200);
    EXPECT_EQ(answer.body, "OK");
}

TEST_F(ReliabilityBadInput, TenThousandIdleConnections) {
    const size_t count = 10000, cap = 256;  // cap: ServerLimits::max_connections
    ProcessUsage before = process_usage(daemon_->pid());
    std::vector<std::unique_ptr<HttpClient>> idle;
    idle.reserve(count);
    for (size_t i = 0; i < count; ++i)
        idle.push_back(std::make_unique<HttpClient>(daemon_->socket()));
    // Every connection is accepted (or waits in the backlog); beyond the cap each is answered
    // 503 and closed once it sends a request, whatever its place in the queue.
    ASSERT_TRUE(daemon_->alive());
    {
        HttpClient extra(daemon_->socket());
        extra.send("GET", "/v1/_ping");
        bool closed_or_503 = false;
        try {
            closed_or_503 = extra.read_response().status == 503;
        } catch (const std::exception&) {
            closed_or_503 = true;  // closed without an answer
        }
        EXPECT_TRUE(closed_or_503) << "connection " << count + 1 << " was served past the cap";
    }
    size_t refused = 0;
    for (size_t i = count - 20; i < count; ++i) {
        idle[i]->send("GET", "/v1/_ping");
        try {
            if (idle[i]->read_response().status == 503) ++refused;
        } catch (const std::exception&) {
            ++refused;
        }
    }
    EXPECT_EQ(refused, 20u);
    // The first ones hold sessions within the cap: they are served.
    for (size_t i = 0; i < 3; ++i) {
        idle[i]->send("GET", "/v1/_ping");
        EXPECT_EQ(idle[i]->read_response().status, 200) << "connection " << i;
    }
    idle.clear();
    // Closed sessions are released asynchronously: poll (bounded) for _ping and the fd count.
    bool served = false;
    for (int i = 0; i < 200 && !served; ++i) {
        try {
            HttpClient c(daemon_->socket());
            served = c.request("GET", "/v1/_ping").status == 200;
        } catch (const std::exception&) {
        }
        if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(served) << "trumand did not serve again once the connections closed";
    size_t fds = 0;
    for (int i = 0; i < 200; ++i) {
        fds = process_usage(daemon_->pid()).fds;
        if (fds <= before.fds) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_LE(fds, before.fds) << "trumand kept descriptors of closed connections";
    (void)cap;
    expect_serving();
}

// The same flood against a trumand whose own descriptors run out first (RLIMIT_NOFILE 64):
// accept() fails with EMFILE while connections wait in the backlog. The daemon must neither
// die nor spin on the failing accept (each failure is a log line: a spin writes hundreds of
// thousands a second), and it serves again once the clients leave.
TEST(ReliabilityFdExhaustion, AcceptBacksOffAndRecovers) {
    TrumandOptions options;
    options.nofile = 64;
    TrumandProcess daemon(options);
    auto accept_failures = [&] {
        std::string log = daemon.log();
        size_t n = 0;
        for (size_t pos = 0; (pos = log.find("accept: ", pos)) != std::string::npos; ++pos) ++n;
        return n;
    };
    std::vector<std::unique_ptr<HttpClient>> clients;
    for (int i = 0; i < 200; ++i) clients.push_back(std::make_unique<HttpClient>(daemon.socket()));
    // Hold them for a second of EMFILE.
    std::this_thread::sleep_for(std::chrono::seconds(1));
    ASSERT_TRUE(daemon.alive());
    size_t failures = accept_failures();
    EXPECT_GT(failures, 0u) << "the test did not exhaust trumand's descriptors";
    EXPECT_LT(failures, 1000u) << "trumand spins on a failing accept()";
    clients.clear();
    bool served = false;
    for (int i = 0; i < 200 && !served; ++i) {
        try {
            HttpClient c(daemon.socket());
            served = c.request("GET", "/v1/_ping").status == 200;
        } catch (const std::exception&) {
        }
        if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(served) << "trumand did not serve again once descriptors were free";
}

TEST_F(ReliabilityBadInput, HugeBodyIs413) {
    json body = valid_create();
    body["env"] = {"BIG=" + std::string(10 << 20, 'x')};
    std::string bytes = body.dump();
    HttpClient c(daemon_->socket());
    try {
        c.send("POST", "/v1/containers", bytes);
    } catch (const std::exception&) {
        // The daemon answers as soon as it sees the Content-Length and stops reading.
    }
    auto r = c.read_response();
    EXPECT_EQ(r.status, 413);
    EXPECT_NE(r.body.find("payload_too_large"), std::string::npos) << r.body;
    expect_serving();
    EXPECT_EQ(container_count(), 0u);
}

TEST_F(ReliabilityBadInput, DeeplyNestedJsonIs400) {
    for (const std::string& body :
         {std::string(100000, '['), std::string(100000, '[') + std::string(100000, ']'),
          std::string(100000, '{')}) {
        auto [status, message] = create(body);
        EXPECT_EQ(status, 400) << message;
        expect_serving();
    }
}

TEST_F(ReliabilityBadInput, InvalidUtf8IsRejected) {
    // Decision: JSON must be UTF-8 (RFC 8259); a body with invalid UTF-8 in a string is
    // refused as malformed, never passed on to argv, names or paths.
    for (const std::string& bad : {std::string("/bin/\xff\xfe"), std::string("\xc3\x28"),
                                   std::string("\xed\xa0\x80")}) {  // lone surrogate
        std::string body = R"({"rootfs":")" + busybox_rootfs() + R"(","cmd":[")" + bad + R"("]})";
        auto [status, message] = create(body);
        EXPECT_EQ(status, 400) << message;
        EXPECT_NE(message.find("body"), std::string::npos) << message;
        EXPECT_NE(message.find("JSON"), std::string::npos) << message;
        expect_serving();
    }
    EXPECT_EQ(container_count(), 0u);
}

TEST_F(ReliabilityBadInput, PathTraversalGetsAClearError) {
    struct Case {
        json patch;
        int status;
        std::string field;  // the message must name it
    };
    const std::vector<Case> cases = {
        {{{"name", "../x"}}, 400, "name"},
        {{{"name", "a/b"}}, 400, "name"},
        {{{"name", ".."}}, 400, "name"},
        {{{"image", "../../etc"}, {"rootfs", nullptr}}, 404, "image"},
        {{{"image", "busybox/../../etc"}, {"rootfs", nullptr}}, 404, "image"},
        {{{"rootfs", "/tmp/../etc"}}, 400, "rootfs"},
        {{{"rootfs", "tmp/x"}}, 400, "rootfs"},
        {{{"rootfs", "../etc"}}, 400, "rootfs"},
        {{{"cwd", "../../"}}, 400, "cwd"},
    };
    for (auto& c : cases) {
        json body = valid_create();
        body.merge_patch(c.patch);
        auto [status, message] = create(body.dump());
        EXPECT_EQ(status, c.status) << c.patch.dump() << ": " << message;
        EXPECT_NE(message.find(c.field), std::string::npos) << c.patch.dump() << ": " << message;
        expect_serving();
    }
    EXPECT_EQ(container_count(), 0u);
    // Names with path characters are refused where they are looked up, too.
    HttpClient c(daemon_->socket());
    for (const char* ref : {"..%2F..%2Fetc", "%2E%2E", "a%2Fb"}) {
        auto r = c.request("GET", std::string("/v1/containers/") + ref);
        EXPECT_TRUE(r.status == 404 || r.status == 400) << ref << ": " << r.status << " " << r.body;
    }
    expect_serving();
}

}  // namespace
}  // namespace truman::test
