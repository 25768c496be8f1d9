// Network namespaces and veth pairs on the real kernel (root). Every test cleans up through
// RAII guards, so a failed assertion leaves no namespace, link or process behind.
#include "truman/network.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>
#include <vector>

#include "test_support.hpp"
#include "truman/error.hpp"

namespace truman {
namespace {

using test::run_host;
using test::unique_name;

// ---- guards ----------------------------------------------------------------------------------

struct NetnsGuard {
    std::string name;
    ~NetnsGuard() {
        try {
            if (!name.empty() && named_netns_exists(name)) delete_named_netns(name);
        } catch (...) {
        }
    }
};

struct LinkGuard {
    std::string name;
    ~LinkGuard() {
        try {
            if (!name.empty()) delete_link(name);
        } catch (...) {
        }
    }
};

// A child process parked in the named namespace `netns` until the guard kills and reaps it.
class ProcessInNetns {
  public:
    explicit ProcessInNetns(const std::string& netns) {
        int ns = ::open(("/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
        if (ns < 0) throw std::runtime_error("open netns " + netns);
        int ready[2];
        if (::pipe2(ready, O_CLOEXEC) < 0) throw std::runtime_error("pipe2");
        pid_ = ::fork();
        if (pid_ == 0) {
            // Raw syscalls only after fork.
            if (::setns(ns, CLONE_NEWNET) < 0) ::_exit(1);
            char ok = 1;
            if (::write(ready[1], &ok, 1) != 1) ::_exit(1);
            for (;;) ::pause();
        }
        ::close(ns);
        ::close(ready[1]);
        char ok = 0;
        ssize_t n = ::read(ready[0], &ok, 1);
        ::close(ready[0]);
        if (pid_ < 0 || n != 1) {
            stop();
            throw std::runtime_error("child did not enter netns " + netns);
        }
    }
    ~ProcessInNetns() { stop(); }
    ProcessInNetns(const ProcessInNetns&) = delete;
    ProcessInNetns& operator=(const ProcessInNetns&) = delete;
    pid_t pid() const { return pid_; }
    void stop() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
            pid_ = -1;
        }
    }

  private:
    pid_t pid_ = -1;
};

// ---- helpers ---------------------------------------------------------------------------------

std::string host_output(const std::string& command) {
    std::string out;
    int status = run_host(command, &out);
    EXPECT_EQ(status, 0) << command << "\n" << out;
    return out;
}

bool sys_link_exists(const std::string& name) {
    return std::filesystem::exists("/sys/class/net/" + name);
}

std::string sys_attr(const std::string& link, const std::string& attr) {
    std::string v = test::read_file("/sys/class/net/" + link + "/" + attr);
    while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
    return v;
}

// The filesystem type mounted exactly at `point` in this mount namespace ("" if none).
std::string mount_type_at(const std::string& point) {
    std::ifstream mi("/proc/self/mountinfo");
    std::string type;
    for (std::string line; std::getline(mi, line);) {
        std::istringstream f(line);
        std::string id, parent, dev, root, mp;
        f >> id >> parent >> dev >> root >> mp;
        auto sep = line.find(" - ");
        if (mp == point && sep != std::string::npos)
            type = line.substr(sep + 3, line.find(' ', sep + 3) - sep - 3);
    }
    return type;
}

bool wait_until(const std::function<bool()>& done, int timeout_ms = 10000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);)
        if (!l.empty()) out.push_back(l);
    return out;
}

template <typename F>
Error error_of(F f) {
    try {
        f();
    } catch (const Error& e) {
        return e;
    }
    ADD_FAILURE() << "no truman::Error thrown";
    return Error(ErrorKind::system, 0, "none");
}

// Descriptors of this process that were not open before (ignoring the snapshot's own /proc fd).
std::string new_fds_since(const test::HostSnapshot& before) {
    std::string leaked;
    for (auto& f : test::snapshot_host().fds)
        if (!before.fds.count(f) && f.find("/proc/") == std::string::npos) leaked += f + "; ";
    return leaked;
}

