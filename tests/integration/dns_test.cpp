// The DNS server of each user-made network (dns_server.hpp), end to end and all inside
// namespaces this test makes: trumand runs in one (TestNetns, --default-network none, its
// --resolv-conf naming the upstream server), a second one (TestOutside) stands for the
// outside and runs the upstream DNS server. Names and aliases are asked of the network's
// server directly (nslookup NAME GATEWAY): the containers' /etc/hosts would answer them
// too, so only the explicit server proves the DNS path.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "test_netns.hpp"
#include "test_outside.hpp"
#include "test_support.hpp"
#include "truman/firewall.hpp"
#include "trumand_process.hpp"

namespace truman::test {
namespace {

using nlohmann::json;

// The host's resolver configuration as this trumand sees it: the outside's server, and a
// loopback one that must be left out (a stub no container could reach).
std::string upstream_resolv_conf(const TempDir& dir) {
    std::string path = dir.path() + "/resolv.conf";
    std::ofstream(path) << "nameserver 127.0.0.53\nnameserver " << TestOutside::address
                        << "\nsearch example.test\n";
    return path;
}

struct Daemon {
    TempDir files{"tmdns"};
    TestNetns netns{"tmdns"};
    TestOutside outside{netns};
    TrumandProcess daemon{
        TrumandOptions{{"--default-network", "none", "--resolv-conf", upstream_resolv_conf(files)},
                       0,
                       netns.path()}};

