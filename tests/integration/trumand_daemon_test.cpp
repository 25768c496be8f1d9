// trumand as users meet it: a daemon that is SIGKILLed while containers run and exit.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "trumand_process.hpp"

using namespace truman::test;
using json = nlohmann::json;

namespace {
std::string create_from_image(HttpClient& client, const json& extra) {
    json body = {{"image", "busybox"}};
    body.update(extra);
    auto r = client.request("POST", "/v1/containers", body.dump());
    if (r.status != 201)
        throw std::runtime_error("create: " + std::to_string(r.status) + " " + r.body);
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
        client,
        {{"name", "quitter"}, {"cmd", {"sh", "-c", "echo before; sleep 1; echo after; exit 5"}}});
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
    EXPECT_EQ(HttpClient(daemon.socket()).request("GET", "/v1/containers/runner/logs").body,
              "up\n");
    // Still manageable after the restart.
    EXPECT_EQ(again.request("POST", "/v1/containers/runner/kill?signal=KILL").status, 204);
    auto waited = again.request("POST", "/v1/containers/runner/wait");
    EXPECT_EQ(json::parse(waited.body)["signal"], 9);
    EXPECT_EQ(again.request("DELETE", "/v1/containers/runner").status, 204);
    EXPECT_EQ(again.request("DELETE", "/v1/containers/quitter").status, 204);
    EXPECT_EQ(container_leaks(daemon, {runner, quitter}), "");
}

// The concurrency acceptance: 50 clients at once each create a container from the
// image, start it, wait for it, read its logs and delete it. Every container must see only its
// own writable layer (the file it creates must not exist yet), every one must exit 0 with its
// own output, and afterwards nothing may be left: no cgroup, mount, layer, state entry,
// monitor, link, netns, zombie, or descriptor in the daemon.
TEST(TrumandDaemon, FiftyConcurrentLifecyclesLeaveNothingBehind) {
    constexpr int clients = 50;
    std::set<std::string> links_before = host_links_and_netns();
    TrumandProcess daemon;
    {
        // Warm-up: the first create compiles the default seccomp profile into the cache.
        HttpClient warm(daemon.socket());
        std::string id = create_from_image(warm, {{"cmd", {"true"}}});
        ASSERT_EQ(warm.request("DELETE", "/v1/containers/" + id).status, 204);
    }
    size_t fds_before = process_usage(daemon.pid()).fds;

    std::mutex mutex;
    std::vector<std::string> errors;
    std::set<std::string> ids;
    std::vector<std::thread> threads;
    for (int i = 0; i < clients; ++i) {
        threads.emplace_back([&, i] {
            std::string step = "connect", id;
            try {
                HttpClient client(daemon.socket());
                step = "create";
                id = create_from_image(client, {{"cmd",
                                                 {"sh", "-c",
                                                  "test ! -e /shared && echo " + std::to_string(i) +
                                                      " > /shared && cat /shared"}}});
                {
                    std::lock_guard lock(mutex);
                    ids.insert(id);
                }
                step = "start";
                auto r = client.request("POST", "/v1/containers/" + id + "/start");
                if (r.status != 204)
                    throw std::runtime_error(std::to_string(r.status) + " " + r.body);
                step = "wait";
                r = client.request("POST", "/v1/containers/" + id + "/wait");
                if (r.status != 200 || json::parse(r.body)["exit_code"] != 0)
                    throw std::runtime_error(std::to_string(r.status) + " " + r.body);
                step = "logs";
                // A log response ends its connection: its own client.
                r = HttpClient(daemon.socket()).request("GET", "/v1/containers/" + id + "/logs");
                if (r.status != 200 || r.body != std::to_string(i) + "\n")
                    throw std::runtime_error(std::to_string(r.status) + " " + r.body);
                step = "delete";
                r = client.request("DELETE", "/v1/containers/" + id);
                if (r.status != 204)
                    throw std::runtime_error(std::to_string(r.status) + " " + r.body);
            } catch (const std::exception& e) {
                std::string detail =
                    "client " + std::to_string(i) + " " + id + " " + step + ": " + e.what();
                if (!id.empty()) {
                    std::string dir = daemon.state_dir() + "/containers/" + id;
                    for (const char* file : {"/monitor.log", "/state.json"}) {
                        std::ifstream in(dir + file);
                        std::stringstream text;
                        text << in.rdbuf();
                        detail += std::string("\n  ") + file + ": " + text.str();
                    }
                }
                std::lock_guard lock(mutex);
                errors.push_back(detail);
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_TRUE(errors.empty()) << errors.size() << " clients failed:\n"
                                <<
        [&] {
            std::string all;
            for (const auto& e : errors) all += e + "\n";
            return all;
        }() << daemon.log();
    EXPECT_EQ(ids.size(), static_cast<size_t>(clients));

    EXPECT_EQ(daemon.remove_all_containers(), std::vector<std::string>{});
    EXPECT_EQ(container_leaks(daemon, ids), "");
    EXPECT_EQ(new_links_and_netns(links_before), std::set<std::string>{});
    EXPECT_EQ(zombie_children(daemon.pid()), std::vector<pid_t>{});
    EXPECT_LE(process_usage(daemon.pid()).fds, fds_before);
}
