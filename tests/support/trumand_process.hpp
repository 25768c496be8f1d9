// A real trumand for the reliability tests: started on a temporary socket, state and run
// directory, killed and restarted on the same directories, and a checker that proves a run
// left nothing behind (daemon fds/threads/zombies, mounts, cgroups, monitors, state files).
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <set>
#include <string>
#include <vector>

#include "api_test_client.hpp"

namespace truman::test {

struct TrumandOptions {
    std::vector<std::string> extra_args;
    // RLIMIT_NOFILE (soft and hard) set in the child before exec; 0 keeps the test's.
    rlim_t nofile = 0;
    // A network namespace (a path like /run/netns/NAME, see test_netns.hpp) the child joins
    // before exec: trumand's bridges and routes then live there, never in the host's.
    std::string netns;
    // false: `--default-network none` unless extra_args name one, so that a test's trumand
    // makes no bridge (and changes no sysctl) unless the test asks for one. true: trumand's own
    // default (the `truman` bridge network), for the test of that default.
    bool own_default_network = false;
};

// trumand as a child of the test. The destructor force-deletes every container it still lists
// and stops it, so a failing test leaves nothing running.
class TrumandProcess {
  public:
    explicit TrumandProcess(TrumandOptions options = {});
    ~TrumandProcess();
    TrumandProcess(const TrumandProcess&) = delete;
    TrumandProcess& operator=(const TrumandProcess&) = delete;

    // Starts (again) on the same directories and waits until _ping answers.
    void start();
    void kill_hard();  // SIGKILL and reap: what a crash looks like to the containers
    void stop();       // SIGTERM, SIGKILL after 20 s
    // DELETE ?force=true of every listed container; returns the ids it could not delete.
    std::vector<std::string> remove_all_containers();

    pid_t pid() const { return pid_; }
    bool alive() const;
    const std::string& dir() const { return dir_; }
    const std::string& socket() const { return socket_; }
    std::string state_dir() const { return dir_ + "/state"; }
    std::string run_dir() const { return dir_ + "/run"; }
    std::string log() const;

  private:
    TrumandOptions options_;
    std::string dir_;
    std::string socket_;
    pid_t pid_ = -1;
};

// What trumand holds right now, from /proc/<pid>.
struct ProcessUsage {
    size_t fds = 0;
    size_t threads = 0;
    size_t rss_kib = 0;
};
ProcessUsage process_usage(pid_t pid);

// Children of pid in state Z.
std::vector<pid_t> zombie_children(pid_t pid);

// GET /v1/info's pending_cleanup: removed containers whose directories are still being deleted.
// (The HttpClient forms ask on a connection the caller holds, which opens no descriptor in
// trumand: for tests that count them.)
size_t pending_cleanup(const TrumandProcess& daemon);
size_t pending_cleanup(HttpClient& client);
// Waits up to timeout_ms for pending_cleanup to reach 0 (the settled point); false if not.
bool wait_settled(const TrumandProcess& daemon, int timeout_ms = 10000);
bool wait_settled(HttpClient& client, int timeout_ms = 10000);

// Everything a deleted container could leave behind, once the daemon (when alive) has settled:
// checked for the given ids and the daemon's directory: cgroup dirs <mount>/truman*/<id> in every
// cgroup hierarchy of the host (host_cgroups.hpp), mounts naming the directory or an id (host and
// daemon mountinfo), monitor processes still running from the directory, entries in
// state/containers/, entries in the run dir other than seccomp-cache, zombies of the daemon. ""
// when clean; else one line per leak (and one if the daemon does not settle).
std::string container_leaks(const TrumandProcess& daemon, const std::set<std::string>& ids);

// The DNS servers (dnsmasq, dns_server.hpp) running for daemon's networks, or for one of them.
std::vector<pid_t> dns_server_pids(const TrumandProcess& daemon, const std::string& network = "");
// What removed networks could leave behind: DNS server processes, their files, network
// records. "" when clean; else one line per leak.
std::string network_leaks(const TrumandProcess& daemon);

// Links in /sys/class/net and named netns in /run/netns, to compare before/after.
std::set<std::string> host_links_and_netns();
// Waits up to timeout_ms for ones not in before to go away; returns those still there.
std::set<std::string> new_links_and_netns(const std::set<std::string>& before,
                                          int timeout_ms = 5000);

// POST /v1/containers with a rootfs, cmd and network none; returns the response.
HttpResponse create_container(HttpClient& client, const std::vector<std::string>& cmd,
                              const std::string& name = "");
// create + start + wait + delete of cmd; returns the id. Throws std::runtime_error naming the
// step and the response on any unexpected answer.
std::string run_lifecycle(HttpClient& client, const std::vector<std::string>& cmd,
                          std::string* step = nullptr);

// Environment knob with a default: TRUMAN_SOAK_COUNT=1000.
long env_long(const char* name, long fallback);

}  // namespace truman::test
