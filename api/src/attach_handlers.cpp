#include "attach_handlers.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <nlohmann/json.hpp>

#include "truman/api/errors.hpp"
#include "truman/api/mapping.hpp"
#include "truman/detach_keys.hpp"
#include "truman/error.hpp"

namespace truman::api {

namespace {

constexpr const char* kMultiplexed = "application/vnd.docker.multiplexed-stream";
// A terminal's stream: raw bytes, as Docker sends them.
constexpr const char* kRaw = "application/vnd.docker.raw-stream";

bool flag(const Request& request, const char* name, bool fallback) {
    auto v = request.param(name);
    return v ? parse_bool_param(name, *v) : fallback;
}

// Docker's query: stdin, stdout, stderr (which streams), stream (live; the only mode here),
// logs (the log so far first), detachKeys (Docker's notation).
daemon::AttachRequest attach_request(const Request& request) {
    for (const auto& [key, value] : request.query)
        if (key != "stdin" && key != "stdout" && key != "stderr" && key != "stream" &&
            key != "logs" && key != "detachKeys")
            throw invalid_argument(key, "unknown query parameter");
    daemon::AttachRequest a;
    a.stdin_stream = flag(request, "stdin", false);
    a.stdout_stream = flag(request, "stdout", false);
    a.stderr_stream = flag(request, "stderr", false);
    if (!flag(request, "stream", true))
        throw unsupported_argument("stream", "only live streams are supported (stream=true)");
    a.logs = flag(request, "logs", false);
    if (auto keys = request.param("detachKeys")) {
        try {
            a.detach_keys = parse_detach_keys(*keys);
        } catch (const Error& e) {
            throw invalid_argument("detachKeys", e.reason());
        }
    }
    return a;
}

void require_upgrade(const Request& request) {
    if (request.upgrade != "tcp")
        throw invalid_argument("Upgrade", "needs the headers Connection: Upgrade and Upgrade: tcp");
}

// The monitor refused the connection (or could not be reached) before it wrote the 101: the
// client still speaks HTTP, so it gets a plain error response, and the connection closes.
void refuse_upgraded(const Fd& connection, const std::exception_ptr& error) {
    std::string bytes = response_bytes(error_response(error));
    (void)send(connection.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

template <typename Fn>
void run_blocking(const ApiOptions& options, Fn fn) {
    if (options.run_blocking) return options.run_blocking(std::move(fn));
    fn();
}

// Hands an upgraded connection to serve(connection), off the io thread (it waits on the
// monitor). If serve throws, the monitor never took the connection and never wrote the 101:
// the error goes to the client, in HTTP, on a copy kept for that.
template <typename Serve>
void serve_upgraded(const ApiOptions& options, Fd connection, Serve serve) {
    auto shared = std::make_shared<Fd>(std::move(connection));
    run_blocking(options, [shared, serve = std::move(serve)] {
        Fd mine(shared->release());
        Fd copy(fcntl(mine.get(), F_DUPFD_CLOEXEC, 3));
        try {
            serve(std::move(mine));
        } catch (const std::exception&) {
            if (copy) refuse_upgraded(copy, std::current_exception());
        }
    });
}

void attach(daemon::ContainerService& service, const ApiOptions& options, Request& request,
            const std::shared_ptr<Responder>& responder) {
    daemon::AttachRequest a = attach_request(request);
    require_upgrade(request);
    std::string id = request.path_params.at("id");
    // Refused in plain HTTP while that is still possible: no such container, or exited.
    bool tty = service.check_attach(id);
    responder->upgrade(
        tty ? kRaw : kMultiplexed,
        [&service, options, id, a](Fd connection, std::string pending, std::string head) mutable {
            a.input = std::move(pending);
            a.handshake = std::move(head);
            serve_upgraded(options, std::move(connection),
                           [&service, id, a](Fd mine) { service.attach(id, a, std::move(mine)); });
        });
}

}  // namespace

void Responder::upgrade(const std::string&, const TakeConnection&) {
    respond(error_response(501, "not_implemented", "this connection cannot be upgraded"));
}

void start_exec_upgraded(daemon::ContainerService& service, const ApiOptions& options,
                         Request& request, const std::shared_ptr<Responder>& responder) {
    if (!request.query.empty())
        throw invalid_argument(request.query.begin()->first, "unknown query parameter");
    require_upgrade(request);
    if (!request.body.empty()) {
        nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
        if (body.is_discarded()) throw invalid_argument("body", "malformed JSON");
        if (exec_detach_from_json(body))
            throw invalid_argument("detach", "an upgraded start is attached");
    }
    std::string id = request.path_params.at("id");
    daemon::ExecInfo info = service.inspect_exec(id);
    if (info.pid != 0 || info.exit_code)
        throw make_error(ErrorKind::conflict, "exec " + id + " was already started");
    responder->upgrade(
        info.tty ? kRaw : kMultiplexed,
        [&service, options, id](Fd connection, std::string pending, std::string head) {
            daemon::AttachRequest a;
            a.stdin_stream = true;  // if the exec was created with stdin
            a.input = std::move(pending);
            a.handshake = std::move(head);
            serve_upgraded(options, std::move(connection), [&service, id, a](Fd mine) {
                service.start_exec_attached(id, a, std::move(mine));
            });
        });
}

void add_attach_routes(Router& router, daemon::ContainerService& s, const ApiOptions& options) {
    router.add("POST", "/v1/containers/{id}/attach",
               [&s, options](Request& req, const std::shared_ptr<Responder>& r) {
                   attach(s, options, req, r);
               });
}

}  // namespace truman::api
