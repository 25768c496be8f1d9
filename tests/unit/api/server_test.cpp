// Real sessions over a temporary Unix socket, against a mocked service: the limits (413, 415,
// 431, idle timeout, connection cap), keep-alive, streams and the peer check, over the wire.
#include "truman/api/server.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "api_mock_service.hpp"
#include "api_test_client.hpp"
#include "test_support.hpp"
#include "truman/api/handlers.hpp"
#include "truman/error.hpp"

namespace truman::api {
namespace {

using nlohmann::json;
using test::HttpClient;
using ::testing::_;
using ::testing::NiceMock;
using ::testing::Return;

int listen_on(const std::string& path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(fd, 64) != 0)
        throw std::runtime_error("cannot listen on " + path);
    return fd;
}

// Polls cond for up to 10 s: for effects that happen on the server's threads.
template <typename Cond>
bool eventually(Cond cond) {
    for (int i = 0; i < 1000; ++i) {
        if (cond()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return cond();
}

class ServerTest : public ::testing::Test {
  protected:
    void start(ServerLimits limits = {}, PeerCheck check = {}) {
        add_v1_routes(router, service, options);
        server = std::make_unique<Server>(io, listen_on(path), router, limits, std::move(check));
        server->start();
        for (int i = 0; i < 2; ++i) threads.emplace_back([this] { io.run(); });
    }

    void TearDown() override {
        if (server) {
            std::promise<void> stopped;
            server->shutdown(std::chrono::milliseconds(0), [&] { stopped.set_value(); });
            stopped.get_future().wait_for(std::chrono::seconds(10));
        }
        io.stop();
        for (auto& t : threads) t.join();
        for (auto& t : workers) t.join();
        server.reset();
    }

    test::TempDir dir{"truman-api-test"};
    std::string path = dir.path() + "/api.sock";
    boost::asio::io_context io;
    NiceMock<test::MockService> service;
    ApiOptions options = [] {
        ApiOptions o;
        o.version = "1.2.3";
        return o;
    }();
    // A run_blocking that gives every call a thread of its own, joined at the end.
    void run_on_workers() {
        options.run_blocking = [this](std::function<void()> call) {
            std::lock_guard lock(workers_mutex);
            workers.emplace_back(std::move(call));
        };
    }
    std::mutex workers_mutex;
    std::vector<std::thread> workers;
    Router router;
    std::unique_ptr<Server> server;
    std::vector<std::thread> threads;
};

TEST_F(ServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
    start();
    HttpClient client(path);
    for (int i = 0; i < 3; ++i) {
        auto r = client.request("GET", "/v1/_ping");
        EXPECT_EQ(r.status, 200);
        EXPECT_EQ(r.body, "OK");
    }
    auto r = client.request("GET", "/v1/version");
    EXPECT_EQ(json::parse(r.body)["version"], "1.2.3");
    // Two requests written back to back (pipelined) are answered in order.
    client.send("GET", "/v1/_ping");
    client.send("GET", "/v1/nope");
    EXPECT_EQ(client.read_response().status, 200);
    EXPECT_EQ(client.read_response().status, 404);
    EXPECT_EQ(server->connection_count(), 1u);
}

TEST_F(ServerTest, MalformedJsonIs400AndTheConnectionSurvives) {
    start();
    EXPECT_CALL(service, create(_)).Times(0);
    HttpClient client(path);
    auto r = client.request("POST", "/v1/containers", "{\"rootfs\": ");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.header("content-type"), "application/json");
    EXPECT_EQ(json::parse(r.body)["error"]["code"], "invalid");
    EXPECT_EQ(client.request("GET", "/v1/_ping").status, 200);
}

// curl's way with a body over 1 KiB: headers first, the body only after "100 Continue".
TEST_F(ServerTest, ExpectContinueGetsA100BeforeTheBody) {
    EXPECT_CALL(service, create(_)).WillOnce(Return("abc"));
    start();
    HttpClient client(path);
    std::string body = R"({"rootfs": "/", "cmd": ["true"]})";
    client.send_raw(
        "POST /v1/containers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Expect: 100-continue\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n");
    EXPECT_EQ(client.read_head(5000).status, 100);
    client.send_raw(body);
    auto r = client.read_response();
    EXPECT_EQ(r.status, 201);
    EXPECT_EQ(json::parse(r.body)["id"], "abc");
}

// Over the limit, the answer is 413 at once: no 100, and the body is never waited for.
TEST_F(ServerTest, ExpectContinueOverTheLimitIs413WithoutA100) {
    start();
    HttpClient client(path);
    client.send_raw(
        "POST /v1/containers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Expect: 100-continue\r\nContent-Length: 2000000\r\n\r\n");
    EXPECT_EQ(client.read_response(5000).status, 413);
}

TEST_F(ServerTest, WrongContentTypeIs415) {
    start();
    HttpClient client(path);
    auto r = client.request("POST", "/v1/containers", R"({"rootfs":"/r"})", "text/plain");
    EXPECT_EQ(r.status, 415);
    EXPECT_EQ(json::parse(r.body)["error"]["code"], "unsupported_media_type");
}

TEST_F(ServerTest, BodyOverTheLimitIs413AndCloses) {
    ServerLimits limits;
    limits.max_body_bytes = 1024;
    start(limits);
    EXPECT_CALL(service, create(_)).Times(0);
    HttpClient client(path);
    // Content-Length alone is enough to refuse: the body need not be sent.
    client.send_raw(
        "POST /v1/containers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 1025\r\n\r\n");
    auto r = client.read_response();
    EXPECT_EQ(r.status, 413);
    EXPECT_EQ(json::parse(r.body)["error"]["code"], "payload_too_large");
    EXPECT_TRUE(client.closed_by_peer(10000));

    HttpClient exact(path);
    auto ok = exact.request("POST", "/v1/containers", std::string(1024, ' '));
    EXPECT_EQ(ok.status, 400) << "a body of exactly the limit is read (and then found empty)";
}

TEST_F(ServerTest, DefaultBodyLimitIsOneMebibyte) {
    start();
    HttpClient client(path);
    client.send_raw(
        "POST /v1/containers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: " +
        std::to_string((1 << 20) + 1) + "\r\n\r\n");
    EXPECT_EQ(client.read_response().status, 413);
}

TEST_F(ServerTest, HeaderOverTheLimitIs431) {
    start();
    HttpClient client(path);
    client.send_raw("GET /v1/_ping HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9000, 'a') +
                    "\r\n\r\n");
    auto r = client.read_response();
    EXPECT_EQ(r.status, 431);
    EXPECT_TRUE(client.closed_by_peer(10000));
}

TEST_F(ServerTest, GarbageIs400AndCloses) {
    start();
    HttpClient client(path);
    client.send_raw("HELLO THERE\r\n\r\n");
    EXPECT_EQ(client.read_response().status, 400);
    EXPECT_TRUE(client.closed_by_peer(10000));
}

TEST_F(ServerTest, SlowClientIsDroppedAfterTheIdleTimeout) {
    ServerLimits limits;
    limits.idle_timeout = std::chrono::milliseconds(200);
    start(limits);
    HttpClient slow(path);
    slow.send_raw("GET /v1/_ping HTTP/1.1\r\nHo");  // and never the rest
    EXPECT_TRUE(slow.closed_by_peer(10000));
    HttpClient idle(path);  // keep-alive connection with nothing more to say
    EXPECT_EQ(idle.request("GET", "/v1/_ping").status, 200);
    EXPECT_TRUE(idle.closed_by_peer(10000));
    EXPECT_TRUE(eventually([&] { return server->connection_count() == 0; }));
}

TEST_F(ServerTest, ConnectionsOverTheCapGet503) {
    ServerLimits limits;
    limits.max_connections = 1;
    start(limits);
    HttpClient first(path);
    EXPECT_EQ(first.request("GET", "/v1/_ping").status, 200);
    HttpClient second(path);
    EXPECT_EQ(second.request("GET", "/v1/_ping").status, 503);
    EXPECT_EQ(first.request("GET", "/v1/_ping").status, 200);
}

TEST_F(ServerTest, RejectedPeerGets403) {
    std::atomic<uid_t> seen_uid{12345};
    start({}, [&](const PeerCredentials& peer) {
        seen_uid = peer.uid;
        return false;
    });
    HttpClient client(path);
    auto r = client.request("GET", "/v1/_ping");
    EXPECT_EQ(r.status, 403);
    EXPECT_EQ(json::parse(r.body)["error"]["code"], "forbidden");
    EXPECT_EQ(seen_uid.load(), getuid());
    EXPECT_TRUE(client.closed_by_peer(10000));
}

TEST_F(ServerTest, BlockedWaitDoesNotBlockOtherClients) {
    std::promise<std::function<void(std::exception_ptr, daemon::ContainerState)>> waiter;
    EXPECT_CALL(service, async_wait("c", _)).WillOnce([&](auto, auto cb) { waiter.set_value(cb); });
    start();
    HttpClient waiting(path);
    waiting.send("POST", "/v1/containers/c/wait");
    auto done = waiter.get_future().get();
    HttpClient other(path);
    EXPECT_EQ(other.request("GET", "/v1/_ping").status, 200);
    daemon::ContainerState state;
    state.exit_code = 3;
    done(nullptr, state);
    auto r = waiting.read_response();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(json::parse(r.body)["exit_code"], 3);
    EXPECT_EQ(waiting.request("GET", "/v1/_ping").status, 200) << "keep-alive after a wait";
}

// The server has 2 io threads; 3 starts that block in the service must not take them both
// and leave a ping unanswered: blocking calls go to run_blocking.
TEST_F(ServerTest, BlockingCallsRunOffTheIoThreads) {
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    // Also when an assertion fails: TearDown joins the workers.
    struct Releaser {
        std::promise<void>& promise;
        bool done = false;
        void now() {
            if (!done) promise.set_value();
            done = true;
        }
        ~Releaser() { now(); }
    } releaser{release};
    std::atomic<int> blocked{0};
    EXPECT_CALL(service, start("c")).Times(3).WillRepeatedly([&](auto) {
        ++blocked;
        released.wait();
    });
    run_on_workers();
    start();
    std::vector<std::unique_ptr<HttpClient>> starting;
    for (int i = 0; i < 3; ++i) {
        starting.push_back(std::make_unique<HttpClient>(path));
        starting.back()->send("POST", "/v1/containers/c/start");
        ASSERT_TRUE(eventually([&] { return blocked.load() == i + 1; }));
    }
    auto ping = HttpClient(path).request("GET", "/v1/_ping");
    EXPECT_EQ(ping.status, 200);
    releaser.now();
    for (auto& c : starting) EXPECT_EQ(c->read_response().status, 204);
}

// What a call on a worker throws still reaches the client as an error answer.
TEST_F(ServerTest, ABlockingCallsErrorIsAnsweredFromTheWorker) {
    EXPECT_CALL(service, kill("c", SIGTERM)).WillOnce([](auto, auto) {
        throw Error(ErrorKind::conflict, EBUSY, "not running");
    });
    run_on_workers();
    start();
    auto r = HttpClient(path).request("POST", "/v1/containers/c/kill?signal=TERM");
    EXPECT_EQ(r.status, 409);
    EXPECT_EQ(json::parse(r.body)["error"]["message"], "not running");
}

TEST_F(ServerTest, EventsStreamChunksUntilTheClientLeaves) {
    std::promise<std::function<void(const daemon::Event&)>> subscribed;
    auto cancelled = std::make_shared<int>(0);
    EXPECT_CALL(service, events(_)).WillOnce([&](auto cb) {
        subscribed.set_value(cb);
        return std::make_unique<test::FakeSubscription>(cancelled);
    });
    start();
    auto client = std::make_unique<HttpClient>(path);
    client->send("GET", "/v1/events");
    auto deliver = subscribed.get_future().get();
    auto head = client->read_head();  // sent as soon as the subscription exists
    EXPECT_EQ(head.status, 200);
    EXPECT_EQ(head.header("transfer-encoding"), "chunked");
    EXPECT_EQ(head.header("content-type"), "application/x-ndjson");
    deliver(daemon::Event{"t1", "create", "id", "web", std::nullopt});
    deliver(daemon::Event{"t2", "start", "id", "web", std::nullopt});
    std::string line;
    ASSERT_TRUE(client->read_chunk(&line));
    EXPECT_EQ(json::parse(line)["type"], "create");
    ASSERT_TRUE(client->read_chunk(&line));
    EXPECT_EQ(json::parse(line)["type"], "start");
    client.reset();  // the client goes away
    EXPECT_TRUE(eventually([&] { return *cancelled == 1; })) << "subscription not cancelled";
    deliver(daemon::Event{"t3", "die", "id", "web", 0});  // late: must be dropped quietly
    EXPECT_TRUE(eventually([&] { return server->connection_count() == 0; }));
}

TEST_F(ServerTest, FiniteLogStreamEndsWithTheLastChunk) {
    EXPECT_CALL(service, logs("c", _, _, _)).WillOnce([](auto, auto, auto on_line, auto on_end) {
        for (int i = 0; i < 100; ++i)
            on_line(daemon::LogLine{"stdout", "t", "line " + std::to_string(i)});
        on_end();
        return nullptr;
    });
    start();
    HttpClient client(path);
    auto r = client.request("GET", "/v1/containers/c/logs");
    EXPECT_EQ(r.status, 200);
    std::string expected;
    for (int i = 0; i < 100; ++i) expected += "line " + std::to_string(i) + "\n";
    EXPECT_EQ(r.body, expected);
    EXPECT_TRUE(client.closed_by_peer(10000));
}

TEST_F(ServerTest, ShutdownClosesIdleConnectionsAndCallsDone) {
    start();
    HttpClient idle(path);
    EXPECT_EQ(idle.request("GET", "/v1/_ping").status, 200);
    std::promise<void> stopped;
    server->shutdown(std::chrono::seconds(5), [&] { stopped.set_value(); });
    EXPECT_EQ(stopped.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_TRUE(idle.closed_by_peer(10000));
    server.reset();
}

TEST_F(ServerTest, ShutdownLetsARequestInFlightFinish) {
    std::promise<std::function<void(std::exception_ptr, daemon::ContainerState)>> waiter;
    EXPECT_CALL(service, async_wait("c", _)).WillOnce([&](auto, auto cb) { waiter.set_value(cb); });
    start();
    HttpClient waiting(path);
    waiting.send("POST", "/v1/containers/c/wait");
    auto done = waiter.get_future().get();
    std::promise<void> stopped;
    server->shutdown(std::chrono::seconds(30), [&] { stopped.set_value(); });
    done(nullptr, daemon::ContainerState{});
    auto r = waiting.read_response();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("connection"), "close");
    EXPECT_EQ(stopped.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
    server.reset();
}

// Random bytes, truncated requests and odd methods: each connection gets an answer or is
// closed, and the server keeps serving.
TEST_F(ServerTest, SurvivesGarbage) {
    start();
    std::mt19937 random(1234);
    std::vector<std::string> inputs = {
        "GET / HTTP/1.1\r\n\r\n",
        "GET /v1/_ping HTTP/1.0\r\n\r\n",
        "GET /v1/_ping HTTP/9.9\r\nHost: x\r\n\r\n",
        "BREW /v1/_ping HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET http://x/v1/_ping HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /v1/containers HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "POST /v1/containers HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: application/json\r\n\r\nzz\r\n",
        "POST /v1/containers HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: application/json\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        "GET /v1/containers/%00/logs?tail=%ff HTTP/1.1\r\nHost: x\r\n\r\n",
        std::string("GET /v1/\0 HTTP/1.1\r\n\r\n", 22),
    };
    for (int i = 0; i < 20; ++i) {
        std::string noise(static_cast<size_t>(random() % 300), ' ');
        for (char& c : noise) c = static_cast<char>(random());
        inputs.push_back(noise + "\r\n\r\n");
    }
    EXPECT_CALL(service, create(_)).WillRepeatedly(Return(std::string(64, 'a')));
    EXPECT_CALL(service, logs(_, _, _, _)).WillRepeatedly([](auto...) { return nullptr; });
    for (const std::string& input : inputs) {
        HttpClient client(path);
        client.send_raw(input);
        try {
            auto r = client.read_response(10000);
            EXPECT_GE(r.status, 100) << input;
        } catch (const std::runtime_error&) {
            // closed without an answer: acceptable for bytes that are not HTTP at all
        }
    }
    HttpClient after(path);
    EXPECT_EQ(after.request("GET", "/v1/_ping").status, 200);
}

std::string http_chunk(const std::string& data) {
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    return size + data + "\r\n";
}

const std::string kImportHead =
    "POST /v1/images/import HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\n"
    "Transfer-Encoding: chunked\r\n\r\n";

// An import's body is the handler's while it still comes: the handler has read the first
// part before the client sends the rest, and a body over max_body_bytes (the whole-body
// routes' limit) goes through, up to the streaming routes' own bound.
TEST_F(ServerTest, AStreamingRouteReadsItsBodyAsItComesPastTheWholeBodyLimit) {
    ServerLimits limits;
    limits.max_body_bytes = 1024;
    limits.max_stream_body_bytes = 1 << 20;
    std::promise<void> first_part;
    size_t total = 0;
    std::string seen;
    EXPECT_CALL(service, import_images(_, ""))
        .WillOnce([&](const daemon::ImageSource& source, auto) {
            char buf[4096];
            bool signalled = false;
            while (size_t n = source(buf, sizeof buf)) {
                seen.append(buf, n);
                total += n;
                if (!signalled && total >= 100'000) {
                    first_part.set_value();
                    signalled = true;
                }
            }
            return std::vector<daemon::ImageInfo>{};
        });
    run_on_workers();
    start(limits);
    HttpClient client(path);
    std::string part1(100'000, 'a'), part2(200'000, 'b');
    client.send_raw(kImportHead + http_chunk(part1));
    ASSERT_EQ(first_part.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready)
        << "the handler did not get the body's first part before its end";
    client.send_raw(http_chunk(part2) + "0\r\n\r\n");
    auto r = client.read_response();
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["images"], json::array());
    EXPECT_EQ(total, part1.size() + part2.size());
    EXPECT_EQ(seen, part1 + part2);
}

// Over max_stream_body_bytes: a Content-Length says so at once (413, the handler never
// runs); a chunked body that grows past it ends the handler's reading with an error that
// says why.
TEST_F(ServerTest, AStreamingBodyOverItsBoundIsRefused) {
    ServerLimits limits;
    limits.max_stream_body_bytes = 64 << 10;
    std::atomic<size_t> read_before_error{0};
    EXPECT_CALL(service, import_images(_, ""))
        .WillOnce([&](const daemon::ImageSource& source, auto) {
            char buf[4096];
            while (size_t n = source(buf, sizeof buf)) read_before_error += n;
            ADD_FAILURE() << "a body over the bound read to its end";
            return std::vector<daemon::ImageInfo>{};
        });
    run_on_workers();
    start(limits);
    {
        HttpClient client(path);
        client.send_raw(
            "POST /v1/images/import HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\n"
            "Content-Length: " +
            std::to_string((64 << 10) + 1) + "\r\n\r\n");
        auto r = client.read_response();
        EXPECT_EQ(r.status, 413);
        EXPECT_EQ(json::parse(r.body)["error"]["code"], "payload_too_large");
    }
    HttpClient client(path);
    try {
        client.send_raw(kImportHead);
        for (int i = 0; i < 4; ++i) client.send_raw(http_chunk(std::string(32 << 10, 'x')));
    } catch (const std::runtime_error&) {
        // trumand stopped reading and answered: the answer is what counts
    }
    auto r = client.read_response();
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(json::parse(r.body)["error"]["message"].get<std::string>().find(
                  "request body exceeds 65536 bytes"),
              std::string::npos)
        << r.body;
    EXPECT_LE(read_before_error.load(), size_t{64} << 10);
    EXPECT_EQ(HttpClient(path).request("GET", "/v1/_ping").status, 200);
}

// An export is written blocking from a worker and read no faster than the client takes it:
// a producer whose client reads nothing is held back well before its 8 MiB are out; once
// the client reads, all of it arrives, ended by the last chunk. A failure mid-way cuts the
// stream: no last chunk, so the client sees that the tar is not whole.
TEST_F(ServerTest, AnExportStreamsHeldBackByTheClientAndAFailureCutsIt) {
    constexpr size_t kTotal = 8 << 20, kPiece = 64 << 10;
    std::atomic<size_t> written{0};
    EXPECT_CALL(service, export_image("img")).WillOnce([&](auto) {
        return daemon::ImageExporter([&](const daemon::ImageSink& sink) {
            std::string piece(kPiece, '\0');
            for (size_t i = 0; i < kTotal / kPiece; ++i) {
                std::fill(piece.begin(), piece.end(), static_cast<char>('a' + i % 26));
                sink(piece.data(), piece.size());
                written += piece.size();
            }
        });
    });
    EXPECT_CALL(service, export_image("broken")).WillOnce([](auto) {
        return daemon::ImageExporter([](const daemon::ImageSink& sink) {
            std::string piece(kPiece, 'z');
            sink(piece.data(), piece.size());
            throw Error(ErrorKind::system, EIO, "disk gone");
        });
    });
    EXPECT_CALL(service, export_image("none")).WillOnce([](auto) -> daemon::ImageExporter {
        throw Error(ErrorKind::not_found, ENOENT, "no such image: none");
    });
    run_on_workers();
    start();

    HttpClient client(path);
    client.send("GET", "/v1/images/img/export");
    auto head = client.read_head();
    EXPECT_EQ(head.status, 200);
    EXPECT_EQ(head.header("content-type"), "application/x-tar");
    EXPECT_EQ(head.header("transfer-encoding"), "chunked");
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a chance to run ahead
    EXPECT_LT(written.load(), kTotal / 2) << "the producer was not held back";
    std::string body, chunk;
    while (client.read_chunk(&chunk)) body += chunk;
    ASSERT_EQ(body.size(), kTotal);
    EXPECT_EQ(written.load(), kTotal);
    for (size_t i = 0; i < kTotal / kPiece; ++i)
        ASSERT_EQ(body[i * kPiece], static_cast<char>('a' + i % 26)) << i;

    HttpClient cut(path);
    cut.send("GET", "/v1/images/broken/export");
    EXPECT_EQ(cut.read_head().status, 200);
    ASSERT_TRUE(cut.closed_by_peer(10000));
    std::string raw = cut.take_buffered();
    EXPECT_GE(raw.size(), kPiece);
    EXPECT_FALSE(raw.size() >= 5 && raw.compare(raw.size() - 5, 5, "0\r\n\r\n") == 0)
        << "a failed export ended like a complete one";

    auto missing = HttpClient(path).request("GET", "/v1/images/none/export");
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(json::parse(missing.body)["error"]["message"], "no such image: none");
}

}  // namespace
}  // namespace truman::api
