// trumanctl exec: POST /v1/containers/{id}/exec, then /v1/exec/{id}/start; without -d the
// start answers after the exit with the output as Docker stream frames, which go to stdout
// and stderr, and trumanctl exits with the exec's code (GET /v1/exec/{id}), as docker does.
#include <iostream>
#include <nlohmann/json.hpp>

#include "truman/client/commands.hpp"

namespace truman::client {

namespace {

// The frames of openapi.yaml (core/include/truman/stream_frame.hpp on the server's side):
// type byte, three zero bytes, big-endian size, payload.
void write_frames(const std::string& frames) {
    size_t at = 0;
    while (frames.size() - at >= 8) {
        auto byte = [&](size_t i) {
            return static_cast<uint32_t>(static_cast<uint8_t>(frames[at + i]));
        };
        uint32_t size = (byte(4) << 24) | (byte(5) << 16) | (byte(6) << 8) | byte(7);
        if (frames.size() - at - 8 < size) break;
        (byte(0) == 2 ? std::cerr : std::cout).write(frames.data() + at + 8, size);
        at += 8 + size;
    }
    std::cout.flush();
    std::cerr.flush();
}

}  // namespace

int exec_command(const ApiClient& api, const ExecOptions& options) {
    nlohmann::json body = {{"cmd", options.cmd}};
    if (!options.env.empty()) body["env"] = options.env;
    if (!options.cwd.empty()) body["cwd"] = options.cwd;
    if (!options.user.empty()) body["user"] = options.user;
    std::string id = api.call_json(
        "POST", "/v1/containers/" + url_encode(options.container) + "/exec", &body)["id"];
    std::string path = "/v1/exec/" + id;
    nlohmann::json start = {{"detach", options.detach}};
    std::string answer = api.call("POST", path + "/start", &start);
    if (options.detach) {
        std::cout << id << std::endl;
        return 0;
    }
    write_frames(answer);
    nlohmann::json info = api.call_json("GET", path);
    return info["exit_code"].is_number() ? info["exit_code"].get<int>() : kExitApiError;
}

}  // namespace truman::client
