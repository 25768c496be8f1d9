// The only translation unit that includes Beast's server (response_bytes.cpp takes its status
// header, for the reason phrases). Modelled on Beast's advanced and local-socket
// servers: one Session per connection, owning its socket, buffer, timeouts and limits, running
// on its own strand; the Router and handlers only ever see api::Request and api::Responder.
#include "truman/api/server.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <cstring>
#include <deque>
#include <limits>
#include <mutex>
#include <optional>
#include <system_error>
#include <unordered_map>

#include "truman/api/errors.hpp"
#include "truman/daemon/service.hpp"
#include "truman/error.hpp"

namespace truman::api {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using local = net::local::stream_protocol;
using Stream = beast::basic_stream<local>;

namespace {
class Session;
}

struct Server::Impl : std::enable_shared_from_this<Impl> {
    Impl(net::io_context& io, int fd, const Router& r, ServerLimits l, PeerCheck c)
        : io(io),
          acceptor(net::make_strand(io)),
          router(r),
          limits(l),
          check_peer(std::move(c)),
          grace_timer(acceptor.get_executor()),
          accept_retry(acceptor.get_executor()) {
        acceptor.assign(local(), fd);
    }

    void accept();
    void add(Session* session, const std::shared_ptr<Session>& ptr);
    void remove(Session* session);
    void finish_shutdown();
    std::vector<std::shared_ptr<Session>> live_sessions();

    net::io_context& io;
    local::acceptor acceptor;
    const Router& router;
    ServerLimits limits;
    PeerCheck check_peer;

    std::atomic<bool> shutting_down{false};
    bool done_called = false;  // on the acceptor's strand
    std::function<void()> done;
    net::steady_timer grace_timer;
    net::steady_timer accept_retry;  // the pause after a failed accept (EMFILE)

    mutable std::mutex mutex;
    std::unordered_map<Session*, std::weak_ptr<Session>> sessions;
};

namespace {

// A body passing between the session and a handler's thread goes through a socket pair, not
// a pipe: a write to an end that was closed is then EPIPE from send(MSG_NOSIGNAL), never a
// SIGPIPE for the whole process.
struct StreamState {
    std::mutex mutex;
    std::string failure;    // request body: why it is not complete (set before our end closes)
    bool finished = false;  // response body: the producer said it is complete
};

// How much of a streamed response may wait for the client before the producer is held back.
constexpr size_t kOutputBacklog = size_t{1} << 20;

class SocketBodyStream : public BodyStream {
  public:
    SocketBodyStream(Fd fd, std::shared_ptr<StreamState> state)
        : fd_(std::move(fd)), state_(std::move(state)) {}
    size_t read(void* buf, size_t size) override {
        for (;;) {
            ssize_t n = ::read(fd_.get(), buf, size);
            if (n > 0) return static_cast<size_t>(n);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw system_error("read the request body");
            std::lock_guard lock(state_->mutex);
            if (!state_->failure.empty()) throw make_error(ErrorKind::invalid, state_->failure);
            return 0;
        }
    }

  private:
    Fd fd_;
    std::shared_ptr<StreamState> state_;
};

class SocketOutputStream : public OutputStream {
  public:
    SocketOutputStream(Fd fd, std::shared_ptr<StreamState> state)
        : fd_(std::move(fd)), state_(std::move(state)) {}
    void write(const void* data, size_t size) override {
        const char* p = static_cast<const char*>(data);
        while (size > 0) {
            if (!fd_) throw make_error(ErrorKind::invalid, "response body: already finished");
            ssize_t n = ::send(fd_.get(), p, size, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0)
                throw make_error(ErrorKind::system,
                                 "the client went away before the response "
                                 "was complete",
                                 errno);
            p += n;
            size -= static_cast<size_t>(n);
        }
    }
    void finish() override {
        {
            std::lock_guard lock(state_->mutex);
            state_->finished = true;
        }
        fd_.reset();
    }

