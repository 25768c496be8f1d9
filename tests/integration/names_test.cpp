// Names end to end, all traffic inside namespaces this test makes: trumand runs in one
// (TestNetns, --default-network none), a second one (TestOutside) stands for the outside and
// runs a DNS server. Containers find each other by name and alias through the /etc/hosts the
// daemon writes and keeps current (also while trumand is SIGKILLed: it is a file, no server),
// resolve an outside name through the dns server asked for, and neither resolve nor reach the
// containers of another network.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "test_netns.hpp"
#include "test_outside.hpp"
#include "test_support.hpp"
#include "trumand_process.hpp"

namespace truman::test {
namespace {

using nlohmann::json;

struct Daemon {
    TestNetns netns{"tmnam"};
    TestOutside outside{netns};
    TrumandProcess daemon{TrumandOptions{{"--default-network", "none"}, 0, netns.path()}};

    HttpResponse post(const std::string& target, const json& body) {
        HttpClient c(daemon.socket());
        return c.request("POST", target, body.dump());
    }
    HttpResponse call(const std::string& method, const std::string& target) {
        HttpClient c(daemon.socket());
        return c.request(method, target);
    }
    // Creates and starts a container; returns its id ("" on failure, reported).
    std::string start(json body) {
        body["image"] = "busybox";
        auto r = post("/v1/containers", body);
        EXPECT_EQ(r.status, 201) << r.body;
        if (r.status != 201) return "";
        std::string id = json::parse(r.body)["id"];
        EXPECT_EQ(call("POST", "/v1/containers/" + id + "/start").status, 204);
        return id;
    }
    // Runs a container to its end; returns its exit code, its output in *output.
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
    std::string address_of(const std::string& id) {
        auto r = json::parse(call("GET", "/v1/containers/" + id).body);
        std::string cidr = r["networks"][0]["address"];
        return cidr.substr(0, cidr.find('/'));
    }
};

size_t count_of(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

// A command run inside a running container's namespaces and root, without trumand.
int run_inside(int pid, const std::string& cmd, std::string* output) {
    return run_host(
        "nsenter -t " + std::to_string(pid) + " -m -u -n -p -r /bin/sh -c '" + cmd + "'", output);
}

const char* web_server =
    "mkdir -p /tmp/w && echo hello-from-web > /tmp/w/index.html && exec httpd -f -p 80 -h /tmp/w";

TEST(Names, ContainersOnANetworkReachEachOtherByNameAndAliasAlsoWhileTrumandIsDown) {
    Daemon d;
    ASSERT_EQ(d.post("/v1/networks", {{"name", "front"}}).status, 201);
    std::string web = d.start({{"name", "web"},
                               {"hostname", "webhost"},
                               {"cmd", {"sh", "-c", web_server}},
                               {"networks", {{{"name", "front"}, {"aliases", {"www"}}}}}});
    ASSERT_FALSE(web.empty());
    std::string output;
    EXPECT_EQ(d.run({{"name", "client"},
                     {"cmd",
                      {"sh", "-c",
                       "wget -qO- http://web/ && wget -qO- http://www/ && cat /etc/hosts "
                       "/etc/hostname /etc/resolv.conf"}},
                     {"hostname", "clienthost"},
                     {"extra_hosts", {"db:192.0.2.7", "v6db:2001:db8::7"}},
                     {"dns", {"198.51.100.1"}},
                     {"dns_search", {"example.test"}},
                     {"networks", {"front"}}},
                    &output),
              0)
        << output;
    EXPECT_EQ(count_of(output, "hello-from-web"), 2u) << output;
    EXPECT_NE(output.find("192.0.2.7\tdb\n"), std::string::npos) << output;
    EXPECT_NE(output.find("2001:db8::7\tv6db\n"), std::string::npos) << output;
    EXPECT_NE(output.find("\tclienthost\tclient\n"), std::string::npos) << output;
    EXPECT_NE(output.find("\nclienthost\n"), std::string::npos) << output;  // /etc/hostname
    EXPECT_NE(output.find("nameserver 198.51.100.1\nsearch example.test\n"), std::string::npos)
        << output;

    // A peer that comes later reaches the running container's hosts file (rewritten in
    // place, under its bind mount), and leaves it when removed.
    std::string late = d.start(
        {{"name", "late"}, {"cmd", {"sh", "-c", "exec sleep 1000"}}, {"networks", {"front"}}});
    ASSERT_FALSE(late.empty());
    int web_pid = d.pid_of(web);
    ASSERT_GT(web_pid, 0);
    EXPECT_EQ(run_inside(web_pid, "cat /etc/hosts", &output), 0) << output;
    EXPECT_NE(output.find(d.address_of(late) + "\tlate\n"), std::string::npos) << output;
    EXPECT_NE(output.find("\twebhost\tweb\twww\n"), std::string::npos) << output;

    // trumand down: the names still resolve, from the files.
    int late_pid = d.pid_of(late);
    d.daemon.kill_hard();
    EXPECT_EQ(run_inside(late_pid, "wget -qO- http://web/ && wget -qO- http://www/", &output), 0)
        << output;
    EXPECT_EQ(count_of(output, "hello-from-web"), 2u) << output;
    d.daemon.start();

    EXPECT_EQ(d.call("DELETE", "/v1/containers/" + late + "?force=true").status, 204);
    EXPECT_EQ(run_inside(web_pid, "cat /etc/hosts", &output), 0) << output;
    EXPECT_EQ(output.find("late"), std::string::npos) << output;
    EXPECT_EQ(d.call("DELETE", "/v1/containers/" + web + "?force=true").status, 204);
}

TEST(Names, ANameOnlyTheUpstreamServerKnowsResolvesThroughTheDnsAskedFor) {
    Daemon d;
    std::string output;
    ASSERT_TRUE(d.outside.serve_dns({{"only-upstream.test", "192.0.2.44"}}, &output)) << output;
    ASSERT_EQ(d.post("/v1/networks", {{"name", "out"}}).status, 201);
    // (Its exit status is busybox nslookup's for the AAAA query too, which dnsmasq refuses.)
    d.run({{"cmd", {"nslookup", "-type=a", "only-upstream.test"}},
           {"dns", {"198.51.100.1"}},
           {"networks", {"out"}}},
          &output);
    EXPECT_NE(output.find("192.0.2.44"), std::string::npos) << output;
    // Without the server it asked for, the name is unknown: the answer came from upstream.
    d.run({{"cmd", {"nslookup", "-type=a", "only-upstream.test"}},
           {"dns", {"198.51.100.3"}},
           {"networks", {"out"}}},
          &output);
    EXPECT_EQ(output.find("192.0.2.44"), std::string::npos) << output;
}

TEST(Names, ContainersOnDifferentNetworksNeitherResolveNorReachEachOther) {
    Daemon d;
    ASSERT_EQ(d.post("/v1/networks", {{"name", "left"}}).status, 201);
    ASSERT_EQ(d.post("/v1/networks", {{"name", "right"}}).status, 201);
    std::string web =
        d.start({{"name", "lweb"}, {"cmd", {"sh", "-c", web_server}}, {"networks", {"left"}}});
    ASSERT_FALSE(web.empty());
    const std::string ip = d.address_of(web);
    std::string output;
    // The same commands from its own network work: what fails below fails for isolation.
    EXPECT_EQ(d.run({{"cmd",
                      {"sh", "-c",
                       "ping -c 1 -W 2 " + ip + " && wget -qO- http://lweb/ && wget -qO- http://" +
                           ip + "/"}},
                     {"networks", {"left"}}},
                    &output),
              0)
        << output;
    EXPECT_EQ(count_of(output, "hello-from-web"), 2u) << output;
    EXPECT_EQ(d.run({{"cmd",
                      {"sh", "-c",
                       "grep lweb /etc/hosts; wget -T 2 -qO- http://lweb/; echo name=$?; "
                       "ping -c 1 -W 1 " +
                           ip + "; echo ping=$?; wget -T 2 -qO- http://" + ip + "/; echo ip=$?"}},
                     {"networks", {"right"}}},
                    &output),
              0)
        << output;
    EXPECT_EQ(output.find("hello-from-web"), std::string::npos) << output;
    EXPECT_EQ(output.find("\tlweb"), std::string::npos) << output;
    EXPECT_EQ(output.find("name=0"), std::string::npos) << output;
    EXPECT_EQ(output.find("ping=0"), std::string::npos) << output;
    EXPECT_EQ(output.find("ip=0"), std::string::npos) << output;
    EXPECT_EQ(d.call("DELETE", "/v1/containers/" + web + "?force=true").status, 204);
}

TEST(Names, TheFilesReplaceTheImagesSymlinksInsteadOfFollowingThem) {
    TestNetns netns{"tmnam"};
    TrumandProcess daemon{TrumandOptions{{"--default-network", "none"}, 0, netns.path()}};
    TempDir root;
    make_busybox_rootfs(root.path());
    const std::string outside = "/tmp/" + unique_name("tmesc");
    // Absolute links resolve inside the root (to its /planted); a relative one would climb
    // out of it if it were followed from the host.
    ASSERT_EQ(run_host("mkdir -p " + root.path() + "/etc && ln -sf /planted " + root.path() +
                       "/etc/hosts && ln -sf ../../../../../../.." + outside + " " + root.path() +
                       "/etc/resolv.conf && ln -sf /planted " + root.path() + "/etc/hostname"),
              0);
    HttpClient c(daemon.socket());
    auto r = c.request("POST", "/v1/containers",
                       json{{"rootfs", root.path()},
                            {"hostname", "linked"},
                            {"extra_hosts", {"db:192.0.2.7"}},
                            {"dns", {"198.51.100.1"}},
                            {"cmd", {"sh", "-c", "cat /etc/hosts /etc/hostname /etc/resolv.conf"}}}
                           .dump());
    ASSERT_EQ(r.status, 201) << r.body;
    std::string id = json::parse(r.body)["id"];
    EXPECT_EQ(HttpClient(daemon.socket()).request("POST", "/v1/containers/" + id + "/start").status,
              204);
    HttpClient(daemon.socket()).request("POST", "/v1/containers/" + id + "/wait");
    std::string output =
        HttpClient(daemon.socket()).request("GET", "/v1/containers/" + id + "/logs").body;
    EXPECT_NE(output.find("192.0.2.7\tdb\n"), std::string::npos) << output;
    EXPECT_NE(output.find("\nlinked\n"), std::string::npos) << output;
    EXPECT_NE(output.find("nameserver 198.51.100.1\n"), std::string::npos) << output;
    // Nothing was written where the links pointed, in the root or outside it.
    EXPECT_NE(access((root.path() + "/planted").c_str(), F_OK), 0);
    EXPECT_NE(access(outside.c_str(), F_OK), 0);
    EXPECT_EQ(HttpClient(daemon.socket())
                  .request("DELETE", "/v1/containers/" + id + "?force=true")
                  .status,
              204);
    ::unlink(outside.c_str());
}

TEST(Names, ARunningContainerConnectsToANetworkAndDisconnectsAgain) {
    Daemon d;
    ASSERT_EQ(d.post("/v1/networks", {{"name", "home"}}).status, 201);
    ASSERT_EQ(d.post("/v1/networks", {{"name", "extra"}, {"subnet", "10.91.5.0/24"}}).status, 201);
    std::string web =
        d.start({{"name", "xweb"}, {"cmd", {"sh", "-c", web_server}}, {"networks", {"extra"}}});
    std::string roam = d.start(
        {{"name", "roam"}, {"cmd", {"sh", "-c", "exec sleep 1000"}}, {"networks", {"home"}}});
    ASSERT_FALSE(web.empty());
    ASSERT_FALSE(roam.empty());
    int pid = d.pid_of(roam);
    std::string output;
    const std::string connect = "/v1/networks/extra/connect";
    // Not on extra yet: neither the name nor the subnet is reachable.
    EXPECT_NE(run_inside(pid, "wget -T 2 -qO- http://xweb/", &output), 0) << output;

    auto r = d.post(connect, {{"container", "roam"}, {"ip", "10.91.5.77"}, {"aliases", {"r2"}}});
    ASSERT_EQ(r.status, 204) << r.body;
    EXPECT_EQ(run_inside(pid, "wget -qO- http://xweb/ && ip -o addr show dev eth1", &output), 0)
        << output;
    EXPECT_NE(output.find("hello-from-web"), std::string::npos) << output;
    EXPECT_NE(output.find("10.91.5.77/24"), std::string::npos) << output;
    EXPECT_EQ(run_inside(d.pid_of(web), "cat /etc/hosts", &output), 0) << output;
    EXPECT_NE(output.find("10.91.5.77\troam\tr2\n"), std::string::npos) << output;
    auto shown = json::parse(d.call("GET", "/v1/containers/" + roam).body);
    EXPECT_EQ(shown["networks"].size(), 2u) << shown.dump();

    // Twice: 409; an exited container: 409; unknown network or container: 404; bad body: 400.
    EXPECT_EQ(d.post(connect, {{"container", "roam"}}).status, 409);
    std::string exited = d.start({{"name", "gone"}, {"cmd", {"true"}}, {"networks", {"home"}}});
    d.call("POST", "/v1/containers/" + exited + "/wait");
    EXPECT_EQ(d.post(connect, {{"container", "gone"}}).status, 409);
    EXPECT_EQ(d.post("/v1/networks/nope/connect", {{"container", "roam"}}).status, 404);
    EXPECT_EQ(d.post(connect, {{"container", "nobody"}}).status, 404);
    EXPECT_EQ(d.post(connect, {{"container", "roam"}, {"bogus", 1}}).status, 400);
    EXPECT_EQ(d.post(connect, {{"container", "roam"}, {"aliases", {"a b"}}}).status, 400);

    auto gone = d.post("/v1/networks/extra/disconnect", {{"container", "roam"}});
    ASSERT_EQ(gone.status, 204) << gone.body;
    EXPECT_EQ(d.post("/v1/networks/extra/disconnect", {{"container", "roam"}}).status, 409);
    EXPECT_NE(run_inside(pid, "ip link show eth1", &output), 0) << output;
    EXPECT_EQ(run_inside(d.pid_of(web), "cat /etc/hosts", &output), 0) << output;
    EXPECT_EQ(output.find("roam"), std::string::npos) << output;
    EXPECT_FALSE(d.netns.links().count("tm" + roam.substr(0, 11) + "-1"));
    auto n = json::parse(d.call("GET", "/v1/networks/extra").body);
    EXPECT_EQ(n["containers"].size(), 1u) << n.dump();  // xweb only: the address is free
    for (const auto& id : {web, roam, exited})
        EXPECT_EQ(d.call("DELETE", "/v1/containers/" + id + "?force=true").status, 204);
}

TEST(Names, BadNameOptionsAreRefusedNamingTheField) {
    Daemon d;
    ASSERT_EQ(d.post("/v1/networks", {{"name", "n"}}).status, 201);
    struct Case {
        json body;
        std::string field;
    } cases[] = {
        {{{"dns", {"198.51.100.1", "not-an-ip"}}}, "dns[1]"},
        {{{"extra_hosts", {"noaddress"}}}, "extra_hosts[0]"},
        {{{"extra_hosts", {"bad name:192.0.2.1"}}}, "extra_hosts[0]"},
        {{{"dns_search", {"a b"}}}, "dns_search[0]"},
        {{{"dns_options", {"nd ots"}}}, "dns_options[0]"},
        {{{"networks", {{{"name", "n"}, {"aliases", {"ok", "not ok"}}}}}},
         "networks[0].aliases[1]"},
    };
    for (auto& c : cases) {
        c.body["image"] = "busybox";
        c.body["cmd"] = {"true"};
        auto r = d.post("/v1/containers", c.body);
        EXPECT_EQ(r.status, 400) << c.body.dump() << " " << r.body;
        EXPECT_EQ(json::parse(r.body)["error"].value("field", ""), c.field) << r.body;
    }
    // Nothing leased by the refused ones.
    auto n = json::parse(d.call("GET", "/v1/networks/n").body);
    EXPECT_TRUE(n["containers"].empty()) << n.dump();
}

}  // namespace
}  // namespace truman::test
