#include "truman/api/handlers.hpp"

#include <spdlog/spdlog.h>

#include <csignal>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <thread>

#include "attach_handlers.hpp"
#include "truman/api/errors.hpp"
#include "truman/api/mapping.hpp"

namespace truman::api {

using nlohmann::json;

namespace {

// A typo in a query parameter ("?forse=true") would otherwise silently do the default.
void allow_params(const Request& request, std::initializer_list<const char*> names) {
    for (const auto& [key, value] : request.query) {
        bool known = false;
        for (const char* name : names) known = known || key == name;
        if (!known) throw invalid_argument(key, "unknown query parameter");
    }
}

bool bool_param(const Request& request, const char* name, bool fallback) {
    auto v = request.param(name);
    return v ? parse_bool_param(name, *v) : fallback;
}

bool is_json(const std::string& content_type) {
    std::string media = content_type.substr(0, content_type.find(';'));
    while (!media.empty() && media.back() == ' ') media.pop_back();
    for (char& c : media) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return media == "application/json";
}

// Runs fn; anything it throws goes to the client as an error (used inside service callbacks,
// where an exception would otherwise unwind into the service's io loop).
template <typename Fn>
void answer(const std::shared_ptr<Responder>& responder, Fn&& fn) noexcept {
    try {
        fn();
    } catch (...) {
        try {
            responder->respond(error_response(std::current_exception()));
        } catch (...) {
        }
    }
}

// A blocking service call, on ApiOptions::run_blocking when there is one. In place, what fn
// throws reaches the router like any handler's error; on a worker, answer() reports it.
template <typename Fn>
void run_blocking(const ApiOptions& options, const std::shared_ptr<Responder>& responder, Fn fn) {
    if (!options.run_blocking) return fn();
    options.run_blocking([responder, fn = std::move(fn)]() mutable { answer(responder, fn); });
}

// resize's ?h=&w=: both required, each in 1..65535 (a terminal's rows and columns).
std::pair<unsigned, unsigned> window_size(const Request& request) {
    allow_params(request, {"h", "w"});
    auto size = [&](const char* name) {
        auto v = request.param(name);
        if (!v) throw invalid_argument(name, "is required");
        return static_cast<unsigned>(parse_int_param(name, *v, 1, 65535));
    };
    unsigned h = size("h");
    return {h, size("w")};
}

void create(daemon::ContainerService& service, const ApiOptions& options, Request& request,
            const std::shared_ptr<Responder>& responder) {
    allow_params(request, {});
    if (!is_json(request.content_type)) {
        responder->respond(error_response(
            415, "unsupported_media_type",
            "Content-Type must be application/json, not \"" + request.content_type + "\""));
        return;
    }
    json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded()) throw invalid_argument("body", "malformed JSON");
    run_blocking(options, responder,
                 [&service, responder, create = create_request_from_json(body)] {
                     std::string id;
                     try {
                         id = service.create(create);
                     } catch (const Error& e) {
                         // The service validated the spec: its fields are OCI's, the
                         // client wrote the body's.
                         throw in_api_terms(e);
                     }
                     responder->respond(json_response(201, {{"id", id}}));
                 });
}

void list(daemon::ContainerService& service, Request& request,
          const std::shared_ptr<Responder>& responder) {
    allow_params(request, {"state"});
    std::optional<daemon::Status> filter;
    if (auto state = request.param("state")) {
        filter = daemon::status_from_string(*state);
        if (!filter)
            throw invalid_argument("state",
                                   "must be created, running or exited, not \"" + *state + "\"");
    }
    json out = json::array();
    for (const auto& info : service.list(filter)) out.push_back(to_json(info));
    responder->respond(json_response(200, out));
}

void wait(daemon::ContainerService& service, Request& request,
          const std::shared_ptr<Responder>& responder) {
    allow_params(request, {});
    service.async_wait(request.path_params.at("id"), [responder](std::exception_ptr error,
                                                                 daemon::ContainerState state) {
        answer(responder, [&] {
            if (error) std::rethrow_exception(error);
            responder->respond(json_response(200, {{"exit_code", state.exit_code.value_or(-1)},
                                                   {"signal", state.signal},
                                                   {"oom_killed", state.oom_killed}}));
        });
    });
}

void stop(daemon::ContainerService& service, Request& request,
          const std::shared_ptr<Responder>& responder) {
    allow_params(request, {"timeout", "signal"});
    long long timeout = 10;
    if (auto t = request.param("timeout"))
        timeout = parse_int_param("timeout", *t, 0, int64_t{24} * 3600);
    auto signal = request.param("signal");
    service.async_stop(request.path_params.at("id"), std::chrono::seconds(timeout),
                       signal ? parse_signal(*signal) : 0, [responder](std::exception_ptr error) {
                           answer(responder, [&] {
                               if (error) std::rethrow_exception(error);
                               responder->respond(empty_response(204));
                           });
                       });
}

void logs(daemon::ContainerService& service, Request& request,
          const std::shared_ptr<Responder>& responder) {
    allow_params(request, {"follow", "tail", "timestamps", "stdout", "stderr", "format"});
    daemon::LogOptions options;
    options.follow = bool_param(request, "follow", false);
    options.timestamps = bool_param(request, "timestamps", false);
    options.stdout_stream = bool_param(request, "stdout", true);
    options.stderr_stream = bool_param(request, "stderr", true);
    if (auto tail = request.param("tail"); tail && *tail != "all")
        options.tail = static_cast<size_t>(parse_int_param("tail", *tail, 0, 1LL << 40));
    bool as_json = false;
    if (auto format = request.param("format")) {
        if (*format == "json")
            as_json = true;
        else if (*format != "text")
            throw invalid_argument("format", "must be text or json");
    }
    bool timestamps = options.timestamps;
    responder->open_stream(200, as_json ? "application/x-ndjson" : "text/plain; charset=utf-8");
    auto on_line = [responder, as_json, timestamps](const daemon::LogLine& line) {
        answer(responder, [&] {
            if (as_json) {
                responder->chunk(
                    to_json(line).dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
            } else {
                responder->chunk((timestamps ? line.time + " " : std::string()) + line.text + "\n");
            }
        });
    };
    auto on_end = [responder] { answer(responder, [&] { responder->end_stream(); }); };
    responder->keep(service.logs(request.path_params.at("id"), options, on_line, on_end));
}

void events(daemon::ContainerService& service, Request& request,
            const std::shared_ptr<Responder>& responder) {
    allow_params(request, {});
    responder->open_stream(200, "application/x-ndjson");
    responder->keep(service.events([responder](const daemon::Event& event) {
        answer(responder, [&] { responder->chunk(to_json(event).dump() + "\n"); });
    }));
}

// A body that is there but not JSON is answered 415, as for create: true then.
bool refuse_non_json(const Request& request, const std::shared_ptr<Responder>& responder) {
    if (request.body.empty() || is_json(request.content_type)) return false;
    responder->respond(error_response(
        415, "unsupported_media_type",
        "Content-Type must be application/json, not \"" + request.content_type + "\""));
    return true;
}

// The body of a POST that may come without one, as JSON (null when empty).
json optional_json_body(const Request& request) {
    if (request.body.empty()) return nullptr;
    json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded()) throw invalid_argument("body", "malformed JSON");
    return body;
}

void create_exec(daemon::ContainerService& service, const ApiOptions& options, Request& request,
                 const std::shared_ptr<Responder>& responder) {
    allow_params(request, {});
    if (refuse_non_json(request, responder)) return;
    json body = optional_json_body(request);
    if (body.is_null()) throw invalid_argument("cmd", "is required");
    run_blocking(
        options, responder,
        [&service, responder, id = request.path_params.at("id"),
         exec = exec_request_from_json(body)] {
            responder->respond(json_response(201, {{"id", service.create_exec(id, exec)}}));
        });
}

// Detached: once it runs, its inspect. Otherwise once it has exited, everything it wrote as
// Docker stream frames (live streams come with attach).
void start_exec(daemon::ContainerService& service, const ApiOptions& options, Request& request,
                const std::shared_ptr<Responder>& responder) {
    if (!request.upgrade.empty()) return start_exec_upgraded(service, options, request, responder);
    allow_params(request, {});
    if (refuse_non_json(request, responder)) return;
    bool detach = exec_detach_from_json(optional_json_body(request));
    std::string id = request.path_params.at("id");
    if (detach)
        return run_blocking(options, responder, [&service, responder, id] {
            responder->respond(json_response(200, to_json(service.start_exec(id))));
        });
    // Started and waited for in one round trip to the monitor, without blocking a thread.
    service.async_run_exec(
        id, [&service, responder, id](std::exception_ptr error, const daemon::ExecInfo&) {
            answer(responder, [&] {
                if (error) std::rethrow_exception(error);
                Response r;
                r.content_type = "application/vnd.docker.multiplexed-stream";
                r.body = service.exec_output(id);
                responder->respond(std::move(r));
            });
        });
}

void seccomp(daemon::ContainerService& service, Request& request,
             const std::shared_ptr<Responder>& responder) {
    allow_params(request, {"follow", "since", "tail"});
    daemon::SeccompOptions options;
    options.follow = bool_param(request, "follow", false);
    options.since = request.param("since").value_or("");
    if (auto tail = request.param("tail"); tail && *tail != "all")
        options.tail = static_cast<size_t>(parse_int_param("tail", *tail, 0, 1LL << 40));
    // Opened before the service call, whose first records may come from another thread at
    // once; the header goes out only with keep(), so a bad since or an unknown container is
    // still a plain 400 or 404.
    responder->open_stream(200, "application/x-ndjson");
    auto on_record = [responder](const daemon::SeccompRecord& record) {
        answer(responder, [&] {
            responder->chunk(to_json(record).dump(-1, ' ', false, json::error_handler_t::replace) +
                             "\n");
        });
    };
    auto on_end = [responder] { answer(responder, [&] { responder->end_stream(); }); };
    responder->keep(service.seccomp(request.path_params.at("id"), options, on_record, on_end));
}

// /v1/networks: plain calls on the service's networks; create and delete make and remove a
// bridge (the kernel's RCU grace periods make a delete take tens of ms), so they run blocking.
daemon::NetworkService& networks_of(daemon::ContainerService& service) {
    daemon::NetworkService* networks = service.network_service();
    if (!networks)
        throw make_error(ErrorKind::unsupported, "this daemon manages no networks", ENOSYS);
    return *networks;
}

void add_network_routes(Router& router, daemon::ContainerService& s, const ApiOptions& options) {
    using R = std::shared_ptr<Responder>;
    router.add("POST", "/v1/networks", [&s, options](Request& req, const R& r) {
        allow_params(req, {});
        if (!is_json(req.content_type)) {
            r->respond(error_response(
                415, "unsupported_media_type",
                "Content-Type must be application/json, not \"" + req.content_type + "\""));
            return;
        }
        json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
        if (body.is_discarded()) throw invalid_argument("body", "malformed JSON");
        run_blocking(options, r, [&s, r, create = network_create_request_from_json(body)] {
            r->respond(json_response(201, to_json(networks_of(s).create_network(create))));
        });
    });
    router.add("GET", "/v1/networks", [&s](Request& req, const R& r) {
        allow_params(req, {});
        json out = json::array();
        for (const auto& n : networks_of(s).list_networks()) out.push_back(to_json(n));
        r->respond(json_response(200, out));
    });
    router.add("GET", "/v1/networks/{name}", [&s](Request& req, const R& r) {
        allow_params(req, {});
        r->respond(json_response(
            200, to_json(networks_of(s).inspect_network(req.path_params.at("name")))));
    });
    router.add("DELETE", "/v1/networks/{name}", [&s, options](Request& req, const R& r) {
        allow_params(req, {});
        run_blocking(options, r, [&s, r, name = req.path_params.at("name")] {
            networks_of(s).remove_network(name);
            r->respond(empty_response(204));
        });
    });
}

// POST /v1/networks/{name}/connect and /disconnect: a JSON body naming the container.
// false (415 sent) for another content type.
bool json_body_of(const Request& req, const std::shared_ptr<Responder>& r, json* body) {
    if (!is_json(req.content_type)) {
        r->respond(error_response(
            415, "unsupported_media_type",
            "Content-Type must be application/json, not \"" + req.content_type + "\""));
        return false;
    }
    *body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (body->is_discarded()) throw invalid_argument("body", "malformed JSON");
    return true;
}

void add_network_connect_routes(Router& router, daemon::ContainerService& s,
                                const ApiOptions& options) {
    using R = std::shared_ptr<Responder>;
    router.add("POST", "/v1/networks/{name}/connect", [&s, options](Request& req, const R& r) {
        allow_params(req, {});
        json body;
        if (!json_body_of(req, r, &body)) return;
        auto request = network_connect_request_from_json(body);
        run_blocking(options, r, [&s, r, request, name = req.path_params.at("name")] {
            networks_of(s).connect_network(name, request);
            r->respond(empty_response(204));
        });
    });
    router.add("POST", "/v1/networks/{name}/disconnect", [&s, options](Request& req, const R& r) {
        allow_params(req, {});
        json body;
        if (!json_body_of(req, r, &body)) return;
        auto container = network_disconnect_container_from_json(body);
        run_blocking(options, r, [&s, r, container, name = req.path_params.at("name")] {
            networks_of(s).disconnect_network(name, container);
            r->respond(empty_response(204));
        });
    });
}

// POST /v1/images/pull?ref=&platform=: one JSON line per layer event, then the image (or
// the error) as the last line: the status is sent before the pull can fail.
void pull_image(daemon::ContainerService& service, Request& request,
                const std::shared_ptr<Responder>& responder) {
    allow_params(request, {"ref", "platform"});
    daemon::PullRequest pull;
    auto ref = request.param("ref");
    if (!ref) throw invalid_argument("ref", "is required");
    pull.ref = *ref;
    pull.platform = request.param("platform").value_or("");
    responder->open_stream(200, "application/x-ndjson");
    service.async_pull_image(
        pull,
        [responder](const daemon::PullProgressEvent& event) {
            answer(responder, [&] { responder->chunk(to_json(event).dump() + "\n"); });
        },
        [responder](std::exception_ptr error, const daemon::ImageInfo& image) {
            answer(responder, [&] {
                json last;
                if (error) {
                    Response r = error_response(error);
                    last = {{"status", "failed"}, {"error", json::parse(r.body)["error"]}};
                } else {
                    last = {{"status", "pulled"}, {"image", to_json(image)}};
                }
                responder->chunk(last.dump() + "\n");
                responder->end_stream();
            });
        });
}

// Import and export move whole archives: off the io threads (the body is read and the tar
// written blocking), on the workers when there are, else on a thread of their own (never in
// place: the session that feeds the body runs on the io thread).
template <typename Fn>
void run_streaming(const ApiOptions& options, const std::shared_ptr<Responder>& responder, Fn fn) {
    auto call = [responder, fn = std::move(fn)]() mutable { answer(responder, fn); };
    if (options.run_blocking) return options.run_blocking(std::move(call));
    std::thread(std::move(call)).detach();
}

// POST /v1/images/import[?tag=]: the body is the archive, streamed.
void import_images(daemon::ContainerService& service, const ApiOptions& options, Request& request,
                   const std::shared_ptr<Responder>& responder) {
    allow_params(request, {"tag"});
    if (!request.body_stream) throw invalid_argument("body", "is required");
    run_streaming(
        options, responder,
        [&service, responder, tag = request.param("tag").value_or(""), body = request.body_stream] {
            auto images = service.import_images(
                [&body](void* buf, size_t size) { return body->read(buf, size); }, tag);
            json list = json::array();
            for (const auto& image : images) list.push_back(to_json(image));
            responder->respond(json_response(200, json{{"images", list}}));
        });
}

// GET /v1/images/{ref*}/export: an OCI layout tar, streamed. An unknown image is a plain 404;
// a failure once the tar is under way cuts the stream short (no last chunk).
void export_image(daemon::ContainerService& service, const ApiOptions& options, Request& request,
                  const std::shared_ptr<Responder>& responder) {
    allow_params(request, {});
    run_streaming(options, responder, [&service, responder, ref = request.path_params.at("ref")] {
        daemon::ImageExporter exporter = service.export_image(ref);
        std::shared_ptr<OutputStream> out = responder->open_output(200, "application/x-tar");
        try {
            exporter([&out](const void* data, size_t size) { out->write(data, size); });
        } catch (const std::exception& e) {
            spdlog::error("export {}: {}", ref, e.what());
            return;  // out goes unfinished: the client sees the tar cut short
        }
        out->finish();
    });
}

void add_image_routes(Router& router, daemon::ContainerService& s, const ApiOptions& options) {
    using R = std::shared_ptr<Responder>;
    router.add("POST", "/v1/images/pull",
               [&s](Request& req, const R& r) { pull_image(s, req, r); });
    router.add_streaming("POST", "/v1/images/import", [&s, options](Request& req, const R& r) {
        import_images(s, options, req, r);
    });
    // Before GET /v1/images/{ref*}, which would take "x/export" for an image's name.
    router.add("GET", "/v1/images/{ref*}/export",
               [&s, options](Request& req, const R& r) { export_image(s, options, req, r); });
    router.add("GET", "/v1/images", [&s](Request& req, const R& r) {
        allow_params(req, {});
        json list = json::array();
        for (const auto& image : s.list_images()) list.push_back(to_json(image));
        r->respond(json_response(200, list));
    });
    router.add("GET", "/v1/images/{ref*}", [&s](Request& req, const R& r) {
        allow_params(req, {});
        r->respond(json_response(200, to_json(s.inspect_image(req.path_params.at("ref")))));
    });
    router.add("POST", "/v1/images/{ref*}/tag", [&s](Request& req, const R& r) {
        allow_params(req, {"tag"});
        auto tag = req.param("tag");
        if (!tag) throw invalid_argument("tag", "is required");
        r->respond(json_response(201, to_json(s.tag_image(req.path_params.at("ref"), *tag))));
    });
    // Log-in talks to the registry: off the io threads, like import.
    router.add("POST", "/v1/auth", [&s, options](Request& req, const R& r) {
        allow_params(req, {});
        json body;
        if (!json_body_of(req, r, &body)) return;
        run_streaming(options, r, [&s, r, login = login_request_from_json(body)] {
            s.login_registry(login);
            r->respond(json_response(200, json{{"status", "Login Succeeded"}}));
        });
    });
    router.add("DELETE", "/v1/auth/{registry}", [&s](Request& req, const R& r) {
        allow_params(req, {});
        s.logout_registry(req.path_params.at("registry"));
        r->respond(empty_response(204));
    });
    router.add("DELETE", "/v1/images/{ref*}", [&s, options](Request& req, const R& r) {
        allow_params(req, {"force"});
        run_blocking(
            options, r,
            [&s, r, ref = req.path_params.at("ref"), force = bool_param(req, "force", false)] {
                s.remove_image(ref, force);
                r->respond(empty_response(204));
            });
    });
}

}  // namespace