  private:
    Fd fd_;
    std::shared_ptr<StreamState> state_;
};

// One connection. Every member runs on the connection's strand (the socket's executor);
// SessionResponder posts onto it from whatever thread a service callback arrives on.
class Session : public std::enable_shared_from_this<Session> {
  public:
    Session(local::socket socket, std::shared_ptr<Server::Impl> server, unsigned reject_status)
        : stream_(std::move(socket)), server_(std::move(server)), reject_status_(reject_status) {}

    ~Session() { server_->remove(this); }

    void start() {
        net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
    }

    // Called from the server on shutdown, on this session's strand.
    void on_shutdown() {
        closing_ = true;
        if (phase_ == Phase::reading || phase_ == Phase::streaming) close();
    }
    void force_close() { close(); }

    // --- what the responder forwards, on the strand; generation guards against a late or
    // duplicate answer reaching a later request on the same connection.
    void deliver(uint64_t generation, Response response) {
        if (generation != generation_) return;
        if (phase_ == Phase::stream_opened) phase_ = Phase::handling;  // error instead of stream
        if (phase_ != Phase::handling) return;
        write_response(std::move(response));
    }
    void open_stream(uint64_t generation, unsigned status, std::string content_type) {
        if (generation != generation_ || phase_ != Phase::handling) return;
        phase_ = Phase::stream_opened;
        stream_status_ = status;
        stream_type_ = std::move(content_type);
    }
    void chunk(uint64_t generation, const std::string& data) {
        if (generation != generation_ || data.empty()) return;
        if (phase_ == Phase::stream_opened) begin_stream();
        if (phase_ != Phase::streaming) return;
        char size[32];
        snprintf(size, sizeof size, "%zx\r\n", data.size());
        queue(std::string(size) + data + "\r\n");
    }
    void end_stream(uint64_t generation) {
        if (generation != generation_) return;
        if (phase_ == Phase::stream_opened) begin_stream();
        if (phase_ != Phase::streaming || stream_ended_) return;
        stream_ended_ = true;
        queue("0\r\n\r\n");
        release_subscription();
    }
    void keep(uint64_t generation, std::unique_ptr<daemon::Subscription> subscription) {
        // Too late (the stream is over or the client left): cancel at once.
        if (generation != generation_ || stream_ended_ ||
            (phase_ != Phase::stream_opened && phase_ != Phase::streaming)) {
            if (subscription) subscription->cancel();
            return;
        }
        subscription_ = std::move(subscription);
        // The service accepted the stream: send the header now, so a client waiting for rare
        // events knows at once that it is subscribed.
        if (phase_ == Phase::stream_opened) begin_stream();
    }

    // The socket, what the client sent behind its request and the "101 UPGRADED" head go to
    // take, unwritten (see Responder::upgrade), and this session ends without touching the
    // connection again.
    void upgrade(uint64_t generation, const std::string& content_type,
                 const Responder::TakeConnection& take) {
        if (generation != generation_ || phase_ != Phase::handling) return;
        hand_over(take, "HTTP/1.1 101 UPGRADED\r\nContent-Type: " + content_type +
                            "\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nServer: trumand\r\n\r\n");
    }

    // A response body from the other end of session_end (SocketOutputStream), chunked as it
    // comes, read no faster than the client takes it.
    void open_output(uint64_t generation, unsigned status, std::string content_type, Fd session_end,
                     std::shared_ptr<StreamState> state) {
        if (generation != generation_ || phase_ != Phase::handling) return;  // the fd closes
        stream_status_ = status;
        stream_type_ = std::move(content_type);
        out_socket_.emplace(stream_.get_executor());
        beast::error_code ec;
        out_socket_->assign(local(), session_end.release(), ec);
        if (ec) return close();
        out_state_ = std::move(state);
        out_chunk_.resize(size_t{64} * 1024);
        begin_stream();
        pump_output();
    }

    net::any_io_executor executor() { return stream_.get_executor(); }

  private:
    static bool connection_names_upgrade(beast::string_view value) {
        std::string v(value);
        for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return v.find("upgrade") != std::string::npos;
    }

