// Faults: trumand SIGKILLed at random moments while a client keeps creating, starting,
// waiting for and deleting containers, then restarted on the same state and run directories.
// After every restart the registry must agree with the kernel (every listed container exists;
// created/running ones have a live monitor, running ones a live process, exited ones an exit
// code), every leftover of a half-made container must be listed (so that DELETE ?force=true
// removes it), and long-running containers started before the rounds must run on untouched.
//
// TRUMAN_FAULT_ROUNDS (default 40) and TRUMAN_FAULT_SEED (default: the clock; always printed).
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "test_support.hpp"
#include "trumand_process.hpp"

namespace truman::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

bool alive(pid_t pid) {
    return pid > 0 && ::kill(pid, 0) == 0;
}

pid_t monitor_pid(const TrumandProcess& daemon, const std::string& id) {
    std::ifstream in(daemon.state_dir() + "/containers/" + id + "/state.json");
    json state = json::parse(in, nullptr, false);
    return state.is_object() ? state.value("monitor_pid", 0) : 0;
}

std::set<std::string> state_entries(const TrumandProcess& daemon) {
    std::set<std::string> out;
    std::error_code ec;
    for (auto& e : fs::directory_iterator(daemon.state_dir() + "/containers", ec))
        out.insert(e.path().filename().string());
    return out;
}

