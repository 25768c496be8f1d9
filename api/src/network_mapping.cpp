// JSON <-> the network half of the service (network_service.hpp): POST /v1/networks's body,
// a network as GET shows it, and a container create's "networks".
#include <nlohmann/json.hpp>

#include "truman/api/mapping.hpp"
#include "truman/daemon/port_mapping_json.hpp"
#include "truman/json_reader.hpp"

namespace truman::api {

using nlohmann::json;

daemon::NetworkCreateRequest network_create_request_from_json(const json& body) {
    JsonObjectReader f(body, "", "body");
    daemon::NetworkCreateRequest request;
    request.name = json_string(f.required("name"), "name");
    f.optional("subnet", request.subnet, json_string);
    f.optional("gateway", request.gateway, json_string);
    f.optional("bridge", request.bridge, json_string);
    f.optional("internal", request.internal, json_bool);
    if (const json* v = f.get("ipv6")) request.ipv6 = json_bool(*v, "ipv6");
    f.optional("subnet6", request.subnet6, json_string);
    f.optional("gateway6", request.gateway6, json_string);
    if (const json* labels = f.get("labels")) {
        if (!labels->is_object()) throw invalid_argument("labels", "must be an object");
        for (const auto& [key, value] : labels->items())
            request.labels[key] = json_string(value, "labels." + key);
    }
    f.finish();
    return request;
}

std::vector<daemon::NetworkAttachRequest> attach_requests_from_json(const json& v) {
    return json_array<daemon::NetworkAttachRequest>(
        v, "networks", [](const json& e, const std::string& path) {
            daemon::NetworkAttachRequest r;
            if (e.is_string()) {  // shorthand: "networks": ["front"]
                r.network = json_string(e, path);
                return r;
            }
            JsonObjectReader f(e, path);
            r.network = json_string(f.required("name"), f.path("name"));
            f.optional("ip", r.ip, json_string);
            f.optional("ip6", r.ip6, json_string);
            if (const json* a = f.get("aliases")) r.aliases = json_strings(*a, f.path("aliases"));
            f.finish();
            return r;
        });
}

void apply_name_options(JsonObjectReader& f, daemon::NameOptions* names) {
    if (const json* v = f.get("dns")) names->dns = json_strings(*v, "dns");
    if (const json* v = f.get("dns_search")) names->dns_search = json_strings(*v, "dns_search");
    if (const json* v = f.get("dns_options")) names->dns_options = json_strings(*v, "dns_options");
    if (const json* v = f.get("extra_hosts")) names->extra_hosts = json_strings(*v, "extra_hosts");
}

daemon::NetworkConnectRequest network_connect_request_from_json(const json& body) {
    JsonObjectReader f(body, "", "body");
    daemon::NetworkConnectRequest request;
    request.container = json_string(f.required("container"), "container");
    f.optional("ip", request.ip, json_string);
    f.optional("ip6", request.ip6, json_string);
    if (const json* a = f.get("aliases")) request.aliases = json_strings(*a, "aliases");
    f.finish();
    return request;
}

std::string network_disconnect_container_from_json(const json& body) {
    JsonObjectReader f(body, "", "body");
    std::string container = json_string(f.required("container"), "container");
    f.finish();
    return container;
}

json to_json(const daemon::NetworkInfo& n) {
    json containers = json::array();
    for (const auto& c : n.containers) {
        json e = {{"id", c.container_id}, {"name", c.container_name}, {"address", c.address}};
        if (!c.address6.empty()) e["address6"] = c.address6;
        containers.push_back(std::move(e));
    }
    return json{{"id", n.id},
                {"name", n.name},
                {"bridge", n.bridge},
                {"subnet", n.subnet},
                {"gateway", n.gateway},
                {"internal", n.internal},
                {"labels", n.labels},
                {"created_at", n.created_at},
                {"containers", std::move(containers)},
                {"ipv6", !n.subnet6.empty()},
                {"subnet6", n.subnet6},
                {"gateway6", n.gateway6}};
}

json to_json(const std::vector<daemon::ContainerEndpoint>& endpoints) {
    json out = json::array();
    for (const auto& e : endpoints) {
        json j = {{"network", e.network},
                  {"interface", e.interface},
                  {"address", e.address},
                  {"gateway", e.gateway}};
        if (!e.address6.empty()) {
            j["address6"] = e.address6;
            j["gateway6"] = e.gateway6;
        }
        out.push_back(std::move(j));
    }
    return out;
}

std::vector<daemon::PortMapping> port_mappings_from_json(const json& v) {
    return json_array<daemon::PortMapping>(v, "ports", [](const json& e, const std::string& path) {
        JsonObjectReader f(e, path);
        daemon::PortMapping p;
        f.optional("host_ip", p.host_ip, json_string);
        f.optional("host_port", p.host_port, json_u32);
        f.optional("host_port_end", p.host_port_end, json_u32);
        p.container_port = json_u32(f.required("container_port"), f.path("container_port"));
        f.optional("container_port_end", p.container_port_end, json_u32);
        f.optional("proto", p.proto, json_string);
        f.finish();
        return p;
    });
}

json to_json(const std::vector<daemon::PortMapping>& ports) {
    return daemon::port_mappings_to_json(ports);  // as the records on disk have them
}

}  // namespace truman::api
