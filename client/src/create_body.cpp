#include "truman/client/create_body.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "truman/client/format.hpp"
#include "truman/client/port_commands.hpp"

namespace truman::client {

using nlohmann::json;

namespace {

void apply_security_opt(const std::string& opt, json* body) {
    size_t eq = opt.find('=');
    std::string key = opt.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : opt.substr(eq + 1);
    if (key == "seccomp") {
        if (value == "unconfined" || value == "default") {
            (*body)["seccomp"] = value;
            return;
        }
        if (value == "learn") {  // the default profile, recording what the container calls
            (*body)["seccomp"] = json{{"learn", true}};
            return;
        }
        if (value.empty())
            throw std::invalid_argument(
                "--security-opt seccomp= needs unconfined, default, learn or a profile file");
        // A file with an OCI seccomp profile: sent as the object the API takes.
        std::ifstream in(value);
        if (!in)
            throw std::invalid_argument("--security-opt seccomp=" + value +
                                        ": cannot read the profile file");
        std::stringstream text;
        text << in.rdbuf();
        json profile = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
        if (!profile.is_object())
            throw std::invalid_argument("--security-opt seccomp=" + value + ": not a JSON object");
        (*body)["seccomp"] = profile;
        return;
    }
    if (key == "no-new-privileges") {
        if (value.empty() || value == "true")
            (*body)["no_new_privileges"] = true;
        else if (value == "false")
            (*body)["no_new_privileges"] = false;
        else
            throw std::invalid_argument("--security-opt no-new-privileges takes true or false");
        return;
    }
    throw std::invalid_argument(
        "--security-opt \"" + opt +
        "\": expected seccomp=unconfined|default|learn|FILE or no-new-privileges");
}

}  // namespace

json create_body(const CreateOptions& o) {
    json body = json::object();
    std::vector<std::string> cmd = o.args;
    if (o.rootfs.empty()) {
        if (cmd.empty()) throw std::invalid_argument("an IMAGE (or --rootfs PATH) is required");
        body["image"] = cmd.front();
        cmd.erase(cmd.begin());
    } else {
        body["rootfs"] = o.rootfs;
    }
    if (!cmd.empty()) body["cmd"] = cmd;
    if (o.interactive) {
        body["open_stdin"] = true;
        body["stdin_once"] = true;
    }
    if (o.tty) body["tty"] = true;
    if (!o.name.empty()) body["name"] = o.name;
    if (!o.hostname.empty()) body["hostname"] = o.hostname;
    if (!o.workdir.empty()) body["cwd"] = o.workdir;
    if (!o.user.empty()) body["user"] = o.user;
    if (o.read_only) body["read_only"] = true;

    if (!o.env.empty()) {
        json env = json::array();
        for (const auto& var : o.env) {
            if (var.find('=') != std::string::npos) {
                env.push_back(var);
            } else if (const char* value = std::getenv(var.c_str())) {
                env.push_back(var + "=" + value);  // docker's -e NAME: pass ours through
            }
        }
        body["env"] = env;
    }
    if (!o.cap_add.empty()) body["cap_add"] = o.cap_add;
    if (!o.cap_drop.empty()) body["cap_drop"] = o.cap_drop;

    const bool is_mode =
        o.network == "none" || o.network == "loopback" || o.network == "veth" || o.network.empty();
    if (o.network == "host") {
        if (!o.ip.empty() || !o.gateway.empty())
            throw std::invalid_argument("--ip and --gateway do not go with --network host");
        body["network"] = "host";
    } else if (!is_mode) {
        // Any other word names a network (trumanctl network create).
        if (!o.gateway.empty())
            throw std::invalid_argument("--gateway is the network's: only with --network veth");
        json network{{"name", o.network}};
        if (!o.ip.empty()) network["ip"] = o.ip;
        if (!o.ip6.empty()) network["ip6"] = o.ip6;
        if (!o.network_aliases.empty()) network["aliases"] = o.network_aliases;
        body["networks"] = json::array({network});
    } else if (!o.network.empty()) {
        json network{{"mode", o.network}};
        if (!o.ip.empty()) network["address"] = o.ip;
        if (!o.gateway.empty()) network["gateway"] = o.gateway;
        body["network"] = network;
    } else if (!o.ip.empty() || !o.gateway.empty()) {
        throw std::invalid_argument("--ip and --gateway need --network veth");
    }

    if (!o.ip6.empty() && body.find("networks") == body.end())
        throw std::invalid_argument("--ip6 needs a named --network (with IPv6)");
    if (!o.network_aliases.empty() && body.find("networks") == body.end())
        throw std::invalid_argument("--network-alias needs a named --network");
    if (!o.dns.empty()) body["dns"] = o.dns;
    if (!o.add_hosts.empty()) body["extra_hosts"] = o.add_hosts;

    json resources = json::object();
    if (!o.memory.empty()) resources["memory"] = parse_size(o.memory);
    if (o.pids_limit) resources["pids_limit"] = *o.pids_limit;
    if (!o.cpus.empty() && o.cpu_quota)
        throw std::invalid_argument("give --cpus or --cpu-quota, not both");
    if (!o.cpus.empty()) {
        resources["cpu_quota"] = cpus_to_quota(o.cpus);
        resources["cpu_period"] = kCpuPeriod;
    }
    if (o.cpu_quota) resources["cpu_quota"] = *o.cpu_quota;
    if (!resources.empty()) body["resources"] = resources;

    for (const auto& opt : o.security_opts) apply_security_opt(opt, &body);
    if (!o.publish.empty()) {
        json ports = json::array();
        for (const auto& p : o.publish) ports.push_back(publish_from_flag(p));
        body["ports"] = ports;
    }
    return body;
}

std::string flag_for_field(const CreateOptions& o, const std::string& field) {
    // Body field (a whole prefix of components) -> the flag that sets it.
    static const std::pair<std::string_view, std::string_view> flags[] = {
        {"name", "--name"},
        {"hostname", "--hostname"},
        {"cwd", "--workdir"},
        {"user", "--user"},
        {"env", "--env"},
        {"read_only", "--read-only"},
        {"cap_add", "--cap-add"},
        {"cap_drop", "--cap-drop"},
        {"network.address", "--ip"},
        {"network.gateway", "--gateway"},
        {"network", "--network"},
        {"networks[0].ip6", "--ip6"},
        {"networks[0].ip", "--ip"},
        {"networks", "--network"},
        {"resources.memory", "--memory"},
        {"resources.pids_limit", "--pids-limit"},
        {"resources.cpu_period", "--cpus"},
        {"seccomp", "--security-opt seccomp"},
        {"no_new_privileges", "--security-opt no-new-privileges"},
        {"rootfs", "--rootfs"},
        {"ports", "--publish"},
    };
    // --cpus and --cpu-quota both set the quota.
    if (field == "resources.cpu_quota") return o.cpus.empty() ? "--cpu-quota" : "--cpus";
    for (const auto& [prefix, flag] : flags) {
        if (field.compare(0, prefix.size(), prefix) != 0) continue;
        if (field.size() > prefix.size() && field[prefix.size()] != '.' &&
            field[prefix.size()] != '[')
            continue;  // "resources.memory_swap" is not "resources.memory"
        std::string rest = field.substr(prefix.size());
        // Inside a seccomp profile file the profile's own path still helps.
        if (prefix == "seccomp" && rest.size() > 1)
            return std::string(flag) + " (" + rest.substr(1) + ")";
        return std::string(flag);
    }
    return "";
}

ApiError in_flag_terms(const ApiError& e, const CreateOptions& options) {
    std::string flag = e.field().empty() ? "" : flag_for_field(options, e.field());
    if (flag.empty()) return e;
    return ApiError(e.status(), e.code(), flag + ": " + e.reason(), e.field());
}

}  // namespace truman::client