// A container whose init has just exited is still "running" until its monitor has reaped it
// and recorded the exit (a /bin/true container does that within milliseconds of its start,
// and the check can fall in between). What must hold is that the exit is then reported soon.
bool reported_exited_soon(const TrumandProcess& daemon, const std::string& id) {
    HttpClient c(daemon.socket());
    for (int i = 0; i < 200; ++i) {
        auto r = c.request("GET", "/v1/containers/" + id);
        if (r.status == 200 && json::parse(r.body)["state"]["status"] == "exited") return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

// The registry against the kernel and the disk; one line per disagreement.
std::string inconsistencies(const TrumandProcess& daemon, const json& list) {
    std::string problems;
    std::set<std::string> listed;
    for (auto& info : list) {
        std::string id = info["id"];
        listed.insert(id);
        std::string status = info["state"]["status"];
        if (status == "created" || status == "running") {
            if (!alive(monitor_pid(daemon, id)))
                problems += id + " is " + status + " but its monitor is gone\n";
        }
        if (status == "running" && !alive(info["state"]["pid"].get<pid_t>()) &&
            !reported_exited_soon(daemon, id))
            problems += id + " is running but pid " + info["state"]["pid"].dump() +
                        " is gone, and it was not reported exited within 2 s\n";
        if (status == "exited" && info["state"]["exit_code"].is_null())
            problems += id + " exited without an exit code\n";
    }
    for (auto& entry : state_entries(daemon)) {
        if (listed.count(entry)) continue;
        problems += "state dir " + entry + " is not listed; it holds:";
        std::error_code ec;
        for (auto& f : fs::directory_iterator(daemon.state_dir() + "/containers/" + entry, ec))
            problems += " " + f.path().filename().string();
        problems += "\n";
    }
    return problems;
}

TEST(ReliabilityFaults, KilledDaemonRestartsConsistent) {
    const long rounds = env_long("TRUMAN_FAULT_ROUNDS", 40);
    const unsigned seed = static_cast<unsigned>(
        env_long("TRUMAN_FAULT_SEED", std::chrono::system_clock::now().time_since_epoch().count()));
    std::cout << "faults: " << rounds << " rounds, TRUMAN_FAULT_SEED=" << seed << "\n";
    std::mt19937 random(seed);
    busybox_rootfs();
    auto links_before = host_links_and_netns();
    HostSnapshot host_before = snapshot_host();
    std::set<std::string> ids;  // every container this test made, for the leak check
    {
        TrumandProcess daemon;
        auto fail_with_log = [&](const std::string& what) {
            ADD_FAILURE() << what << "\ntrumand log:\n" << daemon.log();
        };

        // Long-running containers that every kill and restart must leave alone.
        std::map<std::string, pid_t> sleepers;
        {
            HttpClient c(daemon.socket());
            for (int i = 0; i < 2; ++i) {
                auto created = create_container(c, {"/bin/sleep", "3600"});
                ASSERT_EQ(created.status, 201) << created.body;
                std::string id = json::parse(created.body)["id"];
                ids.insert(id);
                ASSERT_EQ(c.request("POST", "/v1/containers/" + id + "/start").status, 204);
                auto info = json::parse(c.request("GET", "/v1/containers/" + id).body);
                sleepers[id] = info["state"]["pid"];
                ASSERT_TRUE(alive(sleepers[id]));
            }
        }

        // Each round aims the kill at one step of the client's first lifecycle (create, start,
        // wait, delete), 0-50 ms after the client entered it: a lifecycle takes longer than 50 ms,
        // so a kill timed from the round's start alone would nearly always hit create.
        std::uniform_int_distribution<int> delay_ms(0, 50), target_step(0, 3);
        const char* step_names[] = {"create", "start", "wait", "delete"};
        long completed = 0, interrupted = 0;
        std::string last_error;
        for (long round = 0; round < rounds; ++round) {
            std::atomic<bool> stop{false};
            std::atomic<int> step{-1};
            std::mutex ids_mutex;
            std::thread client([&] {
                while (!stop) {
                    std::string id;
                    try {
                        HttpClient c(daemon.socket());
                        auto expect = [&](const HttpResponse& r, int status, const char* what) {
                            if (r.status != status)
                                throw std::runtime_error(std::string(what) + ": " +
                                                         std::to_string(r.status) + " " + r.body);
                        };
                        step = std::max(step.load(), 0);
                        auto created = create_container(c, {"/bin/true"});
                        expect(created, 201, "create");
                        id = json::parse(created.body)["id"];
                        step = std::max(step.load(), 1);
                        expect(c.request("POST", "/v1/containers/" + id + "/start"), 204, "start");
                        step = std::max(step.load(), 2);
                        expect(c.request("POST", "/v1/containers/" + id + "/wait"), 200, "wait");
                        step = std::max(step.load(), 3);
                        expect(c.request("DELETE", "/v1/containers/" + id), 204, "delete");
                        std::lock_guard lock(ids_mutex);
                        ids.insert(id);
                        ++completed;
                    } catch (const std::exception& e) {
                        // The daemon died under us (expected) or answered an error: the
                        // registry check after the restart is what judges it.
                        std::lock_guard lock(ids_mutex);
                        if (!id.empty()) ids.insert(id);
                        ++interrupted;
                        last_error = e.what();
                        std::this_thread::sleep_for(std::chrono::milliseconds(1));
                    }
                }
            });
            const int aim = target_step(random);
            const int delay = delay_ms(random);
            for (int i = 0; i < 5000 && step < aim; ++i)
                std::this_thread::sleep_for(std::chrono::microseconds(200));
            std::this_thread::sleep_for(std::chrono::milliseconds(delay));
            daemon.kill_hard();
            stop = true;
            client.join();
            daemon.start();

            HttpClient c(daemon.socket());
            auto listed = c.request("GET", "/v1/containers");
            ASSERT_EQ(listed.status, 200) << listed.body;
            json list = json::parse(listed.body);
            std::string problems = inconsistencies(daemon, list);
            if (!problems.empty()) {
                fail_with_log("round " + std::to_string(round) + " (seed " + std::to_string(seed) +
                              ", kill " + std::to_string(delay) + " ms into " + step_names[aim] +
                              "):\n" + problems);
                break;
            }
            // Whatever the kill left half-done, forced delete removes it.
            for (auto& info : list) {
                std::string id = info["id"];
                ids.insert(id);
                if (sleepers.count(id)) continue;
                auto removed = c.request("DELETE", "/v1/containers/" + id + "?force=true");
                if (removed.status != 204)
                    fail_with_log("round " + std::to_string(round) + ": delete " + id + ": " +
                                  std::to_string(removed.status) + " " + removed.body);
            }
        }
        std::cout << "faults: " << completed << " lifecycles completed, " << interrupted
                  << " interrupted by a kill (last: " << last_error << ")\n";

        HttpClient c(daemon.socket());
        for (auto& [id, pid] : sleepers) {
            auto info = json::parse(c.request("GET", "/v1/containers/" + id).body);
            EXPECT_EQ(info["state"]["status"], "running") << id;
            EXPECT_EQ(info["state"]["pid"], pid) << id << " was restarted or replaced";
            EXPECT_TRUE(alive(pid)) << id;
        }
        EXPECT_TRUE(daemon.remove_all_containers().empty());
        auto list = c.request("GET", "/v1/containers");
        EXPECT_EQ(list.body, "[]");
        for (auto& [id, pid] : sleepers) {
            // The container's init is gone once its monitor reaped it.
            for (int i = 0; i < 500 && alive(pid); ++i)
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            EXPECT_FALSE(alive(pid)) << "sleeper " << id << " survived its delete";
        }
        EXPECT_EQ(container_leaks(daemon, ids), "");
    }
    EXPECT_TRUE(new_links_and_netns(links_before).empty());
    EXPECT_EQ(leaks_since(host_before), "");
}

}  // namespace
}  // namespace truman::test