double median_ms(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

// ---- tests -----------------------------------------------------------------------------------

TEST(Network, NamedNamespaceIsCreatedJoinableAndDeleted) {
    NetnsGuard ns{named_netns_exists("test") ? unique_name("test") : "test"};
    create_named_netns(ns.name);

    EXPECT_TRUE(named_netns_exists(ns.name));
    EXPECT_EQ(mount_type_at("/run/netns/" + ns.name), "nsfs");
    std::string list = host_output("ip netns list");
    EXPECT_NE(list.find(ns.name), std::string::npos) << list;
    // Exactly one link inside: a fresh namespace has only lo.
    auto links = lines_of(host_output("ip netns exec " + ns.name + " ip -o link"));
    ASSERT_EQ(links.size(), 1u) << host_output("ip netns exec " + ns.name + " ip -o link");
    EXPECT_NE(links[0].find(": lo:"), std::string::npos) << links[0];

    delete_named_netns(ns.name);
    EXPECT_FALSE(named_netns_exists(ns.name));
    EXPECT_FALSE(std::filesystem::exists("/run/netns/" + ns.name));
    EXPECT_EQ(mount_type_at("/run/netns/" + ns.name), "");
    list = host_output("ip netns list");
    EXPECT_EQ(list.find(ns.name + " ") == std::string::npos &&
                  list.find(ns.name + "\n") == std::string::npos,
              true)
        << list;
}

TEST(Network, NamedNamespaceMadeByIpIsDeletedByUs) {
    // Compatibility the other way round: what `ip netns add` made, we see and remove.
    NetnsGuard ns{unique_name("testip")};
    host_output("ip netns add " + ns.name);
    EXPECT_TRUE(named_netns_exists(ns.name));
    delete_named_netns(ns.name);
    EXPECT_FALSE(std::filesystem::exists("/run/netns/" + ns.name));
    EXPECT_EQ(mount_type_at("/run/netns/" + ns.name), "");
}

TEST(Network, DuplicateNamedNamespaceIsAConflict) {
    NetnsGuard ns{unique_name("test")};
    create_named_netns(ns.name);
    Error e = error_of([&] { create_named_netns(ns.name); });
    EXPECT_EQ(e.kind(), ErrorKind::conflict);
    EXPECT_EQ(e.err(), EEXIST);
    EXPECT_NE(std::string(e.what()).find("/run/netns/" + ns.name), std::string::npos) << e.what();
    // The failed attempt must not have unmounted or removed the first one.
    EXPECT_EQ(mount_type_at("/run/netns/" + ns.name), "nsfs");
}

TEST(Network, DeletingMissingNamedNamespaceIsNotFound) {
    std::string name = unique_name("test");
    Error e = error_of([&] { delete_named_netns(name); });
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_EQ(e.err(), ENOENT);
    EXPECT_NE(std::string(e.what()).find("/run/netns/" + name), std::string::npos) << e.what();
    EXPECT_EQ(error_of([] { create_named_netns("../escape"); }).kind(), ErrorKind::invalid);
}

TEST(Network, VethPairCreatedInHost) {
    LinkGuard a{unique_name("tva")}, b{unique_name("tvb")};
    create_veth_pair(a.name, b.name);

    ASSERT_TRUE(sys_link_exists(a.name));
    ASSERT_TRUE(sys_link_exists(b.name));
    EXPECT_TRUE(link_exists(a.name));
    EXPECT_TRUE(link_exists(b.name));
    for (auto* n : {&a.name, &b.name}) {
        std::string info = host_output("ip -d -o link show " + *n);
        EXPECT_NE(info.find(" veth "), std::string::npos) << info;
    }
    // Peers of each other: each one's iflink is the other's ifindex.
    EXPECT_EQ(sys_attr(a.name, "iflink"), sys_attr(b.name, "ifindex"));
    EXPECT_EQ(sys_attr(b.name, "iflink"), sys_attr(a.name, "ifindex"));

    set_link_up(a.name);
    EXPECT_NE(host_output("ip -o link show " + a.name).find("UP"), std::string::npos);

    Error dup = error_of([&] { create_veth_pair(a.name, unique_name("tvc")); });
    EXPECT_EQ(dup.kind(), ErrorKind::conflict);
    EXPECT_EQ(dup.err(), EEXIST);
    EXPECT_NE(std::string(dup.what()).find("RTM_NEWLINK veth " + a.name), std::string::npos)
        << dup.what();

    delete_link(a.name);
    // Deleting one end of a veth deletes both.
    EXPECT_FALSE(sys_link_exists(a.name));
    EXPECT_FALSE(sys_link_exists(b.name));
    EXPECT_FALSE(link_exists(a.name));
    delete_link(a.name);  // ENODEV is not an error
}

TEST(Network, ContainerPairPeerCreatedInsideNamespace) {
    const std::string host_eth0_index = sys_attr("eth0", "ifindex");
    NetnsGuard ns{unique_name("test")};
    create_named_netns(ns.name);
    LinkGuard host{unique_name("tmh")};
    auto child = std::make_unique<ProcessInNetns>(ns.name);
    const std::string in_ns = "ip netns exec " + ns.name + " ";

    create_veth_into(host.name, "eth0", child->pid());

    ASSERT_TRUE(sys_link_exists(host.name));
    // The peer went straight into the container: the host's eth0 is still the host's own NIC
    // and our end's peer lives in another namespace.
    EXPECT_EQ(sys_attr("eth0", "ifindex"), host_eth0_index);
    EXPECT_NE(host_output("ip -o link show " + host.name).find("link-netns"), std::string::npos)
        << host_output("ip -o link show " + host.name);
    std::string links = host_output(in_ns + "ip -o link");
    EXPECT_NE(links.find(": eth0@"), std::string::npos) << links;

    set_link_up(host.name);
    configure_container_network(child->pid(), "eth0", "10.231.7.2/24", "10.231.7.1");

    std::string addrs = host_output(in_ns + "ip -o -4 addr show dev eth0");
    EXPECT_NE(addrs.find("inet 10.231.7.2/24"), std::string::npos) << addrs;
    EXPECT_NE(addrs.find("brd 10.231.7.255"), std::string::npos) << addrs;
    std::string lo = host_output(in_ns + "ip -o link show lo");
    EXPECT_NE(lo.find("<LOOPBACK,UP"), std::string::npos) << lo;
    std::string eth0 = host_output(in_ns + "ip -o link show eth0");
    EXPECT_NE(eth0.find(",UP"), std::string::npos) << eth0;
    std::string routes = host_output(in_ns + "ip -4 route show default");
    EXPECT_NE(routes.find("default via 10.231.7.1 dev eth0"), std::string::npos) << routes;
    // The container sees lo and eth0, nothing else.
    auto all = lines_of(host_output(in_ns + "ip -o link"));
    EXPECT_EQ(all.size(), 2u) << host_output(in_ns + "ip -o link");

    // The container's end goes with its namespace: no delete_link for it.
    child.reset();
    delete_named_netns(ns.name);
    EXPECT_TRUE(wait_until([&] { return !sys_link_exists(host.name); }))
        << host.name << " still exists after its peer's namespace was released";
}

TEST(Network, SetupNetworkWiresAVethContainer) {
    NetnsGuard ns{unique_name("test")};
    create_named_netns(ns.name);
    ProcessInNetns child(ns.name);
    const std::string in_ns = "ip netns exec " + ns.name + " ";

    Network net;
    net.mode = Network::Mode::veth;
    net.address = "10.231.8.2/24";
    net.gateway = "10.231.8.1";
    std::string id = "q" + unique_name("") + "-container-id";
    std::string expected = host_link_name(id);
    LinkGuard host{expected};
    EXPECT_EQ(expected.size(), 13u);

    EXPECT_EQ(setup_network(child.pid(), net, id), expected);
    EXPECT_NE(host_output("ip -o link show " + expected).find(",UP"), std::string::npos);
    EXPECT_NE(host_output(in_ns + "ip -o -4 addr show dev eth0").find("10.231.8.2/24"),
              std::string::npos);
    // The pair carries traffic: give the host end the gateway address and ping it.
    host_output("ip addr add 10.231.8.1/24 dev " + expected);
    std::string ping;
    EXPECT_EQ(run_host(in_ns + TRUMAN_BUSYBOX " ping -c1 -W2 10.231.8.1", &ping), 0) << ping;

    // A second container with the same id prefix collides on the host name and cleans up.
    NetnsGuard ns2{unique_name("test")};
    create_named_netns(ns2.name);
    ProcessInNetns child2(ns2.name);
    Error e = error_of([&] { setup_network(child2.pid(), net, id); });
    EXPECT_EQ(e.kind(), ErrorKind::conflict);
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    EXPECT_EQ(lines_of(host_output("ip netns exec " + ns2.name + " ip -o link")).size(), 1u);

    // A failure after the pair exists (gateway outside the subnet: ENETUNREACH) deletes it.
    net.host_interface = unique_name("tmf");
    net.gateway = "10.99.0.1";
    LinkGuard failed{net.host_interface};
    e = error_of([&] { setup_network(child2.pid(), net, id); });
    EXPECT_EQ(e.err(), ENETUNREACH) << e.what();
    EXPECT_NE(std::string(e.what()).find("default route via 10.99.0.1 dev eth0"), std::string::npos)
        << e.what();
    EXPECT_FALSE(sys_link_exists(net.host_interface));
    EXPECT_EQ(lines_of(host_output("ip netns exec " + ns2.name + " ip -o link")).size(), 1u);
}

TEST(Network, LoopbackModeBringsUpOnlyLo) {
    NetnsGuard ns{unique_name("test")};
    create_named_netns(ns.name);
    ProcessInNetns child(ns.name);
    std::string lo = host_output("ip netns exec " + ns.name + " ip -o link show lo");
    EXPECT_EQ(lo.find("<LOOPBACK,UP"), std::string::npos) << lo;
    Network net;  // loopback is the default
    EXPECT_EQ(setup_network(child.pid(), net, "whatever"), "");
    lo = host_output("ip netns exec " + ns.name + " ip -o link show lo");
    EXPECT_NE(lo.find("<LOOPBACK,UP"), std::string::npos) << lo;
}

TEST(Network, FailurePathsNameWhatFailed) {
    char netns_at_start[64] = {};
    ASSERT_GT(::readlink("/proc/thread-self/ns/net", netns_at_start, sizeof netns_at_start - 1), 0);
    // A pid that certainly does not exist any more: our own reaped child.
    pid_t dead = ::fork();
    if (dead == 0) ::_exit(0);
    ASSERT_GT(dead, 0);
    ::waitpid(dead, nullptr, 0);

    std::string name = unique_name("tmd");
    Error e = error_of([&] { create_veth_into(name, "eth0", dead); });
    EXPECT_EQ(e.err(), ESRCH) << e.what();
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_EQ(std::string(e.what()), "RTM_NEWLINK veth " + name + " (peer eth0 in pid " +
                                         std::to_string(dead) + "): No such process");
    EXPECT_FALSE(sys_link_exists(name));

    e = error_of([&] { configure_container_network(dead, "eth0", "10.1.1.2/24", ""); });
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_NE(std::string(e.what()).find("/proc/" + std::to_string(dead) + "/ns/net"),
              std::string::npos)
        << e.what();

    e = error_of([] { configure_container_network(::getpid(), "eth0", "10.1.1.300/24", ""); });
    EXPECT_EQ(e.kind(), ErrorKind::invalid);
    EXPECT_NE(std::string(e.what()).find("network.address"), std::string::npos) << e.what();

    std::string missing = unique_name("tmm");
    e = error_of([&] { set_link_up(missing); });
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_EQ(e.err(), ENODEV);
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();

    // A missing interface inside the container is reported with the pid; our netns is intact.
    NetnsGuard ns{unique_name("test")};
    create_named_netns(ns.name);
    ProcessInNetns child(ns.name);
    e = error_of([&] { configure_container_network(child.pid(), "eth9", "10.1.1.2/24", ""); });
    EXPECT_EQ(e.err(), ENODEV) << e.what();
    EXPECT_NE(std::string(e.what()).find("eth9 in pid " + std::to_string(child.pid())),
              std::string::npos)
        << e.what();
    char netns_now[64] = {};
    ASSERT_GT(::readlink("/proc/thread-self/ns/net", netns_now, sizeof netns_now - 1), 0);
    EXPECT_STREQ(netns_now, netns_at_start);
}

TEST(Network, NothingLeaksAcrossAFullCycle) {
    {  // warm-up: the first create makes /run/netns a shared mount point, for good
        NetnsGuard warm{unique_name("test")};
        create_named_netns(warm.name);
    }
    test::HostSnapshot before = test::snapshot_host();
    std::string ns_name = unique_name("test"), host = unique_name("tml"), a = unique_name("tla"),
                b = unique_name("tlb");
    for (int round = 0; round < 3; ++round) {
        NetnsGuard ns{ns_name};
        create_named_netns(ns.name);
        ProcessInNetns child(ns.name);
        create_veth_into(host, "eth0", child.pid());
        configure_container_network(child.pid(), "eth0", "10.231.9.2/24", "10.231.9.1");
        create_veth_pair(a, b);
        delete_link(a);
        error_of([&] { create_veth_into(host, "eth0", child.pid()); });  // EEXIST path
        error_of([&] { create_named_netns(ns.name); });
        error_of([&] { configure_container_network(child.pid(), "eth7", "10.1.1.1/8", ""); });
        child.stop();
        delete_named_netns(ns.name);
        ASSERT_TRUE(wait_until([&] { return !sys_link_exists(host); })) << host;
    }
    EXPECT_EQ(new_fds_since(before), "");
    for (auto& n : {host, a, b}) EXPECT_FALSE(sys_link_exists(n)) << n;
    EXPECT_FALSE(std::filesystem::exists("/run/netns/" + ns_name));
    EXPECT_EQ(mount_type_at("/run/netns/" + ns_name), "");
    EXPECT_EQ(test::snapshot_host().children, before.children);
}

TEST(Network, EnteringAContainerNamespaceLeavesNoDescriptors) {
    // Target, saved-namespace and netlink descriptors are all closed on return.
    NetnsGuard ns{unique_name("test")};
    create_named_netns(ns.name);
    ProcessInNetns child(ns.name);
    test::HostSnapshot before = test::snapshot_host();
    configure_container_network(child.pid(), "", "", "");
    EXPECT_EQ(new_fds_since(before), "");
}

TEST(Network, TimingOfCreateVethIntoAndDeleteLink) {
    NetnsGuard ns{unique_name("test")};
    create_named_netns(ns.name);
    auto child = std::make_unique<ProcessInNetns>(ns.name);
    struct Links {
        std::vector<std::string> names;
        ~Links() {
            for (auto& n : names) LinkGuard guard{n};
        }
    } hosts;
    std::vector<double> create_ms, delete_ms;
    using clock = std::chrono::steady_clock;
    for (int i = 0; i < 50; ++i) {
        hosts.names.push_back(unique_name("tmt"));
        auto t0 = clock::now();
        create_veth_into(hosts.names.back(), "p" + std::to_string(i), child->pid());
        create_ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - t0).count());
    }
    for (int i = 0; i < 10; ++i) {
        auto t0 = clock::now();
        delete_link(hosts.names[i]);
        delete_ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - t0).count());
        EXPECT_FALSE(sys_link_exists(hosts.names[i]));
    }
    std::printf(
        "[ timing ] create_veth_into median %.3f ms over %zu runs; delete_link median "
        "%.3f ms over %zu runs\n",
        median_ms(create_ms), create_ms.size(), median_ms(delete_ms), delete_ms.size());
    // The other 40 go with the namespace.
    child.reset();
    delete_named_netns(ns.name);
    EXPECT_TRUE(wait_until(
        [&] { return std::none_of(hosts.names.begin(), hosts.names.end(), sys_link_exists); }));
    if (!HasFailure()) hosts.names.clear();  // gone already; skip the slow deletes
}

}  // namespace
}  // namespace truman
