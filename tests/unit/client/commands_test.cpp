// trumanctl's mapping of flags onto the API's create body, the ps table, and error bodies.
#include "truman/client/commands.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include "test_support.hpp"
#include "truman/client/api_client.hpp"
#include "truman/client/attach.hpp"
#include "truman/client/create_body.hpp"
#include "truman/client/format.hpp"
#include "truman/client/pull_progress.hpp"

namespace truman::client {
namespace {

using nlohmann::json;

TEST(TrumanctlCreateBody, ImageAndCommand) {
    CreateOptions o;
    o.args = {"busybox", "sh", "-c", "exit 7"};
    EXPECT_EQ(create_body(o), (json{{"image", "busybox"}, {"cmd", {"sh", "-c", "exit 7"}}}));
    o.args = {"busybox"};
    EXPECT_EQ(create_body(o), (json{{"image", "busybox"}}));  // the daemon's default command
}

TEST(TrumanctlCreateBody, RootfsTakesEveryArgumentAsTheCommand) {
    CreateOptions o;
    o.rootfs = "/srv/root";
    o.args = {"echo", "hi"};
    EXPECT_EQ(create_body(o), (json{{"rootfs", "/srv/root"}, {"cmd", {"echo", "hi"}}}));
}

TEST(TrumanctlCreateBody, EveryFlagMapsOntoTheApisFieldNames) {
    setenv("TRUMANCTL_TEST_VAR", "from-env", 1);
    CreateOptions o;
    o.name = "web";
    o.hostname = "h";
    o.env = {"A=1", "TRUMANCTL_TEST_VAR", "TRUMANCTL_TEST_UNSET_VAR"};
    o.workdir = "/tmp";
    o.user = "1000:1000";
    o.memory = "128m";
    o.pids_limit = 64;
    o.cpus = "1.5";
    o.read_only = true;
    o.cap_add = {"NET_ADMIN"};
    o.cap_drop = {"CHOWN"};
    o.network = "veth";
    o.ip = "10.0.0.2/24";
    o.gateway = "10.0.0.1";
    o.security_opts = {"seccomp=unconfined", "no-new-privileges"};
    o.args = {"busybox", "true"};
    json expected = {
        {"image", "busybox"},
        {"cmd", {"true"}},
        {"name", "web"},
        {"hostname", "h"},
        {"env", {"A=1", "TRUMANCTL_TEST_VAR=from-env"}},
        {"cwd", "/tmp"},
        {"user", "1000:1000"},
        {"read_only", true},
        {"cap_add", {"NET_ADMIN"}},
        {"cap_drop", {"CHOWN"}},
        {"network", {{"mode", "veth"}, {"address", "10.0.0.2/24"}, {"gateway", "10.0.0.1"}}},
        {"resources",
         {{"memory", 128 << 20},
          {"pids_limit", 64},
          {"cpu_quota", 150000},
          {"cpu_period", 100000}}},
        {"seccomp", "unconfined"},
        {"no_new_privileges", true}};
    EXPECT_EQ(create_body(o), expected) << create_body(o).dump(2);
    unsetenv("TRUMANCTL_TEST_VAR");
}

TEST(TrumanctlCreateBody, SeccompProfileFileIsSentAsAnObject) {
    test::TempDir dir("trumanctl-test");
    std::string path = dir.path() + "/profile.json";
    std::ofstream(path) << R"({"defaultAction": "SCMP_ACT_ALLOW"})";
    CreateOptions o;
    o.args = {"busybox"};
    o.security_opts = {"seccomp=" + path};
    EXPECT_EQ(create_body(o)["seccomp"], (json{{"defaultAction", "SCMP_ACT_ALLOW"}}));
    o.security_opts = {"seccomp=" + dir.path() + "/missing.json"};
    EXPECT_THROW(create_body(o), std::invalid_argument);
}

TEST(TrumanctlCreateBody, SeccompLearnAsksForLearningMode) {
    CreateOptions o;
    o.args = {"busybox"};
    o.security_opts = {"seccomp=learn"};
    EXPECT_EQ(create_body(o)["seccomp"], (json{{"learn", true}}));
}

TEST(TrumanctlCreateBody, BadFlagsAreUsageErrorsNamingTheFlag) {
    auto message = [](CreateOptions o) {
        if (o.args.empty() && o.rootfs.empty()) o.args = {"busybox"};
        try {
            create_body(o);
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("(no error)");
    };
    EXPECT_EQ(message(CreateOptions{}), "(no error)");
    CreateOptions o;
    o.memory = "lots";
    EXPECT_NE(message(o).find("\"lots\""), std::string::npos);
    o = {};
    o.cpus = "1";
    o.cpu_quota = 5000;
    EXPECT_NE(message(o).find("--cpu-quota"), std::string::npos);
    o = {};
    o.ip = "10.0.0.2/24";
    EXPECT_NE(message(o).find("--network veth"), std::string::npos);
    o = {};
    o.security_opts = {"apparmor=x"};
    EXPECT_NE(message(o).find("apparmor=x"), std::string::npos);
    o = {};
    o.network = "bridge";  // a value, not syntax: trumand judges it and names --network
    EXPECT_EQ(message(o), "(no error)");
    CreateOptions no_image;
    EXPECT_THROW(create_body(no_image), std::invalid_argument);
}

TEST(TrumanctlPs, TableHasOneAlignedRowPerContainer) {
    std::time_t now = *parse_rfc3339("2026-01-01T01:00:00Z");
    json list = json::array(
        {{{"id", std::string(64, 'a')},
          {"name", "web"},
          {"image", "busybox"},
          {"rootfs", "/var/lib/truman/x"},
          {"cmd", {"sh", "-c", "while true; do sleep 1; done"}},
          {"created_at", "2026-01-01T00:57:00Z"},
          {"state", {{"status", "running"}, {"started_at", "2026-01-01T00:59:55Z"}}},
          {"ports",
           {{{"host_ip", "0.0.0.0"},
             {"host_port", 8080},
             {"host_port_end", 8080},
             {"container_port", 80},
             {"container_port_end", 80},
             {"proto", "tcp"}}}}},
         {{"id", std::string(64, 'b')},
          {"name", "job"},
          {"image", ""},
          {"rootfs", "/srv/root"},
          {"cmd", {"true"}},
          {"created_at", "2026-01-01T00:00:00Z"},
          {"state",
           {{"status", "exited"}, {"exit_code", 3}, {"finished_at", "2026-01-01T00:58:00Z"}}}}});
    EXPECT_EQ(ps_table(list, now),
              "CONTAINER ID   NAME   IMAGE       COMMAND                  STATUS                   "
              "  CREATED             PORTS\n"
              "aaaaaaaaaaaa   web    busybox     \"sh -c while true; d…\"   Up 5 seconds           "
              "    3 minutes ago       0.0.0.0:8080->80/tcp\n"
              "bbbbbbbbbbbb   job    /srv/root   \"true\"                   Exited (3) 2 minutes "
              "ago   About an hour ago\n");
    EXPECT_EQ(ps_table(json::array(), now),
              "CONTAINER ID   NAME   IMAGE   COMMAND   STATUS   CREATED   PORTS\n");
}

TEST(TrumanctlApiError, TheDaemonsMessageAsSent) {
    ApiError e =
        api_error(404, R"({"error":{"code":"not_found","message":"no such container: nope"}})");
    EXPECT_STREQ(e.what(), "no such container: nope");
    EXPECT_EQ(e.status(), 404u);
    EXPECT_EQ(e.code(), "not_found");
    EXPECT_STREQ(api_error(502, "bad gateway\n").what(), "HTTP 502: bad gateway");
    EXPECT_STREQ(api_error(500, "").what(), "HTTP 500");
}

TEST(TrumanctlApiClient, ConnectionErrorNamesTheSocketAndTheReason) {
    test::TempDir dir("trumanctl-test");
    ApiClient api(dir.path() + "/nothing.sock");
    try {
        api.call("GET", "/v1/_ping");
        FAIL() << "connected to nothing";
    } catch (const ConnectionError& e) {
        EXPECT_EQ(std::string(e.what()),
                  "cannot connect to trumand at " + dir.path() +
                      "/nothing.sock: No such file or directory — is trumand running?");
    }
}

TEST(TrumanctlApiClient, UrlEncodingKeepsNamesAndEscapesTheRest) {
    EXPECT_EQ(url_encode("web-1_a.b~"), "web-1_a.b~");
    EXPECT_EQ(url_encode("a/b?c=d&e f"), "a%2Fb%3Fc%3Dd%26e%20f");
}

TEST(PullProgress, OneLinePerLayerEventAndTheImageAtTheEnd) {
    const std::string layer = "sha256:" + std::string(64, 'a');
    EXPECT_EQ(pull_progress_line(
                  {{"layer", layer}, {"status", "downloading"}, {"done", 10}, {"total", 20}}),
              "aaaaaaaaaaaa: downloading 10/20 bytes");
    EXPECT_EQ(pull_progress_line({{"layer", layer}, {"status", "unpacked"}}),
              "aaaaaaaaaaaa: unpacked");
    EXPECT_EQ(pull_progress_line({{"status", "pulled"}, {"image", {{"id", "sha256:b"}}}}),
              "pulled sha256:b");
    EXPECT_EQ(pull_progress_line(nlohmann::json::array()), "");
    EXPECT_EQ(pull_progress_line({{"status", "odd"}}), "");
}

TEST(PullProgress, OnATerminalEachLayerHasALineRedrawnInPlace) {
    const std::string a = "sha256:" + std::string(64, 'a'), b = "sha256:" + std::string(64, 'b');
    PullProgressBoard board(80);
    EXPECT_EQ(board.update({{"layer", a}, {"status", "waiting"}, {"done", 0}, {"total", 100}}),
              "aaaaaaaaaaaa: Waiting\n");
    EXPECT_EQ(board.update({{"layer", b}, {"status", "waiting"}, {"done", 0}, {"total", 3000000}}),
              "bbbbbbbbbbbb: Waiting\n");
    // a is two rows up from the cursor: up, clear, redraw, back down.
    std::string drawn =
        board.update({{"layer", a}, {"status", "downloading"}, {"done", 50}, {"total", 100}});
    EXPECT_EQ(drawn, "\x1b[2A\r\x1b[2K" + board.line(0) + "\r\x1b[2B");
    EXPECT_EQ(board.line(0), "aaaaaaaaaaaa: Downloading [===============>              ] 50B/100B");
    board.update({{"layer", b}, {"status", "downloading"}, {"done", 1500000}, {"total", 3000000}});
    EXPECT_NE(board.line(1).find("] 1.5MB/3MB"), std::string::npos) << board.line(1);
    EXPECT_EQ(board.update({{"layer", b}, {"status", "unpacked"}, {"done", 3000000}}),
              "\x1b[1A\r\x1b[2Kbbbbbbbbbbbb: Pull complete\r\x1b[1B");
    board.update({{"layer", a}, {"status", "verified"}});
    EXPECT_EQ(board.line(0), "aaaaaaaaaaaa: Verified");
    board.update({{"layer", a}, {"status", "exists"}});
    EXPECT_EQ(board.line(0), "aaaaaaaaaaaa: Already exists");
    EXPECT_EQ(board.layers(), 2u);
    EXPECT_EQ(board.update({{"status", "pulled"}, {"image", {{"id", "sha256:c"}}}}),
              "pulled sha256:c\n");
    EXPECT_EQ(board.update(nlohmann::json::array()), "");
    EXPECT_EQ(board.update({{"status", "odd"}}), "");
    // Never as wide as the terminal: a wrapped line would move every row below it.
    PullProgressBoard narrow(40);
    narrow.update({{"layer", a}, {"status", "downloading"}, {"done", 1}, {"total", 2}});
    EXPECT_EQ(narrow.line(0).size(), 39u);
    EXPECT_EQ(human_bytes(999), "999B");
    EXPECT_EQ(human_bytes(1050000), "1.05MB");
}

TEST(TrumanctlCreateBody, NamesFlagsBecomeAliasesDnsAndExtraHosts) {
    CreateOptions o;
    o.args = {"busybox"};
    o.network = "front";
    o.network_aliases = {"www"};
    o.dns = {"192.0.2.53"};
    o.add_hosts = {"db:192.0.2.7"};
    json body = create_body(o);
    EXPECT_EQ(body["networks"], (json::array({{{"name", "front"}, {"aliases", {"www"}}}})));
    EXPECT_EQ(body["dns"], (json{"192.0.2.53"}));
    EXPECT_EQ(body["extra_hosts"], (json{"db:192.0.2.7"}));
    o.network = "";
    EXPECT_THROW(create_body(o), std::invalid_argument);  // an alias needs a named network
}

TEST(TrumanctlCreateBody, Ip6AsksANamedNetworkForItsIpv6Address) {
    CreateOptions o;
    o.args = {"busybox"};
    o.network = "dual";
    o.ip = "10.89.0.9";
    o.ip6 = "fd00::9";
    EXPECT_EQ(create_body(o)["networks"],
              (json::array({{{"name", "dual"}, {"ip", "10.89.0.9"}, {"ip6", "fd00::9"}}})));
    EXPECT_EQ(flag_for_field(o, "networks[0].ip6"), "--ip6");
    EXPECT_EQ(flag_for_field(o, "networks[0].ip"), "--ip");
    o.ip = "";
    for (const char* mode : {"", "none", "host", "veth"}) {
        o.network = mode;
        EXPECT_THROW(create_body(o), std::invalid_argument) << mode;
    }
}

}  // namespace
}  // namespace truman::client

TEST(TrumanctlDetachKeys, DockersNotationAsBytes) {
    EXPECT_EQ(truman::client::detach_key_bytes("ctrl-p,ctrl-q"), "\x10\x11");
    EXPECT_EQ(truman::client::detach_key_bytes("a,ctrl-@,ctrl-_"), std::string("a\0\x1f", 3));
    EXPECT_THROW(truman::client::detach_key_bytes("ctrl-1"), std::invalid_argument);
    EXPECT_THROW(truman::client::detach_key_bytes("alt-x"), std::invalid_argument);
}

TEST(TrumanctlCreateBody, InteractiveOpensStdinOnce) {
    truman::client::CreateOptions o;
    o.args = {"busybox", "cat"};
    o.interactive = true;
    auto body = truman::client::create_body(o);
    EXPECT_EQ(body["open_stdin"], true);
    EXPECT_EQ(body["stdin_once"], true);
    o.interactive = false;
    EXPECT_FALSE(truman::client::create_body(o).contains("open_stdin"));
}