void add_v1_routes(Router& router, daemon::ContainerService& service, ApiOptions options) {
    using R = std::shared_ptr<Responder>;
    auto& s = service;
    router.add("GET", "/v1/_ping", [](Request& req, const R& r) {
        allow_params(req, {});
        r->respond(text_response(200, "OK"));
    });
    router.add("GET", "/v1/version", [options](Request& req, const R& r) {
        allow_params(req, {});
        r->respond(
            json_response(200, {{"version", options.version}, {"api_version", kApiVersion}}));
    });
    router.add("GET", "/v1/info", [&s, options](Request& req, const R& r) {
        allow_params(req, {});
        json info = to_json(s.info());
        info["version"] = options.version;
        info["api_version"] = kApiVersion;
        r->respond(json_response(200, info));
    });
    router.add("POST", "/v1/containers",
               [&s, options](Request& req, const R& r) { create(s, options, req, r); });
    router.add("GET", "/v1/containers", [&s](Request& req, const R& r) { list(s, req, r); });
    router.add("GET", "/v1/containers/{id}", [&s](Request& req, const R& r) {
        allow_params(req, {});
        r->respond(json_response(200, to_json(s.inspect(req.path_params.at("id")))));
    });
    router.add("DELETE", "/v1/containers/{id}", [&s, options](Request& req, const R& r) {
        allow_params(req, {"force"});
        run_blocking(
            options, r,
            [&s, r, id = req.path_params.at("id"), force = bool_param(req, "force", false)] {
                s.remove(id, force);
                r->respond(empty_response(204));
            });
    });
    router.add("POST", "/v1/containers/{id}/start", [&s, options](Request& req, const R& r) {
        allow_params(req, {});
        run_blocking(options, r, [&s, r, id = req.path_params.at("id")] {
            s.start(id);
            r->respond(empty_response(204));
        });
    });
    router.add("POST", "/v1/containers/{id}/kill", [&s, options](Request& req, const R& r) {
        allow_params(req, {"signal"});
        auto signal = req.param("signal");
        run_blocking(options, r,
                     [&s, r, id = req.path_params.at("id"),
                      number = signal ? parse_signal(*signal) : SIGKILL] {
                         s.kill(id, number);
                         r->respond(empty_response(204));
                     });
    });
    router.add("POST", "/v1/containers/{id}/resize", [&s, options](Request& req, const R& r) {
        auto [h, w] = window_size(req);
        run_blocking(options, r, [&s, r, id = req.path_params.at("id"), h = h, w = w] {
            s.resize(id, h, w);
            r->respond(empty_response(204));
        });
    });
    router.add("POST", "/v1/exec/{id}/resize", [&s, options](Request& req, const R& r) {
        auto [h, w] = window_size(req);
        run_blocking(options, r, [&s, r, id = req.path_params.at("id"), h = h, w = w] {
            s.resize_exec(id, h, w);
            r->respond(empty_response(204));
        });
    });
    router.add("POST", "/v1/containers/{id}/stop",
               [&s](Request& req, const R& r) { stop(s, req, r); });
    router.add("POST", "/v1/containers/{id}/wait",
               [&s](Request& req, const R& r) { wait(s, req, r); });
    router.add("GET", "/v1/containers/{id}/logs",
               [&s](Request& req, const R& r) { logs(s, req, r); });
    router.add("GET", "/v1/events", [&s](Request& req, const R& r) { events(s, req, r); });
    router.add("POST", "/v1/containers/{id}/exec",
               [&s, options](Request& req, const R& r) { create_exec(s, options, req, r); });
    router.add("POST", "/v1/exec/{id}/start",
               [&s, options](Request& req, const R& r) { start_exec(s, options, req, r); });
    router.add("GET", "/v1/exec/{id}", [&s](Request& req, const R& r) {
        allow_params(req, {});
        r->respond(json_response(200, to_json(s.inspect_exec(req.path_params.at("id")))));
    });
    router.add("GET", "/v1/containers/{id}/seccomp",
               [&s](Request& req, const R& r) { seccomp(s, req, r); });
    router.add("GET", "/v1/containers/{id}/seccomp/profile", [&s](Request& req, const R& r) {
        allow_params(req, {});
        r->respond(
            json_response(200, seccomp_to_json(s.seccomp_profile(req.path_params.at("id")))));
    });
    add_network_routes(router, s, options);
    add_network_connect_routes(router, s, options);
    add_image_routes(router, s, options);
    add_attach_routes(router, s, options);
}

}  // namespace truman::api
