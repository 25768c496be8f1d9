// libFuzzer target over trumand's request path, minus the socket: the raw bytes go through
// Beast's request parser with the server's limits, then target parsing, the Router and the v1
// handlers, which map JSON bodies onto a ContainerSpec. The service behind them is a fake
// that validates the spec as trumand's does and creates nothing; what is fuzzed is everything in
// front of it. Any crash, sanitizer report, uncaught exception or handler that never answers is a
// finding.
#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "truman/api/errors.hpp"
#include "truman/api/handlers.hpp"
#include "truman/api/http.hpp"
#include "truman/api/router.hpp"
#include "truman/api/server.hpp"
#include "truman/daemon/service.hpp"
#include "truman/spec.hpp"

namespace {

namespace http = boost::beast::http;
using namespace truman;

const std::string kId(64, 'a');

class NullSubscription : public daemon::Subscription {
  public:
    void cancel() override {}
};

// Answers every call at once, the way the real service would for a container that exists
// ("aaaa...", name "fuzz") or not (anything else: not_found), and never touches the system.
class FakeService : public daemon::ContainerService {
  public:
    // Validates the spec as the real service does (the API leaves that to it), so that every
    // rule is fuzzed too.
    std::string create(const daemon::CreateRequest& request) override {
        ContainerSpec spec = request.spec;
        if (!request.image.empty()) spec.root.path = "/";
        validate(spec);
        return kId;
    }
    std::vector<daemon::ContainerInfo> list(std::optional<daemon::Status>) override {
        return {container_info()};
    }
    daemon::ContainerInfo inspect(const std::string& ref) override {
        check(ref);
        return container_info();
    }
    void start(const std::string& ref) override { check(ref); }
    void kill(const std::string& ref, int) override { check(ref); }
    void async_stop(const std::string& ref, std::chrono::seconds, int,
                    std::function<void(std::exception_ptr)> done) override {
        try {
            check(ref);
            done(nullptr);
        } catch (...) {
            done(std::current_exception());
        }
    }
    void remove(const std::string& ref, bool) override { check(ref); }
    void async_wait(const std::string& ref,
                    std::function<void(std::exception_ptr, daemon::ContainerState)> done) override {
        try {
            check(ref);
            done(nullptr, container_info().state);
        } catch (...) {
            done(std::current_exception(), {});
        }
    }
    std::unique_ptr<daemon::Subscription> seccomp(
        const std::string& ref, const daemon::SeccompOptions&,
        std::function<void(const daemon::SeccompRecord&)> on_record,
        std::function<void()> on_end) override {
        check(ref);
        daemon::SeccompRecord record;
        record.time = "2026-01-01T00:00:00.000000000Z";
        record.syscall = "mount";
        record.comm = "sh \xff";
        on_record(record);
        on_end();
        return std::make_unique<NullSubscription>();
    }
    std::unique_ptr<daemon::Subscription> logs(const std::string& ref, const daemon::LogOptions&,
                                               std::function<void(const daemon::LogLine&)> on_line,
                                               std::function<void()> on_end) override {
        check(ref);
        on_line({"stdout", "2026-01-01T00:00:00.000000000Z", "hello \xff"});
        on_end();
        return std::make_unique<NullSubscription>();
    }
    std::unique_ptr<daemon::Subscription> events(
        std::function<void(const daemon::Event&)> on_event) override {
        on_event({"2026-01-01T00:00:00.000000000Z", "create", kId, "fuzz", std::nullopt});
        return std::make_unique<NullSubscription>();
    }
    daemon::DaemonInfo info() override { return {"6.1", "v1", 1, 0, 0}; }

  private:
    static void check(const std::string& ref) {
        if (ref != kId && ref != "fuzz" && kId.rfind(ref, 0) != 0)
            throw make_error(ErrorKind::not_found, "no such container: " + ref);
    }
    static daemon::ContainerInfo container_info() {
        daemon::ContainerInfo i;
        i.id = kId;
        i.name = "fuzz";
        i.rootfs = "/r";
        i.cmd = {"/bin/true"};
        i.state.status = daemon::Status::exited;
        i.state.exit_code = 0;
        return i;
    }
};

// Checks the handler contract: exactly one answer -- a response, or a stream that ends or is
// handed its subscription (events stay open until the client leaves).
class CheckingResponder : public api::Responder {
  public:
    ~CheckingResponder() override {
        if (answers_ != 1 && !(streamed_ && (ended_ || kept_))) std::abort();  // never answered
    }
    void respond(api::Response r) override {
        if (r.status < 100 || r.status > 599) std::abort();
        ++answers_;
    }
    void open_stream(unsigned, std::string) override { streamed_ = true; }
    void chunk(std::string) override {
        if (!streamed_) std::abort();
    }
    void end_stream() override { ended_ = true; }
    void keep(std::unique_ptr<daemon::Subscription> s) override {
        kept_ = true;
        s.reset();
    }

  private:
    int answers_ = 0;
    bool streamed_ = false, ended_ = false, kept_ = false;
};

const api::Router& router() {
    static FakeService service;
    static api::Router r = [] {
        api::Router r;
        api::add_v1_routes(r, service, api::ApiOptions{"fuzz"});
        return r;
    }();
    return r;
}

// One request the way api::Server's session handles it after a successful read.
void handle(http::request<http::string_body>& message) {
    api::Request request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    request.content_type = std::string(message[http::field::content_type]);
    request.body = std::move(message.body());
    auto responder = std::make_shared<CheckingResponder>();
    try {
        api::parse_target(request.target, &request.path, &request.query);
    } catch (...) {
        responder->respond(api::error_response(std::current_exception()));
        return;
    }
    router().dispatch(request, responder);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const api::ServerLimits limits;
    boost::asio::const_buffer input(data, size);
    // Keep-alive: several requests may follow one another in the same bytes.
    for (int requests = 0; requests < 8 && input.size() > 0; ++requests) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(limits.max_body_bytes);
        parser.header_limit(static_cast<uint32_t>(limits.max_header_bytes));
        parser.eager(true);
        boost::beast::error_code ec;
        while (input.size() > 0 && !parser.is_done()) {
            size_t used = parser.put(input, ec);
            input += used;
            if (ec == http::error::need_more) {
                if (used == 0) break;  // the rest is a partial line: wait for EOF below
                ec = {};
                continue;
            }
            if (ec) return 0;  // the server answers 400/413/431 and closes
        }
        if (!parser.is_done()) {
            parser.put_eof(ec);  // the client hung up
            if (ec || !parser.is_done()) return 0;
        }
        handle(parser.get());
        if (!parser.get().keep_alive()) return 0;
    }
    return 0;
}
