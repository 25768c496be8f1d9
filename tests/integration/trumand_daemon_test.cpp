// trumand as users meet it: a daemon that is SIGKILLed while containers run and exit.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "trumand_process.hpp"

using namespace truman::test;
using json = nlohmann::json;

namespace {
std::string create_from_image(HttpClient& client, const json& extra) {
    json body = {{"image", "busybox"}};
    body.update(extra);
    auto r = client.request("POST", "/v1/containers", body.dump());
    if (r.status != 201) throw std::runtime_error("create: " + std::to_string(r.status) + " " + r.body);
    return json::parse(r.body)["id"];
}

json inspect(HttpClient& client, const std::string& id) {
    auto r = client.request("GET", "/v1/containers/" + id);
    if (r.status != 200) throw std::runtime_error("inspect: " + r.body);
    return json::parse(r.body);
}
}  // namespace

TEST(TrumandDaemon, KilledDaemonFindsRunningAndExitedContainersWithTheirLogs) {
    TrumandProcess daemon;
    HttpClient client(daemon.socket());
    std::string runner = create_from_image(
        client, {{"name", "runner"}, {"cmd", {"sh", "-c", "echo up; exec sleep 1000"}}});
    std::string quitter = create_from_image(
        client, {{"name", "quitter"}, {"cmd", {"sh", "-c", "echo before; sleep 1; echo after; exit 5"}}});
    ASSERT_EQ(client.request("POST", "/v1/containers/runner/start").status, 204);
    ASSERT_EQ(client.request("POST", "/v1/containers/quitter/start").status, 204);
    usleep(300 * 1000);
    int runner_pid = inspect(client, runner)["state"]["pid"];
    ASSERT_GT(runner_pid, 0);

    daemon.kill_hard();
    sleep(2);  // quitter exits while nobody is there to watch
    EXPECT_EQ(kill(runner_pid, 0), 0) << "the running container died with the daemon";
    daemon.start();

    HttpClient again(daemon.socket());
    json r = inspect(again, "runner");
    EXPECT_EQ(r["state"]["status"], "running");
    EXPECT_EQ(r["state"]["pid"], runner_pid);
    json q = inspect(again, "quitter");
    EXPECT_EQ(q["state"]["status"], "exited");
    EXPECT_EQ(q["state"]["exit_code"], 5);
    EXPECT_EQ(HttpClient(daemon.socket()).request("GET", "/v1/containers/quitter/logs").body,
              "before\nafter\n");
    EXPECT_EQ(HttpClient(daemon.socket()).request("GET", "/v1/containers/runner/logs").body, "up\n");
    // Still manageable after the restart.
    EXPECT_EQ(again.request("POST", "/v1/containers/runner/kill?signal=KILL").status, 204);
    auto waited = again.request("POST", "/v1/containers/runner/wait");
    EXPECT_EQ(json::parse(waited.body)["signal"], 9);
    EXPECT_EQ(again.request("DELETE", "/v1/containers/runner").status, 204);
    EXPECT_EQ(again.request("DELETE", "/v1/containers/quitter").status, 204);
    EXPECT_EQ(container_leaks(daemon, {runner, quitter}), "");
}
