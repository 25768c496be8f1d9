#include "truman/client/network_commands.hpp"

#include <iostream>
#include <sstream>
#include <stdexcept>

#include "truman/client/commands.hpp"

namespace truman::client {

using nlohmann::json;

namespace {

std::string network_path(const std::string& name) {
    return "/v1/networks/" + url_encode(name);
}

}  // namespace

json network_create_body(const NetworkCreateOptions& o) {
    json body = {{"name", o.name}};
    if (!o.subnet.empty()) body["subnet"] = o.subnet;
    if (!o.gateway.empty()) body["gateway"] = o.gateway;
    if (!o.bridge.empty()) body["bridge"] = o.bridge;
    if (o.internal) body["internal"] = true;
    if (o.ipv6) body["ipv6"] = true;
    if (!o.subnet6.empty()) body["subnet6"] = o.subnet6;
    if (!o.gateway6.empty()) body["gateway6"] = o.gateway6;
    if (!o.labels.empty()) {
        json labels = json::object();
        for (const auto& label : o.labels) {
            auto eq = label.find('=');
            if (eq == std::string::npos || eq == 0)
                throw std::invalid_argument("--label must be KEY=VALUE, not \"" + label + "\"");
            labels[label.substr(0, eq)] = label.substr(eq + 1);
        }
        body["labels"] = labels;
    }
    return body;
}

int network_create_command(const ApiClient& api, const NetworkCreateOptions& options) {
    json body = network_create_body(options);
    json made = api.call_json("POST", "/v1/networks", &body);
    std::cout << made.value("id", "") << std::endl;
    return 0;
}

std::string network_table(const json& networks) {
    std::vector<std::vector<std::string>> rows = {
        {"NAME", "SUBNET", "GATEWAY", "BRIDGE", "CONTAINERS", "INTERNAL"}};
    for (const auto& n : networks)
        rows.push_back({n.value("name", ""), n.value("subnet", ""), n.value("gateway", ""),
                        n.value("bridge", ""),
                        std::to_string(n.contains("containers") ? n["containers"].size() : 0),
                        n.value("internal", false) ? "yes" : "no"});
    std::vector<size_t> width(rows[0].size(), 0);
    for (const auto& row : rows)
        for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
    std::ostringstream out;
    for (const auto& row : rows) {
        std::string line;
        for (size_t i = 0; i < row.size(); ++i) {
            line += row[i];
            if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 3, ' ');
        }
        out << line << "\n";
    }
    return out.str();
}

int network_ls_command(const ApiClient& api, bool quiet, bool as_json) {
    json list = api.call_json("GET", "/v1/networks");
    if (as_json) {
        std::cout << list.dump(2) << std::endl;
    } else if (quiet) {
        for (const auto& n : list) std::cout << n.value("name", "") << "\n";
    } else {
        std::cout << network_table(list);
    }
    return 0;
}

int network_inspect_command(const ApiClient& api, const std::vector<std::string>& names) {
    json found = json::array();
    int rc = 0;
    for (const auto& name : names) {
        try {
            found.push_back(api.call_json("GET", network_path(name)));
        } catch (const ApiError& e) {
            std::cerr << "trumanctl: " << e.what() << std::endl;
            rc = kExitApiError;
        }
    }
    std::cout << (names.size() == 1 && !found.empty() ? found[0] : found).dump(2) << std::endl;
    return rc;
}

int network_rm_command(const ApiClient& api, const std::vector<std::string>& names) {
    int rc = 0;
    for (const auto& name : names) {
        try {
            api.call("DELETE", network_path(name));
            std::cout << name << std::endl;
        } catch (const ApiError& e) {
            std::cerr << "trumanctl: " << e.what() << std::endl;
            rc = kExitApiError;
        }
    }
    return rc;
}

int network_connect_command(const ApiClient& api, const NetworkConnectOptions& o) {
    json body{{"container", o.container}};
    if (!o.ip.empty()) body["ip"] = o.ip;
    if (!o.ip6.empty()) body["ip6"] = o.ip6;
    if (!o.aliases.empty()) body["aliases"] = o.aliases;
    api.call("POST", network_path(o.network) + "/connect", &body);
    return 0;
}

int network_disconnect_command(const ApiClient& api, const NetworkConnectOptions& o) {
    json body{{"container", o.container}};
    api.call("POST", network_path(o.network) + "/disconnect", &body);
    return 0;
}

}  // namespace truman::client
