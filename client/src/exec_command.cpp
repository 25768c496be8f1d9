// trumanctl exec: POST /v1/containers/{id}/exec, then /v1/exec/{id}/start; without -d the
// start is upgraded (attach.hpp): the output comes live as Docker stream frames, which go to
// stdout and stderr, with -i our stdin goes to the command, and trumanctl exits with the
// exec's code (GET /v1/exec/{id}), as docker does.
#include <iostream>
#include <nlohmann/json.hpp>

#include "truman/client/attach.hpp"
#include "truman/client/commands.hpp"

namespace truman::client {

int exec_command(const ApiClient& api, const ExecOptions& options) {
    nlohmann::json body = {{"cmd", options.cmd}};
    if (!options.env.empty()) body["env"] = options.env;
    if (!options.cwd.empty()) body["cwd"] = options.cwd;
    if (!options.user.empty()) body["user"] = options.user;
    if (options.interactive) body["stdin"] = true;
    if (options.tty) body["tty"] = true;
    std::string id = api.call_json(
        "POST", "/v1/containers/" + url_encode(options.container) + "/exec", &body)["id"];
    std::string path = "/v1/exec/" + id;
    if (options.detach) {
        nlohmann::json start = {{"detach", true}};
        api.call("POST", path + "/start", &start);
        std::cout << id << std::endl;
        return 0;
    }
    // Attached: its output as it comes, and with -i our stdin as its own. The connection
    // closes once it has exited, and its exit is on record by then.
    PumpOptions pump_options;
    pump_options.send_stdin = options.interactive;
    pump_options.on_resize = [&api, path](unsigned h, unsigned w) {
        api.call("POST", path + "/resize?h=" + std::to_string(h) + "&w=" + std::to_string(w));
    };
    nlohmann::json empty = nlohmann::json::object();
    pump(upgrade(api, "POST", path + "/start", &empty), pump_options);
    nlohmann::json info = api.call_json("GET", path);
    return info["exit_code"].is_number() ? info["exit_code"].get<int>() : kExitApiError;
}

}  // namespace truman::client
