// Dual stack networks end to end, with all traffic inside namespaces this test makes: trumand
// runs in one (TestNetns: 198.51.100.2 and 2001:db8::2 on its uplink), wired by a veth to a
// second one that stands for the outside (198.51.100.1, 2001:db8::1, and no route back to the
// networks' fd00::/8 subnets, so without masquerade nothing would answer). Containers on a
// dual stack network reach each other over IPv6, reach the outside masqueraded, and answer
// there on a published port; bad input is 400/409 naming the field or the thing in the way;
// after a SIGKILL and restart the addresses, the leases and the rules are the same, none twice,
// and once everything is removed nothing is left.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "test_netns.hpp"
#include "test_support.hpp"
#include "truman/firewall.hpp"
#include "trumand_process.hpp"

namespace truman::test {
namespace {

using nlohmann::json;

// The outside, wired to `inside` by a veth; both families, addresses without duplicate address
// detection so that they work at once. `inside_link` is trumand's uplink.
struct Upstream {
    TestNetns netns{"tmup6"};
    std::string inside_link = unique_name("tmu");
    std::string server_pid_file = "/tmp/" + netns.name() + ".pid";
    explicit Upstream(const TestNetns& inside) {
        std::string out;
        const std::string down = unique_name("tmd");
        EXPECT_EQ(
            inside.run("ip link add " + inside_link + " type veth peer name " + down + " netns " +
                           netns.name() + " && ip addr add 198.51.100.2/24 dev " + inside_link +
                           " && ip -6 addr add 2001:db8::2/64 dev " + inside_link +
                           " nodad && ip link set " + inside_link + " up && ip link set lo up" +
                           // An uplink that takes router advertisements, as SLAAC has it.
                           " && sysctl -qw net.ipv6.conf." + inside_link + ".accept_ra=1",
                       &out),
            0)
            << out;
        EXPECT_EQ(netns.run("ip addr add 198.51.100.1/24 dev " + down + " && ip -6 addr add " +
                                "2001:db8::1/64 dev " + down + " nodad && ip link set " + down +
                                " up && ip link set lo up",
                            &out),
                  0)
            << out;
        EXPECT_EQ(inside.run("ip route add default via 198.51.100.1 && ip -6 route add default via "
                             "2001:db8::1",
                             &out),
                  0)
            << out;
    }
    // A one-shot TCP server on port 8080 (both families) that answers with its own view of
    // the connection (busybox netstat: local and peer address).
    void serve() {
        std::string out;
        EXPECT_EQ(
            netns.run("busybox nc -l -p 8080 -e busybox netstat -tn >/dev/null 2>&1 & echo $! > " +
                          server_pid_file,
                      &out),
            0)
            << out;
        for (int i = 0; i < 200; ++i) {  // until it listens
            netns.run("busybox netstat -ltn", &out);
            if (out.find(":8080") != std::string::npos) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        ADD_FAILURE() << "the outside server does not listen";
    }
    ~Upstream() {
        try {
            std::string pid = read_file(server_pid_file);
            if (!pid.empty()) ::kill(std::stoi(pid), SIGKILL);
        } catch (const std::exception&) {
            // never started
        }
        ::unlink(server_pid_file.c_str());
    }
};

// A shell loop that retries until the server in the container is up (no timed assertion:
// it fails only when nothing ever answers). In a subshell, so that its exit ends only the
// loop and a command chained after it still runs.
std::string retried(const std::string& cmd) {
    return "(for i in $(seq 100); do " + cmd + " && exit 0; sleep 0.1; done; exit 1)";
}
std::string fetch(const std::string& url) {
    return retried("timeout 5 busybox wget -qO- " + url);
}
// busybox httpd on port serving text, in the background, then the container waits.
std::string httpd(int port, const std::string& text) {
    return "mkdir -p /w && echo " + text + " > /w/index.html && httpd -p " + std::to_string(port) +
           " -h /w && exec sleep 100000";
}

std::string error_message(const HttpResponse& r) {
    json body = json::parse(r.body, nullptr, false);
    return body.is_object() ? body["error"].value("message", "") : r.body;
}

struct Daemon {
    TestNetns netns{"tmv6"};
    Upstream upstream{netns};
    std::set<std::string> links_before = netns.links();
    std::set<std::string> addresses_before = netns.addresses();
    TrumandProcess daemon{TrumandOptions{{"--default-network", "none"}, 0, netns.path()}};

