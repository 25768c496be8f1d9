// Soak: many create/start/wait/delete lifecycles of /bin/true through a real trumand over its
// socket, then proof that nothing accumulated: the daemon's descriptors, threads and memory,
// zombies, mounts, cgroups, netns, veths, monitors, state and run directories.
//
// TRUMAN_SOAK_COUNT sets the number of lifecycles (default 200, CI's bound; 1000 for a full run).
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>

#include "test_support.hpp"
#include "trumand_process.hpp"

namespace truman::test {
namespace {

TEST(ReliabilitySoak, ManyLifecyclesLeakNothing) {
    const long count = env_long("TRUMAN_SOAK_COUNT", 200);
    const long warm_up = std::min<long>(20, count / 10 + 1);
    ASSERT_GT(count, warm_up);
    busybox_rootfs();  // made before any snapshot: it is the test's, not a leak
    auto links_before = host_links_and_netns();
    HostSnapshot host_before = snapshot_host();
    std::set<std::string> ids;
    {
        TrumandProcess daemon;
        HttpClient client(daemon.socket());
        std::string step;
        auto lifecycle = [&] {
            try {
                ids.insert(run_lifecycle(client, {"/bin/true"}, &step));
            } catch (const std::exception& e) {
                ADD_FAILURE() << e.what() << "\ntrumand log:\n" << daemon.log();
                throw;
            }
        };
        // A warm-up first: allocator arenas, the seccomp cache and spdlog's buffers settle.
        for (long i = 0; i < warm_up; ++i) lifecycle();
        // Both counts at the settled point: a directory being deleted after its delete's
        // reply holds descriptors of its own until done.
        ASSERT_TRUE(wait_settled(client));
        ProcessUsage start = process_usage(daemon.pid());
        auto t0 = std::chrono::steady_clock::now();
        for (long i = warm_up; i < count; ++i) lifecycle();
        auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        ASSERT_TRUE(wait_settled(client));
        ProcessUsage end = process_usage(daemon.pid());
        std::cout << "soak: " << count - warm_up << " lifecycles in " << seconds
                  << " s; trumand fds " << start.fds << " -> " << end.fds << ", threads "
                  << start.threads << " -> " << end.threads << ", RSS " << start.rss_kib << " -> "
                  << end.rss_kib << " KiB\n";

        // The client's own connection is the only one open both times.
        EXPECT_EQ(end.fds, start.fds) << "trumand's descriptors grew";
        EXPECT_EQ(end.threads, start.threads) << "trumand's threads grew";
        EXPECT_LE(end.rss_kib, start.rss_kib + 2048) << "trumand's RSS grew by more than 2 MiB";
        EXPECT_EQ(container_leaks(daemon, ids), "");
        EXPECT_TRUE(zombie_children(daemon.pid()).empty());
        auto list = client.request("GET", "/v1/containers");
        EXPECT_EQ(list.status, 200);
        EXPECT_EQ(list.body, "[]");
    }
    EXPECT_EQ(ids.size(), static_cast<size_t>(count)) << "ids must be unique";
    EXPECT_TRUE(new_links_and_netns(links_before).empty());
    EXPECT_EQ(leaks_since(host_before), "");
}

}  // namespace
}  // namespace truman::test
