#include "test_netns.hpp"

#include <sstream>
#include <stdexcept>

#include "test_support.hpp"
#include "truman/network.hpp"

namespace truman::test {

TestNetns::TestNetns(const std::string& prefix) : name_(unique_name(prefix)) {
    create_named_netns(name_);
}

TestNetns::~TestNetns() {
    try {
        delete_named_netns(name_);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "TestNetns: %s\n", e.what());
    }
}

int TestNetns::run(const std::string& command, std::string* output) const {
    std::string quoted;
    for (char c : command) {
        if (c == '\'')
            quoted += "'\\''";
        else
            quoted += c;
    }
    return run_host("nsenter --net=" + path() + " sh -c '" + quoted + "'", output);
}

std::set<std::string> TestNetns::links() const {
    std::string out;
    if (run("ip -o link show", &out) != 0) throw std::runtime_error("ip link: " + out);
    std::set<std::string> names;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
        // "3: name@if2: <...": the name, without the peer's "@ifN".
        auto colon = line.find(": ");
        if (colon == std::string::npos) continue;
        std::string name = line.substr(colon + 2, line.find(':', colon + 2) - colon - 2);
        names.insert(name.substr(0, name.find('@')));
    }
    return names;
}

std::set<std::string> TestNetns::addresses() const {
    std::string out;
    if (run("ip -o addr show", &out) != 0) throw std::runtime_error("ip addr: " + out);
    std::set<std::string> found;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream f(line);
        std::string index, dev, family, address;
        if (f >> index >> dev >> family >> address) found.insert(dev + " " + address);
    }
    return found;
}

}  // namespace truman::test