    HttpResponse post(const std::string& target, const json& body) {
        HttpClient c(daemon.socket());
        return c.request("POST", target, body.dump());
    }
    HttpResponse call(const std::string& method, const std::string& target) {
        HttpClient c(daemon.socket());
        return c.request(method, target);
    }
    // The new network's gateway ("" on failure, reported).
    std::string make_network(const std::string& name) {
        auto r = post("/v1/networks", {{"name", name}});
        EXPECT_EQ(r.status, 201) << r.body;
        if (r.status != 201) return "";
        return json::parse(r.body).value("gateway", "");
    }
    std::string start(json body) {
        body["image"] = "busybox";
        auto r = post("/v1/containers", body);
        EXPECT_EQ(r.status, 201) << r.body;
        if (r.status != 201) return "";
        std::string id = json::parse(r.body)["id"];
        EXPECT_EQ(call("POST", "/v1/containers/" + id + "/start").status, 204);
        return id;
    }
    int run(json body, std::string* output) {
        std::string id = start(std::move(body));
        if (id.empty()) return -1;
        auto w = call("POST", "/v1/containers/" + id + "/wait");
        *output = call("GET", "/v1/containers/" + id + "/logs").body;
        EXPECT_EQ(call("DELETE", "/v1/containers/" + id).status, 204);
        return json::parse(w.body).value("exit_code", -1);
    }
    int pid_of(const std::string& id) {
        auto r = call("GET", "/v1/containers/" + id);
        return json::parse(r.body)["state"].value("pid", 0);
    }
    // table inet truman as trumand's namespace has it, "" for none (no nft binary here:
    // libnftables, from a thread that switched to that namespace for the one call).
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
    std::string address_of(const std::string& id, size_t index = 0) {
        auto r = json::parse(call("GET", "/v1/containers/" + id).body);
        std::string cidr = r["networks"][index]["address"];
        return cidr.substr(0, cidr.find('/'));
    }
};

int run_inside(int pid, const std::string& cmd, std::string* output) {
    return run_host(
        "nsenter -t " + std::to_string(pid) + " -m -u -n -p -r /bin/sh -c '" + cmd + "'", output);
}

// busybox nslookup's A answer for name from server ("" when none): its output names the
// server first ("Server: ... Address: GW:53"), then the answers.
std::string lookup(int pid, const std::string& name, const std::string& server) {
    std::string output;
    run_inside(pid, "nslookup -type=a " + name + " " + server, &output);
    auto at = output.find("Name:");
    if (at == std::string::npos) return "";
    auto addr = output.find("Address: ", at);
    if (addr == std::string::npos) return "";
    addr += 9;
    return output.substr(addr, output.find_first_of("\n ", addr) - addr);
}

const char* sleeper = "exec sleep 1000";

// The real and effective uids of a process, from /proc/PID/status ("Uid: r e s fs").
std::string uids_of(pid_t pid) {
    std::string status = read_file("/proc/" + std::to_string(pid) + "/status");
    auto at = status.find("\nUid:\t");
    if (at == std::string::npos) return "";
    at += 6;
    std::istringstream fields(status.substr(at, status.find('\n', at) - at));
    std::string real, effective;
    fields >> real >> effective;
    return real + " " + effective;
}

// The uid dnsmasq should drop to: Debian's dnsmasq account, else nobody's.
std::string dns_account_uid() {
    std::vector<char> buffer(16384);
    for (const char* name : {"dnsmasq", "nobody"}) {
        passwd pw{};
        passwd* found = nullptr;
        if (getpwnam_r(name, &pw, buffer.data(), buffer.size(), &found) == 0 && found)
            return std::to_string(pw.pw_uid);
    }
    return "";
}

mode_t mode_of(const std::string& path) {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) return 0;
    return st.st_mode & 07777;
}

TEST(DnsServer, ANameOnlyTheUpstreamServerKnowsResolvesWithoutDnsOptions) {
    Daemon d;
    std::string output;
    ASSERT_TRUE(d.outside.serve_dns({{"only-upstream.test", "192.0.2.44"}}, &output)) << output;
    const std::string gateway = d.make_network("fwd");
    ASSERT_FALSE(gateway.empty());
    d.run({{"cmd", {"sh", "-c", "cat /etc/resolv.conf; nslookup -type=a only-upstream.test"}},
           {"networks", {"fwd"}}},
          &output);
    // The container asks its network's server, which asked the outside's.
    EXPECT_NE(output.find("nameserver " + gateway + "\nsearch example.test\n"), std::string::npos)
        << output;
    EXPECT_EQ(output.find("198.51.100.1"), std::string::npos) << output;
    EXPECT_EQ(output.find("127.0.0.53"), std::string::npos) << output;
    EXPECT_NE(output.find("192.0.2.44"), std::string::npos) << output;
    // --dns still overrides the container's resolv.conf.
    d.run({{"cmd", {"cat", "/etc/resolv.conf"}}, {"dns", {"198.51.100.9"}}, {"networks", {"fwd"}}},
          &output);
    EXPECT_NE(output.find("nameserver 198.51.100.9\n"), std::string::npos) << output;
    EXPECT_EQ(output.find(gateway), std::string::npos) << output;
}

TEST(DnsServer, NamesAndAliasesResolveAlsoWhileTrumandIsDownAndFollowTheContainers) {
    Daemon d;
    const std::string gateway = d.make_network("dnsnet");
    ASSERT_FALSE(gateway.empty());
    ASSERT_FALSE(d.make_network("elsewhere").empty());
    std::string web = d.start({{"name", "web"},
                               {"cmd", {"sh", "-c", sleeper}},
                               {"networks", {{{"name", "dnsnet"}, {"aliases", {"www"}}}}}});
    std::string client =
        d.start({{"name", "client"}, {"cmd", {"sh", "-c", sleeper}}, {"networks", {"dnsnet"}}});
    ASSERT_FALSE(web.empty());
    ASSERT_FALSE(client.empty());
    const int pid = d.pid_of(client);
    const std::string web_ip = d.address_of(web), client_ip = d.address_of(client);
    EXPECT_EQ(lookup(pid, "web", gateway), web_ip);
    EXPECT_EQ(lookup(pid, "www", gateway), web_ip);
    std::vector<pid_t> servers = dns_server_pids(d.daemon, "dnsnet");
    ASSERT_EQ(servers.size(), 1u);
    EXPECT_EQ(dns_server_pids(d.daemon).size(), 2u);  // one per network
    // Not root once it listens; what it reads again is its group's, the rest root's alone.
    const std::string account = dns_account_uid();
    ASSERT_NE(account, "");
    ASSERT_NE(account, "0");
    EXPECT_EQ(uids_of(servers[0]), account + " " + account);
    const std::string dns_dir = d.daemon.run_dir() + "/dns/dnsnet/";
    EXPECT_EQ(mode_of(d.daemon.run_dir()), 0710u);
    EXPECT_EQ(mode_of(dns_dir), 0710u);
    EXPECT_EQ(mode_of(dns_dir + "hosts"), 0750u);
    EXPECT_EQ(mode_of(dns_dir + "hosts/hosts"), 0640u);
    EXPECT_EQ(mode_of(dns_dir + "dnsmasq.conf"), 0600u);

    // trumand SIGKILLed: its server keeps answering.
    d.daemon.kill_hard();
    EXPECT_EQ(lookup(pid, "web", gateway), web_ip);
    EXPECT_EQ(lookup(pid, "www", gateway), web_ip);
    EXPECT_EQ(lookup(pid, "client", gateway), client_ip);
    d.daemon.start();
    // Found again, not started twice, still not root.
    EXPECT_EQ(dns_server_pids(d.daemon, "dnsnet"), servers);
    EXPECT_EQ(dns_server_pids(d.daemon).size(), 2u);
    EXPECT_EQ(uids_of(servers[0]), account + " " + account);
    EXPECT_EQ(mode_of(d.daemon.run_dir()), 0710u);

    // The names follow create, connect, disconnect and delete.
    std::string late =
        d.start({{"name", "late"}, {"cmd", {"sh", "-c", sleeper}}, {"networks", {"dnsnet"}}});
    std::string roam =
        d.start({{"name", "roam"}, {"cmd", {"sh", "-c", sleeper}}, {"networks", {"elsewhere"}}});
    ASSERT_FALSE(late.empty());
    ASSERT_FALSE(roam.empty());
    EXPECT_EQ(lookup(pid, "late", gateway), d.address_of(late));
    EXPECT_EQ(lookup(pid, "roam", gateway), "");
    auto r = d.post("/v1/networks/dnsnet/connect", {{"container", "roam"}, {"aliases", {"r2"}}});
    ASSERT_EQ(r.status, 204) << r.body;
    EXPECT_EQ(lookup(pid, "r2", gateway), d.address_of(roam, 1));
    EXPECT_EQ(lookup(pid, "roam", gateway), d.address_of(roam, 1));
    r = d.post("/v1/networks/dnsnet/disconnect", {{"container", "roam"}});
    ASSERT_EQ(r.status, 204) << r.body;
    EXPECT_EQ(lookup(pid, "r2", gateway), "");
    EXPECT_EQ(d.call("DELETE", "/v1/containers/" + late + "?force=true").status, 204);
    EXPECT_EQ(lookup(pid, "late", gateway), "");
    EXPECT_EQ(lookup(pid, "web", gateway), web_ip)  // the others stay
        << read_file(dns_dir + "hosts/hosts") << read_file(dns_dir + "dnsmasq.log");
    for (const auto& id : {web, client, roam})
        EXPECT_EQ(d.call("DELETE", "/v1/containers/" + id + "?force=true").status, 204);
}

TEST(DnsServer, ADualStackNetworksServerAnswersOverIpv6TooWithBothAddresses) {
    Daemon d;
    auto made = d.post("/v1/networks", {{"name", "dual"}, {"subnet6", "fd00:89:53::/64"}});
    ASSERT_EQ(made.status, 201) << made.body;
    const std::string gateway = json::parse(made.body)["gateway"];
    const std::string gateway6 = "fd00:89:53::1";
    std::string web =
        d.start({{"name", "web6"}, {"cmd", {"sh", "-c", sleeper}}, {"networks", {"dual"}}});
    std::string client =
        d.start({{"name", "client6"}, {"cmd", {"sh", "-c", sleeper}}, {"networks", {"dual"}}});
    ASSERT_FALSE(web.empty());
    ASSERT_FALSE(client.empty());
    const int pid = d.pid_of(client);
    const std::string web_ip = d.address_of(web);
    // Both servers in resolv.conf, IPv4 first.
    std::string out;
    EXPECT_EQ(run_inside(pid, "cat /etc/resolv.conf", &out), 0) << out;
    EXPECT_NE(out.find("nameserver " + gateway + "\nnameserver " + gateway6 + "\n"),
              std::string::npos)
        << out;
    // Asked over IPv6: the A record, and the AAAA one of the same name.
    EXPECT_EQ(lookup(pid, "web6", gateway6), web_ip);
    EXPECT_EQ(run_inside(pid, "nslookup -type=aaaa web6 " + gateway6, &out), 0) << out;
    EXPECT_NE(out.find("fd00:89:53::2"), std::string::npos) << out;
    // ... also while trumand is down.
    d.daemon.kill_hard();
    EXPECT_EQ(lookup(pid, "web6", gateway6), web_ip);
    d.daemon.start();
    EXPECT_EQ(lookup(pid, "web6", gateway6), web_ip);
    // Its IPv6 address is guarded like the IPv4 one.
    const std::string rules = d.ruleset();
    EXPECT_NE(rules.find("ip6 daddr " + gateway6 + " udp dport 53"), std::string::npos) << rules;
    for (const auto& id : {web, client})
        EXPECT_EQ(d.call("DELETE", "/v1/containers/" + id + "?force=true").status, 204);
    EXPECT_EQ(d.call("DELETE", "/v1/networks/dual").status, 204);
}

TEST(DnsServer, AContainerOnAnotherNetworkCannotQueryIt) {
    Daemon d;
    const std::string left = d.make_network("left");
    const std::string right = d.make_network("right");
    ASSERT_FALSE(left.empty());
    ASSERT_FALSE(right.empty());
    std::string web =
        d.start({{"name", "lweb"}, {"cmd", {"sh", "-c", sleeper}}, {"networks", {"left"}}});
    std::string same =
        d.start({{"name", "lpeer"}, {"cmd", {"sh", "-c", sleeper}}, {"networks", {"left"}}});
    std::string other =
        d.start({{"name", "rpeer"}, {"cmd", {"sh", "-c", sleeper}}, {"networks", {"right"}}});
    ASSERT_FALSE(web.empty());
    ASSERT_FALSE(same.empty());
    ASSERT_FALSE(other.empty());
    // From its own network it answers: what fails below fails for isolation.
    EXPECT_EQ(lookup(d.pid_of(same), "lweb", left), d.address_of(web));
    std::string output;
    // Left's server from the right network: dropped (nslookup times out, no answer at all).
    EXPECT_NE(
        run_inside(d.pid_of(other), "nslookup -type=a -timeout=1 -retry=0 lweb " + left, &output),
        0)
        << output;
    EXPECT_EQ(output.find(d.address_of(web)), std::string::npos) << output;
    // Its own network's server does not know left's names.
    EXPECT_EQ(lookup(d.pid_of(other), "lweb", right), "");
    // The drop is truman's rule, in its table.
    const std::string rules = d.ruleset();
    size_t guards = 0;
    for (size_t at = rules.find("network left (dns)"); at != std::string::npos;
         at = rules.find("network left (dns)", at + 1))
        ++guards;
    EXPECT_EQ(guards, 2u) << rules;  // udp and tcp
    for (const auto& id : {web, same, other})
        EXPECT_EQ(d.call("DELETE", "/v1/containers/" + id + "?force=true").status, 204);
}

TEST(DnsServer, DeletingTheNetworkStopsItsServerAndLeavesNothing) {
    Daemon d;
    const std::set<std::string> links_before = d.netns.links();
    const std::string gateway = d.make_network("brief");
    ASSERT_FALSE(gateway.empty());
    std::vector<pid_t> servers = dns_server_pids(d.daemon, "brief");
    ASSERT_EQ(servers.size(), 1u);
    // Its descriptors: none of trumand's (the API socket above all), only its own.
    std::string output;
    run_host("ls -l /proc/" + std::to_string(servers[0]) + "/fd", &output);
    EXPECT_EQ(output.find("trumand.sock"), std::string::npos) << output;
    EXPECT_EQ(output.find(d.daemon.state_dir()), std::string::npos) << output;
    // It listens on the gateway only.
    EXPECT_EQ(d.netns.run("ss -Hlnu 'sport = :53'", &output), 0);
    EXPECT_NE(output.find(gateway + ":53"), std::string::npos) << output;
    EXPECT_EQ(output.find("0.0.0.0:53"), std::string::npos) << output;
    EXPECT_EQ(output.find("127.0.0.1:53"), std::string::npos) << output;
    EXPECT_EQ(d.run({{"name", "once"},
                     {"cmd", {"nslookup", "-type=a", "once", gateway}},
                     {"networks", {"brief"}}},
                    &output),
              0)
        << output;
    ASSERT_EQ(d.call("DELETE", "/v1/networks/brief").status, 204);
    EXPECT_TRUE(dns_server_pids(d.daemon).empty());
    EXPECT_EQ(network_leaks(d.daemon), "");
    EXPECT_EQ(container_leaks(d.daemon, {}), "");
    EXPECT_EQ(d.netns.links(), links_before);
    EXPECT_EQ(d.ruleset(), "");  // no network left, no table
    // Nor does a restart start one again.
    d.daemon.kill_hard();
    d.daemon.start();
    EXPECT_TRUE(dns_server_pids(d.daemon).empty());
}

TEST(DnsServer, TheDefaultNetworkHasNone) {
    TestNetns netns{"tmdns"};
    TrumandProcess daemon{TrumandOptions{{"--default-network", "truman"}, 0, netns.path()}};
    EXPECT_TRUE(dns_server_pids(daemon).empty());
    EXPECT_EQ(network_leaks(daemon).find("dns"), std::string::npos);
}

}  // namespace
}  // namespace truman::test