    // The connection leaves the server: a descriptor of its own for take, and this one
    // closed without a shutdown (which would end the connection for both).
    void hand_over(const Responder::TakeConnection& take, std::string head) {
        Fd connection(fcntl(stream_.socket().native_handle(), F_DUPFD_CLOEXEC, 3));
        std::string pending(static_cast<const char*>(buffer_.data().data()), buffer_.size());
        buffer_.consume(buffer_.size());
        phase_ = Phase::closed;
        server_->remove(this);
        release_subscription();
        beast::error_code ec;
        stream_.socket().close(ec);
        if (!connection) {
            spdlog::error("upgrade: dup: {}",
                          std::error_code(errno, std::generic_category()).message());
            return;
        }
        try {
            take(std::move(connection), std::move(pending), std::move(head));
        } catch (const std::exception& e) {
            spdlog::error("upgraded connection: {}", e.what());
        }
    }

    enum class Phase { reading, handling, stream_opened, streaming, writing, closed };

    // The header is read alone (an empty_body parser): only then is it known whether the
    // route takes its body whole (string_body, max_body_bytes) or as a stream.
    void read() {
        if (closing_) return close();
        phase_ = Phase::reading;
        ++generation_;
        header_parser_.emplace();
        header_parser_->body_limit(std::numeric_limits<uint64_t>::max());
        header_parser_->header_limit(static_cast<uint32_t>(server_->limits.max_header_bytes));
        stream_.expires_after(server_->limits.idle_timeout);
        http::async_read_header(
            stream_, buffer_, *header_parser_,
            [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
    }

    bool route_streams_body(const http::request_header<>& head) const {
        try {
            std::string path;
            std::map<std::string, std::string> query;
            parse_target(std::string(head.target()), &path, &query);
            return server_->router.streams_body(std::string(head.method_string()), path);
        } catch (const std::exception&) {
            return false;  // on_read answers for the bad target
        }
    }

    // curl sends "Expect: 100-continue" with a body over 1 KiB and holds the body back for a
    // second unless told to go on. A body over the limit is refused with the header already.
    void on_header(beast::error_code ec) {
        if (ec) return on_read(ec);
        bool streaming = reject_status_ == 0 && route_streams_body(header_parser_->get());
        body_limit_ =
            streaming ? server_->limits.max_stream_body_bytes : server_->limits.max_body_bytes;
        if (auto length = header_parser_->content_length(); length && *length > body_limit_)
            return on_read(http::error::body_limit);
        bool go_on = reject_status_ == 0 && !header_parser_->is_done() &&
                     beast::iequals(header_parser_->get()[http::field::expect], "100-continue");
        if (streaming) {
            body_parser_.emplace(std::move(*header_parser_));
            body_parser_->body_limit(body_limit_);
            return start_streaming_body(go_on);
        }
        parser_.emplace(std::move(*header_parser_));
        parser_->body_limit(body_limit_);
        if (parser_->is_done()) return on_read({});
        if (!go_on) return read_body();
        continue_then([self = shared_from_this()] { self->read_body(); });
    }

    template <typename Next>
    void continue_then(Next next) {
        static const std::string go_on = "HTTP/1.1 100 Continue\r\n\r\n";
        net::async_write(stream_, net::buffer(go_on),
                         [self = shared_from_this(), next = std::move(next)](
                             beast::error_code write_ec, size_t) {
                             if (self->phase_ == Phase::closed) return;
                             if (write_ec) return self->close();
                             next();
                         });
    }

    // The handler runs at once, with the body as a stream it reads on a thread of its own;
    // the session feeds that stream as the client sends, one read ahead at most. The
    // connection closes after the answer (the handler may answer before the body's end).
    void start_streaming_body(bool go_on) {
        int fds[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
            phase_ = Phase::handling;
            keep_alive_ = false;
            return write_response(
                error_response(500, "internal", "socketpair: " + errno_text(errno)));
        }
        Fd handler_end(fds[1]);
        in_state_ = std::make_shared<StreamState>();
        in_socket_.emplace(stream_.get_executor());
        beast::error_code ec;
        in_socket_->assign(local(), fds[0], ec);
        phase_ = Phase::handling;
        keep_alive_ = false;
        if (ec) return write_response(error_response(500, "internal", ec.message()));
        Request request = request_of(body_parser_->get());
        request.body_stream = std::make_shared<SocketBodyStream>(std::move(handler_end), in_state_);
        stream_.expires_never();
        auto responder = make_responder();
        try {
            parse_target(request.target, &request.path, &request.query);
        } catch (...) {
            in_socket_.reset();
            return write_response(error_response(std::current_exception()));
        }
        if (go_on)
            continue_then([self = shared_from_this()] { self->pump_body(); });
        else
            pump_body();
        server_->router.dispatch(request, responder);
    }

    void pump_body() {
        if (phase_ == Phase::closed || !in_socket_) return;
        if (body_parser_->is_done()) return end_body("");
        stream_.expires_after(server_->limits.idle_timeout);
        http::async_read_some(
            stream_, buffer_, *body_parser_,
            [self = shared_from_this()](beast::error_code ec, size_t) { self->on_body_part(ec); });
    }

    void on_body_part(beast::error_code ec) {
        if (phase_ == Phase::closed || !in_socket_) return;
        if (phase_ == Phase::handling) stream_.expires_never();
        if (ec == http::error::body_limit)
            return end_body("request body exceeds " + std::to_string(body_limit_) + " bytes");
        if (ec) return end_body("request body: " + ec.message());
        auto& body = body_parser_->get().body();
        if (body.size() == 0) return pump_body();
        net::async_write(*in_socket_, body.data(),
                         [self = shared_from_this()](beast::error_code write_ec, size_t n) {
                             if (self->phase_ == Phase::closed || !self->in_socket_) return;
                             self->body_parser_->get().body().consume(n);
                             // The handler stopped reading: it answers on its own.
                             if (write_ec) return self->in_socket_.reset();
                             self->pump_body();
                         });
    }

    // Our end closes: the handler reads the end of the body, or, with a failure, an error.
    void end_body(const std::string& failure) {
        if (!failure.empty()) {
            std::lock_guard lock(in_state_->mutex);
            in_state_->failure = failure;
        }
        in_socket_.reset();
    }

    void pump_output() {
        if (phase_ == Phase::closed || !out_socket_) return;
        if (backlog_ > kOutputBacklog) {
            output_waiting_ = true;  // write_next resumes once the client took some
            return;
        }
        out_socket_->async_read_some(
            net::buffer(out_chunk_), [self = shared_from_this()](beast::error_code ec, size_t n) {
                if (self->phase_ == Phase::closed || !self->out_socket_) return;
                if (n > 0) self->chunk(self->generation_, std::string(self->out_chunk_.data(), n));
                if (ec == net::error::eof) {
                    bool finished;
                    {
                        std::lock_guard lock(self->out_state_->mutex);
                        finished = self->out_state_->finished;
                    }
                    self->out_socket_.reset();
                    if (finished) return self->end_stream(self->generation_);
                    spdlog::warn("a streamed response ended before it was complete");
                    return self->close();  // no last chunk: the client sees it was cut
                }
                if (ec) return self->close();
                self->pump_output();
            });
    }

    template <typename Message>
    static Request request_of(const Message& message) {
        Request request;
        request.method = std::string(message.method_string());
        request.target = std::string(message.target());
        request.content_type = std::string(message[http::field::content_type]);
        if (connection_names_upgrade(message[http::field::connection])) {
            request.upgrade = std::string(message[http::field::upgrade]);
            for (char& c : request.upgrade)
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        return request;
    }

    void read_body() {
        http::async_read(
            stream_, buffer_, *parser_,
            [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec) {
        if (phase_ == Phase::closed) return;
        if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
            ec == net::error::operation_aborted || ec == net::error::eof ||
            ec == net::error::connection_reset) {
            if (ec == beast::error::timeout) spdlog::debug("connection idle too long, dropped");
            return close();
        }
        phase_ = Phase::handling;
        keep_alive_ = false;
        if (ec == http::error::body_limit)
            return write_response(
                error_response(413, "payload_too_large",
                               "request body exceeds " + std::to_string(body_limit_) + " bytes"));
        if (ec == http::error::header_limit)
            return write_response(
                error_response(431, "header_too_large",
                               "request header exceeds " +
                                   std::to_string(server_->limits.max_header_bytes) + " bytes"));
        if (ec) return write_response(error_response(400, "bad_request", ec.message()));

        auto& message = parser_->get();
        keep_alive_ = message.keep_alive() && reject_status_ == 0;
        if (reject_status_ == 403)
            return write_response(error_response(403, "forbidden",
                                                 "not allowed to use this socket (needs root or "
                                                 "the socket's group)"));
        if (reject_status_ == 503)
            return write_response(
                error_response(503, "too_many_connections", "too many connections, retry later"));

        Request request = request_of(message);
        request.body = std::move(message.body());
        stream_.expires_never();  // handlers like wait may take as long as the container
        auto responder = make_responder();
        try {
            parse_target(request.target, &request.path, &request.query);
        } catch (...) {
            return write_response(error_response(std::current_exception()));
        }
        server_->router.dispatch(request, responder);
    }

    std::shared_ptr<Responder> make_responder();

    void write_response(Response response) {
        phase_ = Phase::writing;
        auto res = std::make_shared<http::response<http::string_body>>(
            static_cast<http::status>(response.status), 11);
        res->set(http::field::server, "trumand");
        if (!response.content_type.empty())
            res->set(http::field::content_type, response.content_type);
        for (auto& [name, value] : response.headers) res->set(name, value);
        res->body() = std::move(response.body);
        res->keep_alive(keep_alive_ && !closing_ && !server_->shutting_down);
        res->prepare_payload();
        stream_.expires_after(server_->limits.idle_timeout);
        http::async_write(stream_, *res,
                          [self = shared_from_this(), res](beast::error_code ec, size_t) {
                              if (ec || !res->keep_alive()) return self->close();
                              if (self->server_->shutting_down) return self->close();
                              self->read();
                          });
    }

    // Streams end the connection (Connection: close): a client that was following logs or
    // events is done with it, and it spares us telling a watch-read apart from a new request.
    void begin_stream() {
        phase_ = Phase::streaming;
        std::string head = status_line(stream_status_);
        head += "Server: trumand\r\nContent-Type: " + stream_type_ +
                "\r\nTransfer-Encoding: chunked\r\nCache-Control: no-cache\r\nConnection: "
                "close\r\n\r\n";
        queue(std::move(head));
        watch_for_close();
    }

    // A streaming client leaves by closing the socket; a pending read is how we notice
    // (events may be rare, so waiting for a failing write could take forever).
    void watch_for_close() {
        stream_.socket().async_read_some(
            net::buffer(scratch_), [self = shared_from_this()](beast::error_code ec, size_t) {
                if (self->phase_ == Phase::closed) return;
                if (ec) return self->close();
                self->watch_for_close();  // anything a streaming client sends is ignored
            });
    }

    void queue(std::string bytes) {
        if (phase_ == Phase::closed) return;
        backlog_ += bytes.size();
        out_.push_back(std::move(bytes));
        if (backlog_ > server_->limits.max_stream_backlog) {
            spdlog::warn("streaming client is not reading, dropped");
            return close();
        }
        if (!writing_) write_next();
    }

    void write_next() {
        if (out_.empty()) {
            if (stream_ended_) close();
            return;
        }
        writing_ = true;
        net::async_write(stream_.socket(), net::buffer(out_.front()),
                         [self = shared_from_this()](beast::error_code ec, size_t n) {
                             self->writing_ = false;
                             if (self->phase_ == Phase::closed) return;
                             if (ec) return self->close();
                             self->backlog_ -= n;
                             self->out_.pop_front();
                             if (self->output_waiting_ && self->backlog_ <= kOutputBacklog) {
                                 self->output_waiting_ = false;
                                 self->pump_output();
                             }
                             self->write_next();
                         });
    }

    void release_subscription() {
        if (auto sub = std::move(subscription_)) sub->cancel();
    }

    void close() {
        if (phase_ == Phase::closed) return;
        phase_ = Phase::closed;
        // No longer a connection, even while a service callback (a wait) still holds us.
        server_->remove(this);
        release_subscription();
        // A handler still reading the body learns it will not be complete; one still writing
        // a response body, that nobody takes it.
        if (in_socket_) end_body("the connection closed before the request body was complete");
        out_socket_.reset();
        // out_ stays: a write in flight may still be reading its front buffer until the
        // cancellation below completes it; the session's destruction frees it.
        beast::error_code ec;
        stream_.socket().shutdown(local::socket::shutdown_both, ec);
        stream_.close();
    }

    Stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::empty_body>> header_parser_;
    std::optional<http::request_parser<http::string_body>> parser_;
    uint64_t body_limit_ = 0;  // this request's
    // A streaming route's request body (in_) or a handler's streamed response body (out_).
    std::optional<http::request_parser<http::dynamic_body>> body_parser_;
    std::optional<local::socket> in_socket_, out_socket_;
    std::shared_ptr<StreamState> in_state_, out_state_;
    std::vector<char> out_chunk_;
    bool output_waiting_ = false;
    std::shared_ptr<Server::Impl> server_;
    unsigned reject_status_;  // 0, or 403/503: answer every request with that and close

    Phase phase_ = Phase::reading;
    uint64_t generation_ = 0;
    bool keep_alive_ = false;
    bool closing_ = false;  // server shutting down: finish the current answer, then close

    unsigned stream_status_ = 200;
    std::string stream_type_;
    std::deque<std::string> out_;
    size_t backlog_ = 0;
    bool writing_ = false;
    bool stream_ended_ = false;
    std::unique_ptr<daemon::Subscription> subscription_;
    std::array<char, 512> scratch_{};
};

class SessionResponder : public Responder {
  public:
    SessionResponder(std::shared_ptr<Session> session, uint64_t generation)
        : session_(std::move(session)), generation_(generation) {}

    void respond(Response response) override {
        post([g = generation_, r = std::move(response)](Session& s) mutable {
            s.deliver(g, std::move(r));
        });
    }
    void open_stream(unsigned status, std::string content_type) override {
        post([g = generation_, status, t = std::move(content_type)](Session& s) mutable {
            s.open_stream(g, status, std::move(t));
        });
    }
    void chunk(std::string data) override {
        post([g = generation_, d = std::move(data)](Session& s) { s.chunk(g, d); });
    }
    void end_stream() override {
        post([g = generation_](Session& s) { s.end_stream(g); });
    }
    void keep(std::unique_ptr<daemon::Subscription> subscription) override {
        // std::function needs a copyable callable: carry the unique_ptr in a shared_ptr.
        auto holder =
            std::make_shared<std::unique_ptr<daemon::Subscription>>(std::move(subscription));
        post([g = generation_, holder](Session& s) { s.keep(g, std::move(*holder)); });
    }

    std::shared_ptr<OutputStream> open_output(unsigned status, std::string content_type) override {
        int fds[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
            throw system_error("socketpair for a response body");
        auto state = std::make_shared<StreamState>();
        auto session_end = std::make_shared<Fd>(fds[0]);
        post([g = generation_, status, t = std::move(content_type), session_end,
              state](Session& s) mutable {
            s.open_output(g, status, std::move(t), std::move(*session_end), state);
        });
        return std::make_shared<SocketOutputStream>(Fd(fds[1]), state);
    }

    void upgrade(const std::string& content_type, const TakeConnection& take) override {
        post([g = generation_, t = content_type, take = TakeConnection(take)](Session& s) {
            s.upgrade(g, t, take);
        });
    }

  private:
    template <typename Fn>
    void post(Fn&& fn) {
        net::post(session_->executor(),
                  [session = session_, fn = std::forward<Fn>(fn)]() mutable { fn(*session); });
    }
    std::shared_ptr<Session> session_;
    uint64_t generation_;
};

std::shared_ptr<Responder> Session::make_responder() {
    return std::make_shared<SessionResponder>(shared_from_this(), generation_);
}

}  // namespace

void Server::Impl::accept() {
    acceptor.async_accept(net::make_strand(io), [self = shared_from_this()](beast::error_code ec,
                                                                            local::socket socket) {
        if (ec == net::error::operation_aborted || self->shutting_down) return;
        if (ec) {
            // EMFILE and friends: keep accepting rather than go deaf, but not at once. The
            // connection that failed stays in the backlog, so the listening socket is still
            // readable and an immediate retry fails again: a busy loop writing tens of
            // thousands of log lines a second until a descriptor frees up.
            spdlog::warn("accept: {}; retrying in 100 ms", ec.message());
            self->accept_retry.expires_after(std::chrono::milliseconds(100));
            self->accept_retry.async_wait([self](beast::error_code wait_ec) {
                if (!wait_ec && !self->shutting_down) self->accept();
            });
            return;
        }
        unsigned reject = 0;
        {
            std::lock_guard lock(self->mutex);
            if (self->sessions.size() >= self->limits.max_connections) reject = 503;
        }
        if (!reject && self->check_peer) {
            struct ucred cred {};
            socklen_t len = sizeof cred;
            if (getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
                !self->check_peer(PeerCredentials{cred.pid, cred.uid, cred.gid})) {
                spdlog::info("refused connection from pid {} uid {}", cred.pid, cred.uid);
                reject = 403;
            }
        }
        auto session = std::make_shared<Session>(std::move(socket), self, reject);
        self->add(session.get(), session);
        session->start();
        self->accept();
    });
}

void Server::Impl::add(Session* session, const std::shared_ptr<Session>& ptr) {
    std::lock_guard lock(mutex);
    sessions.emplace(session, ptr);
}

void Server::Impl::remove(Session* session) {
    bool last;
    {
        std::lock_guard lock(mutex);
        if (sessions.erase(session) == 0) return;  // closed before, now destroyed
        last = sessions.empty();
    }
    if (last && shutting_down)
        net::post(acceptor.get_executor(),
                  [self = shared_from_this()] { self->finish_shutdown(); });
}

std::vector<std::shared_ptr<Session>> Server::Impl::live_sessions() {
    std::vector<std::shared_ptr<Session>> live;
    std::lock_guard lock(mutex);
    for (auto& [raw, weak] : sessions)
        if (auto s = weak.lock()) live.push_back(std::move(s));
    return live;
}

// On the acceptor's strand, like everything that touches the acceptor and the grace timer.
void Server::Impl::finish_shutdown() {
    if (done_called) return;
    done_called = true;
    grace_timer.cancel();
    if (done) net::post(io, std::move(done));
}

Server::Server(net::io_context& io, int listen_fd, const Router& router, ServerLimits limits,
               PeerCheck check_peer)
    : impl_(std::make_shared<Impl>(io, listen_fd, router, limits, std::move(check_peer))) {}

Server::~Server() {
    // Pending operations hold impl_; closing the acceptor ends the accept loop.
    net::post(impl_->acceptor.get_executor(), [impl = impl_] {
        beast::error_code ec;
        impl->acceptor.close(ec);
        impl->accept_retry.cancel();
    });
}

void Server::start() {
    net::dispatch(impl_->acceptor.get_executor(), [impl = impl_] { impl->accept(); });
}

void Server::shutdown(std::chrono::milliseconds grace, std::function<void()> done) {
    // Set at once, so that any answer written from now on says "Connection: close".
    if (impl_->shutting_down.exchange(true)) return;
    net::post(impl_->acceptor.get_executor(), [impl = impl_, grace, done = std::move(done)] {
        impl->done = done;
        beast::error_code ec;
        impl->acceptor.close(ec);
        impl->accept_retry.cancel();
        auto live = impl->live_sessions();
        if (live.empty()) return impl->finish_shutdown();
        for (auto& s : live) net::post(s->executor(), [s] { s->on_shutdown(); });
        impl->grace_timer.expires_after(grace);
        impl->grace_timer.async_wait([impl](beast::error_code ec) {
            if (ec || impl->done_called) return;
            auto left = impl->live_sessions();
            if (!left.empty())
                spdlog::info("grace period over, closing {} connections", left.size());
            for (auto& s : left) net::post(s->executor(), [s] { s->force_close(); });
            impl->finish_shutdown();
        });
    });
}

size_t Server::connection_count() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->sessions.size();
}

}  // namespace truman::api
