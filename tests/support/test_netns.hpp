// A network namespace of the test's own (rule: network tests never touch the host's): made
// with a unique name under /run/netns, removed by the destructor, also when the test fails.
// Run trumand in it with TrumandOptions::netns = path(); look into it with run() and links().
#pragma once

#include <set>
#include <string>

namespace truman::test {

class TestNetns {
  public:
    explicit TestNetns(const std::string& prefix = "tmnet");
    ~TestNetns();
    TestNetns(const TestNetns&) = delete;
    TestNetns& operator=(const TestNetns&) = delete;

    const std::string& name() const { return name_; }
    std::string path() const { return "/run/netns/" + name_; }
    // `sh -c command` inside it (nsenter --net, so /sys and the cgroups stay the test's);
    // returns the exit status, output (stdout and stderr) in *output.
    int run(const std::string& command, std::string* output = nullptr) const;
    // The names of its links, and its addresses as "dev address/prefix".
    std::set<std::string> links() const;
    std::set<std::string> addresses() const;

  private:
    std::string name_;
};

}  // namespace truman::test
