// Published ports end to end, with all traffic inside namespaces this test makes: trumand runs
// in one (TestNetns, 198.51.100.2 on its uplink), wired to a second one that stands for
// another host (198.51.100.1). A published port answers there through the outer address, in
// trumand's namespace on 127.0.0.1, and to containers through the host's address (hairpin, to
// another container's port and to their own), for TCP, UDP and a range; a port something else
// holds is 409 naming it; after a SIGKILL and restart the rules are the same, none twice.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "test_netns.hpp"
#include "test_support.hpp"
#include "truman/firewall.hpp"
#include "trumand_process.hpp"

namespace truman::test {
namespace {

using nlohmann::json;

const std::string udp_echo = std::string(TRUMAN_BINARY_DIR) + "/bin/truman-udp-echo";

// Runs fn on a thread that joined netns (a namespace switch is per thread).
template <typename Fn>
void in_netns(const TestNetns& netns, Fn fn) {
    std::string error;
    std::thread([&] {
        int fd = open(netns.path().c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
            error = "setns " + netns.path();
        } else {
            try {
                fn();
            } catch (const std::exception& e) {
                error = e.what();
            }
        }
        if (fd >= 0) close(fd);
    }).join();
    EXPECT_EQ(error, "");
}

// The other host, wired to `inside` by a veth: 198.51.100.2 there (with a default route via
// it), 198.51.100.1 here. (As nat_test.cpp's, without its server.)
struct OtherHost {
    TestNetns netns{"tmpo"};
    explicit OtherHost(const TestNetns& inside) {
        std::string out;
        const std::string up = unique_name("tmu"), down = unique_name("tmd");
        EXPECT_EQ(inside.run("ip link add " + up + " type veth peer name " + down + " netns " +
                                 netns.name() + " && ip addr add 198.51.100.2/24 dev " + up +
                                 " && ip link set " + up + " up && ip link set lo up" +
                                 " && ip route add default via 198.51.100.1",
                             &out),
                  0)
            << out;
        EXPECT_EQ(netns.run("ip addr add 198.51.100.1/24 dev " + down + " && ip link set " + down +
                                " up && ip link set lo up",
                            &out),
                  0)
            << out;
    }
};

// A shell loop that retries until the server in the container is up (no timed assertion:
// it fails only when nothing ever answers).
std::string retried(const std::string& cmd) {
    return "for i in $(seq 100); do " + cmd + " && exit 0; sleep 0.1; done; exit 1";
}
std::string fetch(const std::string& url) {
    return retried("timeout 5 busybox wget -qO- " + url);
}

// An httpd (busybox's, in the background) on each port that answers with text; then the
// container waits (foreground) or the command goes on.
std::string httpd(const std::vector<std::pair<int, std::string>>& sites, bool foreground = true) {
    std::string cmd;
    for (const auto& [port, text] : sites) {
        const std::string dir = "/tmp/w" + std::to_string(port);
        cmd.append("mkdir -p ").append(dir).append(" && echo ").append(text).append(" > ");
        cmd.append(dir).append("/index.html && httpd -p ").append(std::to_string(port));
        cmd.append(" -h ").append(dir).append(" && ");
    }
    return cmd + (foreground ? "exec sleep 100000" : "true");
}

json port(int host, int container, const std::string& proto = "tcp") {
    return {{"host_port", host}, {"container_port", container}, {"proto", proto}};
}

struct Daemon {
    TestNetns netns{"tmpp"};
    OtherHost other{netns};
    TrumandProcess daemon{TrumandOptions{{"--default-network", "none"}, 0, netns.path()}};

