#include "test_outside.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include "test_support.hpp"

namespace truman::test {

TestOutside::TestOutside(const TestNetns& inside)
    : dns_pid_file_("/tmp/" + netns_.name() + ".dns.pid") {
    std::string out;
    const std::string up = unique_name("tmu"), down = unique_name("tmd");
    EXPECT_EQ(inside.run("ip link add " + up + " type veth peer name " + down + " netns " +
                             netns_.name() + " && ip addr add 198.51.100.2/24 dev " + up +
                             " && ip link set " + up + " up && ip link set lo up" +
                             " && ip route add default via 198.51.100.1",
                         &out),
              0)
        << out;
    EXPECT_EQ(netns_.run("ip addr add 198.51.100.1/24 dev " + down + " && ip link set " + down +
                             " up && ip link set lo up",
                         &out),
              0)
        << out;
}

TestOutside::~TestOutside() {
    try {
        std::string pid = read_file(dns_pid_file_);
        if (!pid.empty()) ::kill(std::stoi(pid), SIGKILL);
    } catch (const std::exception&) {
        // never started
    }
    ::unlink(dns_pid_file_.c_str());
}

bool TestOutside::serve_dns(const std::map<std::string, std::string>& names, std::string* output) {
    std::string cmd =
        "dnsmasq --no-resolv --no-hosts --no-poll --bind-interfaces --listen-address=" +
        std::string(address) +
        " --except-interface=lo --user=root --group=root --pid-file=" + dns_pid_file_;
    for (const auto& [name, ip] : names) cmd += " --address=/" + name + "/" + ip;
    // dnsmasq forks into the background once it listens: its exit status says it does.
    return netns_.run(cmd, output) == 0;
}

}  // namespace truman::test