    HttpResponse post(const std::string& target, const json& body) {
        HttpClient c(daemon.socket());
        return c.request("POST", target, body.dump());
    }
    HttpResponse call(const std::string& method, const std::string& target) {
        HttpClient c(daemon.socket());
        return c.request(method, target);
    }
    json inspect(const std::string& what) {
        auto r = call("GET", what);
        EXPECT_EQ(r.status, 200) << r.body;
        return r.status == 200 ? json::parse(r.body) : json();
    }
    // Creates and starts a busybox container; returns its id ("" after a failed assertion).
    std::string run(const std::string& cmd, json networks, json ports = json::array()) {
        auto r = post("/v1/containers", {{"image", "busybox"},
                                         {"cmd", {"sh", "-c", cmd}},
                                         {"networks", std::move(networks)},
                                         {"ports", std::move(ports)}});
        EXPECT_EQ(r.status, 201) << r.body;
        if (r.status != 201) return "";
        std::string id = json::parse(r.body)["id"];
        EXPECT_EQ(call("POST", "/v1/containers/" + id + "/start").status, 204);
        return id;
    }
    // Runs cmd to its end and removes it; returns its exit code, its output in *output.
    int run_to_end(const std::string& cmd, json networks, std::string* output) {
        std::string id = run(cmd, std::move(networks));
        if (id.empty()) return -1;
        auto w = call("POST", "/v1/containers/" + id + "/wait");
        *output = call("GET", "/v1/containers/" + id + "/logs").body;
        EXPECT_EQ(call("DELETE", "/v1/containers/" + id).status, 204);
        return json::parse(w.body).value("exit_code", -1);
    }
    void remove(const std::string& id) {
        EXPECT_EQ(call("DELETE", "/v1/containers/" + id + "?force=true").status, 204) << id;
    }
    // table inet truman as trumand's namespace has it (a namespace switch is per thread).
    std::string ruleset() {
        std::string out, error;
        std::thread([&] {
            int fd = open(netns.path().c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
                error = "setns " + netns.path();
            } else {
                try {
                    out = list_firewall();
                } catch (const std::exception& e) {
                    error = e.what();
                }
            }
            if (fd >= 0) close(fd);
        }).join();
        EXPECT_EQ(error, "");
        return out;
    }
    // Another program's socket bound to [::]:port only (IPV6_V6ONLY) in trumand's namespace;
    // -1 after a failed assertion. The caller closes it.
    int bind6_elsewhere(int port) {
        int fd = -1;
        std::string error;
        std::thread([&] {
            int ns = open(netns.path().c_str(), O_RDONLY | O_CLOEXEC);
            if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) {
                error = "setns " + netns.path();
            } else {
                fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
                int on = 1;
                sockaddr_in6 sa{};
                sa.sin6_family = AF_INET6;
                sa.sin6_port = htons(static_cast<uint16_t>(port));
                if (fd < 0 || setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0 ||
                    bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0)
                    error = "bind [::]:" + std::to_string(port);
            }
            if (ns >= 0) close(ns);
        }).join();
        EXPECT_EQ(error, "");
        return fd;
    }
    std::string sysctl(const std::string& name) {
        std::string out;
        EXPECT_EQ(netns.run("sysctl -n " + name, &out), 0) << out;
        while (!out.empty() && out.back() == '\n') out.pop_back();
        return out;
    }
    // As networks_test.cpp's: a dead container's veth goes with its netns, a little after.
    std::set<std::string> links_settled(const std::set<std::string>& expected) const {
        auto now = netns.links();
        for (int i = 0; i < 100 && now != expected; ++i) {
            usleep(50'000);
            now = netns.links();
        }
        return now;
    }
};

TEST(Ipv6, DualStackContainersReachEachOtherOverIpv6AndLeaveNothingBehind) {
    Daemon d;
    auto made = d.post("/v1/networks", {{"name", "dual"}, {"ipv6", true}});
    ASSERT_EQ(made.status, 201) << made.body;
    json network = json::parse(made.body);
    EXPECT_EQ(network["ipv6"], true);
    EXPECT_EQ(network["subnet6"], "fd00::/64");  // the first /64 of the pool fd00::/8
    EXPECT_EQ(network["gateway6"], "fd00::1");
    const std::string bridge = network["bridge"];
    EXPECT_TRUE(d.netns.addresses().count(bridge + " fd00::1/64")) << bridge;
    // No router advertisement from a container is taken, by the bridge or by its peers.
    EXPECT_EQ(d.sysctl("net.ipv6.conf." + bridge + ".accept_ra"), "0");

    std::string server = d.run(httpd(8080, "hello-over-v6"), {"dual"});
    json a = d.inspect("/v1/containers/" + server);
    ASSERT_EQ(a["networks"].size(), 1u) << a.dump();
    EXPECT_EQ(a["networks"][0]["address6"], "fd00::2/64") << a.dump();
    EXPECT_EQ(a["networks"][0]["gateway6"], "fd00::1") << a.dump();
    EXPECT_EQ(a["networks"][0]["address"], "10.89.0.2/24") << a.dump();  // still dual

    // Another container, at the IPv6 address it asks for: ping -6 and an HTTP fetch by the
    // server's IPv6 address; its own address is usable at once (no tentative phase).
    std::string out;
    EXPECT_EQ(d.run_to_end("echo accept_ra=$(cat /proc/sys/net/ipv6/conf/eth0/accept_ra) && "
                           "ip -6 addr show dev eth0 && ip -6 route && " +
                               retried("ping -6 -c 1 -W 1 fd00::2") + " && " +
                               fetch("http://[fd00::2]:8080/"),
                           {json{{"name", "dual"}, {"ip6", "fd00::77"}}}, &out),
              0)
        << out;
    // (The kernel's own fe80:: address does go through duplicate address detection.)
    const auto own = out.find("inet6 fd00::77/64");
    EXPECT_NE(own, std::string::npos) << out;
    const std::string own_line =
        own == std::string::npos ? "" : out.substr(own, out.find('\n', own) - own);
    EXPECT_EQ(own_line.find("tentative"), std::string::npos) << out;
    EXPECT_NE(out.find("accept_ra=0"), std::string::npos) << out;
    EXPECT_NE(out.find("default via fd00::1 dev eth0"), std::string::npos) << out;
    EXPECT_NE(out.find("bytes from fd00::2"), std::string::npos) << out;
    EXPECT_NE(out.find("hello-over-v6"), std::string::npos) << out;

    // Its lease went with it: the address is free again, the server's is not.
    json listed = d.inspect("/v1/networks/dual");
    ASSERT_EQ(listed["containers"].size(), 1u) << listed.dump();
    EXPECT_EQ(listed["containers"][0]["address6"], "fd00::2");
    auto taken = d.post("/v1/containers", {{"image", "busybox"},
                                           {"cmd", {"true"}},
                                           {"networks", {{{"name", "dual"}, {"ip6", "fd00::2"}}}}});
    EXPECT_EQ(taken.status, 409) << taken.body;
    EXPECT_NE(error_message(taken).find("address fd00::2 is taken on network dual"),
              std::string::npos)
        << taken.body;

    d.remove(server);
    EXPECT_EQ(d.call("DELETE", "/v1/networks/dual").status, 204);
    EXPECT_EQ(d.links_settled(d.links_before), d.links_before);
    EXPECT_EQ(d.netns.addresses(), d.addresses_before);
    // trumand turned IPv6 forwarding on, which stays on: only its guard is left.
    EXPECT_EQ(d.ruleset().find("network"), std::string::npos) << d.ruleset();
    EXPECT_NE(d.ruleset().find(ipv6_forwarding_guard), std::string::npos) << d.ruleset();
    EXPECT_EQ(container_leaks(d.daemon, {server}), "");
}

TEST(Ipv6, OutboundIsMasqueradedPublishedPortsAnswerAndARestartChangesNothing) {
    Daemon d;
    ASSERT_EQ(d.post("/v1/networks", {{"name", "out6"}, {"subnet6", "fd00:89:1::/64"}}).status,
              201);
    // IPv6 forwarding is global (all.forwarding); the uplink keeps taking RAs (1 -> 2).
    EXPECT_EQ(d.sysctl("net.ipv6.conf.all.forwarding"), "1");
    EXPECT_EQ(d.sysctl("net.ipv6.conf." + d.upstream.inside_link + ".accept_ra"), "2");

    // Outbound: the outside sees the uplink's address, not the container's fd00:89:1::2.
    d.upstream.serve();
    std::string out;
    EXPECT_EQ(d.run_to_end("echo | nc -w 2 2001:db8::1 8080", {"out6"}, &out), 0) << out;
    EXPECT_NE(out.find("2001:db8::1:8080"), std::string::npos) << out;
    EXPECT_NE(out.find("2001:db8::2:"), std::string::npos) << out;
    EXPECT_EQ(out.find("fd00:"), std::string::npos) << out;

    // Published ports: 0.0.0.0 is both families; an IPv6 host_ip only that one.
    std::string site =
        d.run(httpd(80, "site-v6"), {"out6"},
              {{{"host_port", 8080}, {"container_port", 80}},
               {{"host_ip", "2001:db8::2"}, {"host_port", 8081}, {"container_port", 80}}});
    ASSERT_NE(site, "");
    json inspected = d.inspect("/v1/containers/" + site);
    EXPECT_EQ(inspected["ports"][1]["host_ip"], "2001:db8::2") << inspected.dump();
    EXPECT_EQ(d.upstream.netns.run(fetch("http://[2001:db8::2]:8080/"), &out), 0) << out;
    EXPECT_NE(out.find("site-v6"), std::string::npos) << out;
    EXPECT_EQ(d.upstream.netns.run(fetch("http://198.51.100.2:8080/"), &out), 0) << out;
    EXPECT_NE(out.find("site-v6"), std::string::npos) << out;
    EXPECT_EQ(d.upstream.netns.run(fetch("http://[2001:db8::2]:8081/"), &out), 0) << out;
    EXPECT_NE(out.find("site-v6"), std::string::npos) << out;
    // 8081 is published on IPv6 only.
    EXPECT_NE(d.upstream.netns.run("timeout 5 busybox wget -qO- http://198.51.100.2:8081/", &out),
              0)
        << out;
    // From trumand's own namespace through its IPv6 address, and hairpin from a container.
    EXPECT_EQ(d.netns.run(fetch("http://[2001:db8::2]:8080/"), &out), 0) << out;
    EXPECT_NE(out.find("site-v6"), std::string::npos) << out;
    EXPECT_EQ(d.run_to_end(fetch("http://[2001:db8::2]:8080/"), {"out6"}, &out), 0) << out;
    EXPECT_NE(out.find("site-v6"), std::string::npos) << out;
    // The IPv6 side of 0.0.0.0:8080 is held too: nobody else can take [::]:8080.
    auto again =
        d.post("/v1/containers",
               {{"image", "busybox"},
                {"cmd", {"true"}},
                {"networks", {"out6"}},
                {"ports", {{{"host_ip", "::"}, {"host_port", 8080}, {"container_port", 80}}}}});
    EXPECT_EQ(again.status, 409) << again.body;

    // host_port 0: a port the kernel picks free on IPv4 that another program holds on [::] is
    // passed over. (The namespace's port range is 40000..40001, bind(0) tries the odd one
    // first, and [::]:40001 is taken.)
    ASSERT_EQ(d.netns.run("sysctl -qw net.ipv4.ip_local_port_range=\"40000 40001\"", &out), 0)
        << out;
    int other = d.bind6_elsewhere(40001);
    const auto links = d.netns.links();
    std::string picked =
        d.run("exec sleep 100000", {"out6"}, {{{"host_port", 0}, {"container_port", 80}}});
    if (!picked.empty()) {
        EXPECT_EQ(d.inspect("/v1/containers/" + picked)["ports"][0]["host_port"], 40000);
        d.remove(picked);
        EXPECT_EQ(d.links_settled(links), links);  // its veth goes with its netns, a little after
    }
    if (other >= 0) close(other);

    // SIGKILL and restart: the same rules, addresses and leases, none twice.
    std::string rules = d.ruleset();
    EXPECT_NE(rules.find("network out6 (IPv6)"), std::string::npos) << rules;
    EXPECT_NE(rules.find("dnat ip6 to [fd00:89:1::2]:80"), std::string::npos) << rules;
    auto addresses = d.netns.addresses();
    json leases = d.inspect("/v1/networks/out6")["containers"];
    d.daemon.kill_hard();
    d.daemon.start();
    EXPECT_EQ(d.ruleset(), rules);
    EXPECT_EQ(d.netns.addresses(), addresses);
    EXPECT_EQ(d.inspect("/v1/networks/out6")["containers"], leases);
    EXPECT_EQ(d.upstream.netns.run(fetch("http://[2001:db8::2]:8080/"), &out), 0) << out;
    EXPECT_NE(out.find("site-v6"), std::string::npos) << out;
    // A new container gets the next address, not the site's again.
    std::string next = d.run("exec sleep 100000", {"out6"});
    EXPECT_EQ(d.inspect("/v1/containers/" + next)["networks"][0]["address6"], "fd00:89:1::3/64");

    d.remove(next);
    d.remove(site);
    EXPECT_EQ(d.ruleset().find("container"), std::string::npos) << d.ruleset();
    EXPECT_EQ(d.call("DELETE", "/v1/networks/out6").status, 204);
    EXPECT_EQ(d.ruleset().find("network"), std::string::npos) << d.ruleset();
    EXPECT_NE(d.ruleset().find(ipv6_forwarding_guard), std::string::npos) << d.ruleset();
    EXPECT_EQ(d.links_settled(d.links_before), d.links_before);
    EXPECT_EQ(d.netns.addresses(), d.addresses_before);
    EXPECT_EQ(container_leaks(d.daemon, {site, next}), "");
}

// Another network behind trumand's namespace that is not truman's (2001:db8:5::/64, routed
// by trumand's namespace to and from the outside): what the host forwards between its own
// devices, which IPv6 forwarding (global) would route too.
struct Stranger {
    TestNetns netns{"tmst6"};
    std::string link = unique_name("tms");
    Stranger(const TestNetns& inside, const TestNetns& upstream) {
        std::string out;
        const std::string peer = unique_name("tmp");
        EXPECT_EQ(inside.run("ip link add " + link + " type veth peer name " + peer + " netns " +
                                 netns.name() + " && ip -6 addr add 2001:db8:5::2/64 dev " + link +
                                 " nodad && ip link set " + link + " up",
                             &out),
                  0)
            << out;
        EXPECT_EQ(netns.run("ip -6 addr add 2001:db8:5::1/64 dev " + peer + " nodad && ip link " +
                                "set " + peer + " up && ip link set lo up && ip -6 route add " +
                                "default via 2001:db8:5::2",
                            &out),
                  0)
            << out;
        EXPECT_EQ(upstream.run("ip -6 route add 2001:db8:5::/64 via 2001:db8::2", &out), 0) << out;
    }
    // Whether a ping from here gets through trumand's namespace to the outside (one answer of
    // three tries: the first echo after forwarding went on can be lost while neighbours resolve).
    bool reaches_outside() const {
        return netns.run(
                   "(for i in 1 2 3; do busybox ping -6 -c 1 -W 1 2001:db8::1 >/dev/null "
                   "2>&1 && exit 0; done; exit 1)") == 0;
    }
};

TEST(Ipv6, ForwardingTrumanTurnedOnRoutesOnlyTrumansBridgesAndStaysGuarded) {
    Daemon d;
    Stranger stranger(d.netns, d.upstream.netns);
    EXPECT_EQ(d.sysctl("net.ipv6.conf.all.forwarding"), "0");
    EXPECT_FALSE(stranger.reaches_outside());  // not a router yet
    ASSERT_EQ(d.post("/v1/networks", {{"name", "g6"}, {"subnet6", "fd00:89:5::/64"}}).status, 201);
    EXPECT_EQ(d.sysctl("net.ipv6.conf.all.forwarding"), "1");
    EXPECT_NE(d.ruleset().find(ipv6_forwarding_guard), std::string::npos) << d.ruleset();
    // The containers do get out, and their replies back; the stranger's traffic is dropped.
    std::string out;
    EXPECT_EQ(d.run_to_end("ping -6 -c 1 -W 2 2001:db8::1", {"g6"}, &out), 0) << out;
    EXPECT_FALSE(stranger.reaches_outside());
    // A restarted trumand finds forwarding on, and knows from its table that it was its own.
    d.daemon.kill_hard();
    d.daemon.start();
    EXPECT_NE(d.ruleset().find(ipv6_forwarding_guard), std::string::npos) << d.ruleset();
    EXPECT_FALSE(stranger.reaches_outside());
    // The network goes, forwarding stays on (README), and so does the guard, alone.
    EXPECT_EQ(d.call("DELETE", "/v1/networks/g6").status, 204);
    EXPECT_EQ(d.sysctl("net.ipv6.conf.all.forwarding"), "1");
    EXPECT_EQ(d.ruleset().find("network"), std::string::npos) << d.ruleset();
    EXPECT_FALSE(stranger.reaches_outside());
    d.daemon.kill_hard();
    d.daemon.start();
    EXPECT_NE(d.ruleset().find(ipv6_forwarding_guard), std::string::npos) << d.ruleset();
    EXPECT_FALSE(stranger.reaches_outside());
}

TEST(Ipv6, AHostThatRoutedIpv6BeforeTrumanKeepsRoutingIt) {
    Daemon d;
    Stranger stranger(d.netns, d.upstream.netns);
    std::string out;
    ASSERT_EQ(d.netns.run("sysctl -qw net.ipv6.conf.all.forwarding=1", &out), 0) << out;
    EXPECT_TRUE(stranger.reaches_outside());  // a router before truman came
    ASSERT_EQ(d.post("/v1/networks", {{"name", "r6"}, {"subnet6", "fd00:89:6::/64"}}).status, 201);
    EXPECT_EQ(d.ruleset().find(ipv6_forwarding_guard), std::string::npos) << d.ruleset();
    EXPECT_TRUE(stranger.reaches_outside());
    EXPECT_EQ(d.run_to_end("ping -6 -c 1 -W 2 2001:db8::1", {"r6"}, &out), 0) << out;
    EXPECT_EQ(d.call("DELETE", "/v1/networks/r6").status, 204);
    EXPECT_EQ(d.ruleset(), "");  // nothing of truman's is left
    EXPECT_TRUE(stranger.reaches_outside());
}

TEST(Ipv6, BadInputIsRefusedNamingTheFieldOrTheThingInTheWay) {
    Daemon d;
    auto expect = [&](int status, const json& body, const std::string& message,
                      const std::string& target = "/v1/networks") {
        auto r = d.post(target, body);
        EXPECT_EQ(r.status, status) << body.dump() << " -> " << r.body;
        EXPECT_NE(error_message(r).find(message), std::string::npos)
            << body.dump() << " -> " << r.body;
    };
    // Only a dual stack network that is not internal turns IPv6 forwarding on.
    ASSERT_EQ(d.post("/v1/networks", {{"name", "plain4"}}).status, 201);
    ASSERT_EQ(d.post("/v1/networks", {{"name", "int6"}, {"ipv6", true}, {"internal", true}}).status,
              201);
    EXPECT_EQ(d.sysctl("net.ipv6.conf.all.forwarding"), "0");
    EXPECT_EQ(d.sysctl("net.ipv6.conf." + d.upstream.inside_link + ".accept_ra"), "1");
    const std::string rules = d.ruleset();
    EXPECT_NE(rules.find("network int6 (internal)"), std::string::npos) << rules;
    EXPECT_EQ(rules.find("network int6 (IPv6)"), std::string::npos) << rules;  // no masquerade
    EXPECT_EQ(d.call("DELETE", "/v1/networks/plain4").status, 204);
    EXPECT_EQ(d.call("DELETE", "/v1/networks/int6").status, 204);

    expect(400, {{"name", "a"}, {"subnet6", "fd00::/129"}}, "subnet6");
    expect(400, {{"name", "a"}, {"subnet6", "zz::/64"}}, "subnet6");
    expect(400, {{"name", "a"}, {"subnet6", "fd00::1/64"}}, "did you mean fd00::/64?");
    expect(400, {{"name", "a"}, {"subnet6", "ff02::/64"}}, "multicast");
    expect(400, {{"name", "a"}, {"subnet6", "fe80::/64"}}, "link-local");
    expect(400, {{"name", "a"}, {"subnet6", "fd00::/64"}, {"gateway6", "fd01::1"}}, "gateway6");
    expect(400, {{"name", "a"}, {"gateway6", "fd00::1"}}, "gateway6");
    expect(400, {{"name", "a"}, {"ipv6", false}, {"subnet6", "fd00::/64"}}, "ipv6");
    expect(400, {{"name", "a"}, {"ipv6", "yes"}}, "ipv6");
    // The host's own route (the uplink's 2001:db8::/64) and another network are in the way.
    expect(409, {{"name", "a"}, {"subnet6", "2001:db8::/48"}}, "the host's route 2001:db8::/64");
    ASSERT_EQ(d.post("/v1/networks", {{"name", "first"}, {"subnet6", "fd00:1::/64"}}).status, 201);
    expect(409, {{"name", "a"}, {"subnet6", "fd00:1::/56"}}, "network first");
    // ipv6 true chooses around it.
    auto chosen = d.post("/v1/networks", {{"name", "second"}, {"ipv6", true}});
    ASSERT_EQ(chosen.status, 201) << chosen.body;
    EXPECT_EQ(json::parse(chosen.body)["subnet6"], "fd00::/64");
    ASSERT_EQ(d.post("/v1/networks", {{"name", "v4only"}}).status, 201);

    const std::string containers = "/v1/containers";
    auto create = [](json networks, json ports = json::array()) {
        return json{{"image", "busybox"},
                    {"cmd", {"true"}},
                    {"networks", std::move(networks)},
                    {"ports", std::move(ports)}};
    };
    expect(400, create({{{"name", "v4only"}, {"ip6", "fd00::5"}}}), "has no IPv6 subnet",
           containers);
    expect(400, create({{{"name", "first"}, {"ip6", "fd00:2::5"}}}), "networks[0].ip6", containers);
    expect(400, create({{{"name", "first"}, {"ip6", "fd00:1::1"}}}), "is the gateway", containers);
    expect(400, create({{{"name", "first"}, {"ip6", "not-an-address"}}}), "networks[0].ip6",
           containers);
    expect(400,
           create({"first"}, {{{"host_ip", "::1"}, {"host_port", 8080}, {"container_port", 80}}}),
           "::1 cannot be published", containers);
    expect(400,
           create({"v4only"},
                  {{{"host_ip", "2001:db8::2"}, {"host_port", 8080}, {"container_port", 80}}}),
           "has no IPv6 subnet", containers);
    // Nothing was leased by the refused creates.
    for (const char* n : {"first", "second", "v4only"})
        EXPECT_TRUE(d.inspect(std::string("/v1/networks/") + n)["containers"].empty()) << n;
    for (const char* n : {"first", "second", "v4only"})
        EXPECT_EQ(d.call("DELETE", std::string("/v1/networks/") + n).status, 204) << n;
    EXPECT_EQ(d.links_settled(d.links_before), d.links_before);
    EXPECT_EQ(d.netns.addresses(), d.addresses_before);
}

TEST(Ipv6, TrumanctlMakesDualStackNetworksAndAsksForIpv6Addresses) {
    Daemon d;
    auto ctl = [&](const std::string& args, std::string* out) {
        return run_host(std::string(TRUMAN_BINARY_DIR) + "/bin/trumanctl --socket " +
                            d.daemon.socket() + " " + args,
                        out);
    };
    std::string out;
    ASSERT_EQ(ctl("network create cli6 --subnet6 fd00:89:7::/64 --gateway6 fd00:89:7::a", &out), 0)
        << out;
    EXPECT_EQ(ctl("network inspect cli6", &out), 0) << out;
    json shown = json::parse(out, nullptr, false);
    EXPECT_EQ(shown.value("subnet6", ""), "fd00:89:7::/64") << out;
    EXPECT_EQ(shown.value("gateway6", ""), "fd00:89:7::a") << out;
    EXPECT_EQ(
        ctl("run --rm --network cli6 --ip6 fd00:89:7::9 busybox ip -o -6 addr show eth0", &out), 0)
        << out;
    EXPECT_NE(out.find("fd00:89:7::9/64"), std::string::npos) << out;
    EXPECT_EQ(ctl("run --rm --network cli6 --ip6 fd00:89:8::9 busybox true", &out), 126) << out;
    EXPECT_NE(out.find("--ip6"), std::string::npos) << out;  // named as the flag, not the field
    ASSERT_EQ(ctl("network create cli6b --ipv6", &out), 0) << out;
    EXPECT_EQ(ctl("network inspect cli6b", &out), 0) << out;
    EXPECT_EQ(json::parse(out, nullptr, false).value("subnet6", ""), "fd00::/64") << out;
    EXPECT_EQ(ctl("network rm cli6 cli6b", &out), 0) << out;
    EXPECT_EQ(d.links_settled(d.links_before), d.links_before);
    EXPECT_EQ(d.netns.addresses(), d.addresses_before);
}

}  // namespace
}  // namespace truman::test
