// "The outside" for network tests: a second namespace of the test's own (TestNetns), wired to
// `inside` by a veth, 198.51.100.2 there (with a default route via the outside) and
// 198.51.100.1 here; and a DNS server there (dnsmasq, answering only the names it is given,
// never forwarding). Its servers are killed by their pids and both namespaces removed by the
// destructors, also when the test fails. (nat_test.cpp has the same wiring inline.)
#pragma once

#include <map>
#include <string>

#include "test_netns.hpp"

namespace truman::test {

class TestOutside {
  public:
    explicit TestOutside(const TestNetns& inside);
    ~TestOutside();
    TestOutside(const TestOutside&) = delete;
    TestOutside& operator=(const TestOutside&) = delete;

    const TestNetns& netns() const { return netns_; }
    static constexpr const char* address = "198.51.100.1";
    // dnsmasq on 198.51.100.1:53 answering names -> IPv4 addresses, nothing else. Returns
    // false (with its output) when it does not start.
    bool serve_dns(const std::map<std::string, std::string>& names, std::string* output);

  private:
    TestNetns netns_{"tmout"};
    std::string dns_pid_file_;
};

}  // namespace truman::test