    HttpResponse post(const std::string& target, const json& body) {
        HttpClient c(daemon.socket());
        return c.request("POST", target, body.dump());
    }
    HttpResponse call(const std::string& method, const std::string& target) {
        HttpClient c(daemon.socket());
        return c.request(method, target);
    }
    json body(const std::string& name, const std::string& network, const std::string& cmd,
              json ports) {
        return {{"image", "busybox"},
                {"name", name},
                {"cmd", {"sh", "-c", cmd}},
                {"networks", {network}},
                {"ports", std::move(ports)},
                {"mounts",
                 {{{"source", std::string(TRUMAN_BINARY_DIR) + "/bin"},
                   {"destination", "/mnt"},
                   {"options", {"rbind", "ro"}}}}}};
    }
    // Creates and starts; returns the id ("" after a failed assertion).
    std::string run(const std::string& name, const std::string& network, const std::string& cmd,
                    json ports) {
        auto r = post("/v1/containers", body(name, network, cmd, std::move(ports)));
        EXPECT_EQ(r.status, 201) << r.body;
        if (r.status != 201) return "";
        std::string id = json::parse(r.body)["id"];
        EXPECT_EQ(call("POST", "/v1/containers/" + id + "/start").status, 204);
        return id;
    }
    // Runs cmd to its end; returns its exit code, its output in *output.
    int run_to_end(const std::string& name, const std::string& network, const std::string& cmd,
                   json ports, std::string* output) {
        std::string id = run(name, network, cmd, std::move(ports));
        if (id.empty()) return -1;
        auto w = call("POST", "/v1/containers/" + id + "/wait");
        *output = call("GET", "/v1/containers/" + id + "/logs").body;
        EXPECT_EQ(call("DELETE", "/v1/containers/" + id).status, 204);
        return json::parse(w.body).value("exit_code", -1);
    }
    std::string ruleset() {
        std::string out;
        in_netns(netns, [&] { out = list_firewall(); });
        return out;
    }
    // Whether the test itself can bind port/proto on every address of trumand's namespace.
    bool can_bind(int port_number, int type = SOCK_STREAM) {
        bool ok = false;
        in_netns(netns, [&] {
            int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
            sockaddr_in sa{};
            sa.sin_family = AF_INET;
            sa.sin_port = htons(static_cast<uint16_t>(port_number));
            ok = fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
            if (fd >= 0) close(fd);
        });
        return ok;
    }
};

TEST(PublishedPorts, ReachableFromAnotherHostFromLocalhostAndFromContainersOverTcpAndUdp) {
    Daemon d;
    ASSERT_EQ(d.post("/v1/networks", {{"name", "web"}}).status, 201);
    ASSERT_NE(d.run("site", "web", httpd({{80, "hello-site"}}), {port(8080, 80)}), "");
    json range = {{"host_port", 9000},
                  {"host_port_end", 9001},
                  {"container_port", 80},
                  {"container_port_end", 81}};
    ASSERT_NE(d.run("ranged", "web", httpd({{80, "range-80"}, {81, "range-81"}}), {range}), "");
    ASSERT_NE(
        d.run("echo", "web", "exec /mnt/truman-udp-echo serve 5353", {port(5353, 5353, "udp")}),
        "");

    std::string out;
    // From the other host, through the outer address.
    EXPECT_EQ(d.other.netns.run(fetch("http://198.51.100.2:8080/"), &out), 0) << out;
    EXPECT_NE(out.find("hello-site"), std::string::npos) << out;
    EXPECT_EQ(d.other.netns.run(fetch("http://198.51.100.2:9000/"), &out), 0) << out;
    EXPECT_NE(out.find("range-80"), std::string::npos) << out;
    EXPECT_EQ(d.other.netns.run(fetch("http://198.51.100.2:9001/"), &out), 0) << out;
    EXPECT_NE(out.find("range-81"), std::string::npos) << out;
    EXPECT_EQ(d.other.netns.run(udp_echo + " send 198.51.100.2 5353 ping", &out), 0) << out;
    EXPECT_NE(out.find("echo:ping"), std::string::npos) << out;
    // From trumand's own namespace on 127.0.0.1 (route_localnet + masquerade).
    EXPECT_EQ(d.netns.run(fetch("http://127.0.0.1:8080/"), &out), 0) << out;
    EXPECT_NE(out.find("hello-site"), std::string::npos) << out;
    EXPECT_EQ(d.netns.run(udp_echo + " send 127.0.0.1 5353 local", &out), 0) << out;
    EXPECT_NE(out.find("echo:local"), std::string::npos) << out;

    // Hairpin: another container to site's port, through the host's address...
    EXPECT_EQ(
        d.run_to_end("client", "web", fetch("http://198.51.100.2:8080/"), json::array(), &out), 0)
        << out;
    EXPECT_NE(out.find("hello-site"), std::string::npos) << out;
    EXPECT_EQ(d.run_to_end("udp-client", "web", "/mnt/truman-udp-echo send 198.51.100.2 5353 hp",
                           json::array(), &out),
              0)
        << out;
    EXPECT_NE(out.find("echo:hp"), std::string::npos) << out;
    // ... and a container to its own published port.
    EXPECT_EQ(d.run_to_end(
                  "self", "web",
                  httpd({{80, "hello-self"}}, false) + " && " + fetch("http://198.51.100.2:8090/"),
                  {port(8090, 80)}, &out),
              0)
        << out;
    EXPECT_NE(out.find("hello-self"), std::string::npos) << out;

    // Its rules went with the container that published 8090, and the port with them.
    std::string rules = d.ruleset();
    EXPECT_EQ(rules.find("container self"), std::string::npos) << rules;
    EXPECT_NE(rules.find("container site 8080/tcp"), std::string::npos) << rules;
    EXPECT_TRUE(d.can_bind(8090));
    EXPECT_FALSE(d.can_bind(8080));  // held while site exists
    EXPECT_FALSE(d.can_bind(5353, SOCK_DGRAM));
}

TEST(PublishedPorts, APortHeldByAnotherProgramOrContainerIs409AndZeroPicksOne) {
    Daemon d;
    ASSERT_EQ(d.post("/v1/networks", {{"name", "web"}}).status, 201);
    // A listener of some other program in trumand's namespace.
    int listener = -1;
    in_netns(d.netns, [&] {
        listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(7070);
        ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
        ASSERT_EQ(listen(listener, 1), 0);
    });
    auto taken = d.post("/v1/containers", d.body("a", "web", "true", {port(7070, 80)}));
    EXPECT_EQ(taken.status, 409) << taken.body;
    EXPECT_NE(taken.body.find("0.0.0.0:7070/tcp"), std::string::npos) << taken.body;
    if (listener >= 0) close(listener);

    auto first = d.post("/v1/containers", d.body("first", "web", "true", {port(8080, 80)}));
    ASSERT_EQ(first.status, 201) << first.body;
    auto second = d.post("/v1/containers", d.body("second", "web", "true", {port(8080, 80)}));
    EXPECT_EQ(second.status, 409) << second.body;
    EXPECT_NE(second.body.find("0.0.0.0:8080/tcp"), std::string::npos) << second.body;
    EXPECT_NE(second.body.find("container first"), std::string::npos) << second.body;
    // A specific address overlaps every address; another proto does not.
    json specific = port(8080, 80);
    specific["host_ip"] = "198.51.100.2";
    EXPECT_EQ(d.post("/v1/containers", d.body("third", "web", "true", {specific})).status, 409);
    auto udp = d.post("/v1/containers", d.body("udp", "web", "true", {port(8080, 80, "udp")}));
    EXPECT_EQ(udp.status, 201) << udp.body;

    // host_port 0: trumand picks a free port, holds it and shows it.
    auto any = d.post("/v1/containers", d.body("any", "web", "true", {port(0, 80)}));
    ASSERT_EQ(any.status, 201) << any.body;
    std::string any_id = json::parse(any.body)["id"];
    json info = json::parse(d.call("GET", "/v1/containers/" + any_id).body);
    ASSERT_EQ(info["ports"].size(), 1u) << info.dump();
    int chosen = info["ports"][0]["host_port"];
    EXPECT_GT(chosen, 0);
    EXPECT_EQ(info["ports"][0]["host_port_end"], chosen);
    EXPECT_EQ(info["ports"][0]["host_ip"], "0.0.0.0");
    EXPECT_FALSE(d.can_bind(chosen));
    EXPECT_NE(d.ruleset().find("container any " + std::to_string(chosen) + "/tcp"),
              std::string::npos);
    EXPECT_EQ(d.call("DELETE", "/v1/containers/" + any_id).status, 204);
    EXPECT_TRUE(d.can_bind(chosen));

    // Bad input: 400 naming the field.
    auto bad = [&](json p, const std::string& field) {
        const std::string shown = p.dump();
        auto r = d.post("/v1/containers", d.body("bad", "web", "true", {std::move(p)}));
        EXPECT_EQ(r.status, 400) << shown << " " << r.body;
        EXPECT_NE(r.body.find(field), std::string::npos) << r.body;
    };
    bad(port(8081, 0), "ports[0].container_port");
    bad(port(70000, 80), "ports[0].host_port");
    bad(port(8081, 70000), "ports[0].container_port");
    bad(port(8081, 80, "sctp"), "ports[0].proto");
    json p = port(8081, 80);
    p["host_ip"] = "nope";
    bad(p, "ports[0].host_ip");
    p["host_ip"] = "::1";
    bad(p, "ports[0].host_ip");
    p["host_ip"] = "192.0.2.77";  // not an address of this host
    bad(p, "ports[0].host_ip");
    json uneven = {{"host_port", 9000},
                   {"host_port_end", 9002},
                   {"container_port", 80},
                   {"container_port_end", 81}};
    bad(uneven, "ports[0].host_port_end");
    auto no_network = d.post("/v1/containers", {{"image", "busybox"},
                                                {"cmd", {"true"}},
                                                {"network", "none"},
                                                {"ports", {port(8081, 80)}}});
    EXPECT_EQ(no_network.status, 400) << no_network.body;
    EXPECT_NE(no_network.body.find("ports"), std::string::npos) << no_network.body;
    EXPECT_TRUE(d.can_bind(8081));  // nothing was held by the refused creates
}

// The crash test: 5 containers on 2 networks with ports, one exiting while trumand is
// down. After the restart the others answer, and the table, the links and the leases are the
// same (none stale, none twice) but for the exited one's veth, which went with its netns; its
// address, port and rules are released once it is removed.
TEST(PublishedPorts, AfterASigkillAndRestartTheRulesAreTheSameAndAnExitedOnesGoWithIt) {
    Daemon d;
    ASSERT_EQ(d.post("/v1/networks", {{"name", "a"}}).status, 201);
    ASSERT_EQ(d.post("/v1/networks", {{"name", "b"}}).status, 201);
    ASSERT_NE(d.run("one", "a", httpd({{80, "site-one"}}), {port(8081, 80)}), "");
    ASSERT_NE(d.run("two", "b", httpd({{80, "site-two"}}), {port(8082, 80)}), "");
    ASSERT_NE(d.run("three", "a", httpd({{80, "site-three"}}), {port(8084, 80)}), "");
    ASSERT_NE(d.run("four", "b", httpd({{80, "site-four"}}), {port(8085, 80)}), "");
    std::string doomed = d.run("doomed", "a", "exec sleep 1000", {port(8083, 80)});
    ASSERT_NE(doomed, "");
    json doomed_state = json::parse(d.call("GET", "/v1/containers/" + doomed).body);
    pid_t doomed_pid = doomed_state["state"]["pid"];
    ASSERT_GT(doomed_pid, 0);
    const std::string doomed_cidr = doomed_state["networks"][0]["address"];
    const std::string doomed_ip = doomed_cidr.substr(0, doomed_cidr.find('/'));
    std::string before = d.ruleset();
    EXPECT_NE(before.find("container doomed 8083/tcp"), std::string::npos) << before;
    const auto links_before = d.netns.links();
    auto leases = [&](const char* network) {
        auto r = d.call("GET", std::string("/v1/networks/") + network);
        EXPECT_EQ(r.status, 200) << r.body;
        return r.status == 200 ? json::parse(r.body)["containers"] : json();
    };
    const json leases_a = leases("a"), leases_b = leases("b");
    ASSERT_EQ(leases_a.size(), 3u) << leases_a.dump();
    ASSERT_EQ(leases_b.size(), 2u) << leases_b.dump();

    d.daemon.kill_hard();
    ASSERT_EQ(::kill(doomed_pid, SIGKILL), 0);  // it exits while trumand is down
    d.daemon.start();
    auto w = d.call("POST", "/v1/containers/" + doomed + "/wait");
    EXPECT_EQ(w.status, 200) << w.body;

    // No stale rule, none twice: the same table, the same leases (the exited one's too: it
    // still exists), the same links but the exited one's veth (gone with its netns, a little
    // after).
    EXPECT_EQ(d.ruleset(), before);
    EXPECT_EQ(leases("a"), leases_a);
    EXPECT_EQ(leases("b"), leases_b);
    auto links_now = d.netns.links();
    for (int i = 0; i < 100 && links_now.size() + 1 != links_before.size(); ++i) {
        usleep(50'000);
        links_now = d.netns.links();
    }
    EXPECT_EQ(links_now.size() + 1, links_before.size());
    for (const auto& l : links_now) EXPECT_TRUE(links_before.count(l)) << l << " is new";
    std::string out;
    for (const auto& [host_port, site] : std::vector<std::pair<int, std::string>>{
             {8081, "site-one"}, {8082, "site-two"}, {8084, "site-three"}, {8085, "site-four"}}) {
        EXPECT_EQ(d.other.netns.run(fetch("http://198.51.100.2:" + std::to_string(host_port) + "/"),
                                    &out),
                  0)
            << out;
        EXPECT_NE(out.find(site), std::string::npos) << out;
    }
    EXPECT_FALSE(d.can_bind(8081));  // held again by the restarted trumand

    // The exited one keeps its port until it is removed; then port, rules and address are free.
    EXPECT_EQ(d.post("/v1/containers", d.body("again", "a", "true", {port(8083, 80)})).status, 409);
    EXPECT_EQ(d.call("DELETE", "/v1/containers/" + doomed).status, 204);
    std::string after = d.ruleset();
    EXPECT_EQ(after.find("container doomed"), std::string::npos) << after;
    EXPECT_NE(after.find("container one 8081/tcp"), std::string::npos) << after;
    EXPECT_EQ(leases("a").size(), 2u);
    EXPECT_EQ(d.netns.links(), links_now);  // nothing of it was left to remove
    EXPECT_TRUE(d.can_bind(8083));
    json again = d.body("again", "a", "true", {port(8083, 80)});
    again["networks"] = {{{"name", "a"}, {"ip", doomed_ip}}};
    auto made = d.post("/v1/containers", again);
    EXPECT_EQ(made.status, 201) << made.body;  // its address, asked for, is free again
}

}  // namespace
}  // namespace truman::test
