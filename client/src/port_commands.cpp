#include "truman/client/port_commands.hpp"

#include <iostream>
#include <stdexcept>

namespace truman::client {

using nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& value, const std::string& why) {
    throw std::invalid_argument("-p " + value + ": " + why);
}

unsigned long number(const std::string& text, const std::string& value) {
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos ||
        text.size() > 6)
        bad(value, "\"" + text + "\" is not a port number");
    return std::stoul(text);
}

// "8000" or "8000-8010" -> first and last (0 when a single port).
std::pair<unsigned long, unsigned long> range(const std::string& text, const std::string& value) {
    auto dash = text.find('-');
    if (dash == std::string::npos) return {number(text, value), 0};
    return {number(text.substr(0, dash), value), number(text.substr(dash + 1), value)};
}

std::string span(const json& p, const char* first, const char* last) {
    unsigned long a = p.value(first, 0UL), b = p.value(last, 0UL);
    return b == 0 || b == a ? std::to_string(a) : std::to_string(a) + "-" + std::to_string(b);
}

}  // namespace

json publish_from_flag(const std::string& value) {
    std::string rest = value;
    std::string proto = "tcp";
    if (auto slash = rest.rfind('/'); slash != std::string::npos) {
        proto = rest.substr(slash + 1);
        rest.erase(slash);
    }
    // An IPv6 host address is in brackets, as Docker has it: [2001:db8::2]:8080:80. Any other
    // splits on the last two ':'.
    std::string host_ip, host, container;
    auto last = rest.rfind(':');
    if (!rest.empty() && rest.front() == '[') {
        auto close = rest.find("]:");
        if (close == std::string::npos || close == 1) bad(value, "a bad [IPv6 address]");
        host_ip = rest.substr(1, close - 1);
        std::string ports = rest.substr(close + 2);
        auto colon = ports.find(':');
        if (colon == std::string::npos) bad(value, "[address]:HOSTPORT:PORT");
        host = ports.substr(0, colon);
        container = ports.substr(colon + 1);
    } else if (last == std::string::npos) {
        container = rest;
    } else {
        container = rest.substr(last + 1);
        std::string front = rest.substr(0, last);
        auto ip_end = front.rfind(':');
        if (ip_end == std::string::npos) {
            host = front;
        } else {
            host_ip = front.substr(0, ip_end);
            host = front.substr(ip_end + 1);
            if (host_ip.empty()) bad(value, "an empty host address");
        }
    }
    json out{{"proto", proto}};
    auto [c_first, c_last] = range(container, value);
    out["container_port"] = c_first;
    if (c_last != 0) out["container_port_end"] = c_last;
    if (!host.empty()) {
        auto [h_first, h_last] = range(host, value);
        out["host_port"] = h_first;
        if (h_last != 0) out["host_port_end"] = h_last;
    } else {
        out["host_port"] = 0;
    }
    if (!host_ip.empty()) out["host_ip"] = host_ip;
    return out;
}

std::string ports_text(const json& ports) {
    std::string out;
    if (!ports.is_array()) return out;
    for (const auto& p : ports) {
        if (!out.empty()) out += ", ";
        std::string host_ip = p.value("host_ip", "0.0.0.0");
        if (host_ip.find(':') != std::string::npos) {  // IPv6: [2001:db8::2]:8080, as Docker
            host_ip.insert(0, 1, '[');
            host_ip += ']';
        }
        out += host_ip + ":" + span(p, "host_port", "host_port_end") + "->" +
               span(p, "container_port", "container_port_end") + "/" + p.value("proto", "tcp");
    }
    return out;
}

int port_command(const ApiClient& api, const std::string& ref) {
    json c = api.call_json("GET", "/v1/containers/" + url_encode(ref));
    for (const auto& p : c.value("ports", json::array()))
        std::cout << span(p, "container_port", "container_port_end") << "/"
                  << p.value("proto", "tcp") << " -> " << p.value("host_ip", "0.0.0.0") << ":"
                  << span(p, "host_port", "host_port_end") << "\n";
    return 0;
}

}  // namespace truman::client
