#include "truman/daemon/dns_server.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <sstream>

#include "truman/daemon/atomic_file.hpp"
#include "truman/error.hpp"
#include "truman/fd.hpp"

extern char** environ;

namespace fs = std::filesystem;

namespace truman::daemon {

namespace {

std::string read_or_empty(const std::string& path) {
    try {
        return read_whole_file(path);
    } catch (const Error&) {
        return "";
    }
}

// Mode and group set on the descriptor: a file left from before keeps neither from O_CREAT.
void write_plain(const std::string& path, const std::string& content, mode_t mode,
                 gid_t group = 0) {
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) throw system_error("open " + path);
    if (::fchown(fd.get(), 0, group) < 0 || ::fchmod(fd.get(), mode) < 0)
        throw system_error("set owner and mode of " + path);
    size_t done = 0;
    while (done < content.size()) {
        ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw system_error("write " + path);
        done += static_cast<size_t>(n);
    }
}

// The end of dnsmasq's log: its reason for not starting.
std::string log_tail(const std::string& path) {
    std::string log = read_or_empty(path);
    while (!log.empty() && log.back() == '\n') log.pop_back();
    if (log.size() > 300) log = "..." + log.substr(log.size() - 300);
    return log;
}

// A pidfd of the server whose pid file and command line are this network's, else an empty
// Fd. The pidfd first, then the command line: the pid cannot be reused by another process
// between the check and the signal.
Fd open_server(const DnsServerPaths& paths, pid_t* pid_out) {
    std::string text = read_or_empty(paths.pid_file());
    pid_t pid = 0;
    try {
        pid = static_cast<pid_t>(std::stol(text));
    } catch (const std::exception&) {
        return Fd();
    }
    if (pid <= 1) return Fd();
    Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (!pidfd) return Fd();
    std::string cmdline = read_or_empty("/proc/" + std::to_string(pid) + "/cmdline");
    if (cmdline.find(std::string("--conf-file=") + paths.conf() + '\0') == std::string::npos)
        return Fd();  // a stale pid file, the pid now someone else's
    if (pid_out) *pid_out = pid;
    return pidfd;
}

bool wait_exit(int pidfd, int timeout_ms) {
    pollfd p{pidfd, POLLIN, 0};
    for (;;) {
        int n = ::poll(&p, 1, timeout_ms);
        if (n < 0 && errno == EINTR) continue;
        return n > 0;
    }
}

// Owner root, this group and mode: a directory of ours, whatever it had before.
void own_dir(const std::string& path, gid_t group, mode_t mode) {
    if (::chown(path.c_str(), 0, group) < 0 || ::chmod(path.c_str(), mode) < 0)
        throw system_error("set owner and mode of " + path);
}

// The first directory on the way to path (itself included) that account may not pass (the
// owner's bits apply to the owner, the group's to the group, as the kernel decides), ""
// when none. dnsmasq drops its supplementary groups: its user and group alone count.
std::string closed_to(const std::string& path, const DnsAccount& account) {
    fs::path walked = "/";
    auto passable = [&account](const fs::path& dir) {
        struct stat st {};
        if (::stat(dir.c_str(), &st) < 0) return false;
        mode_t bit = st.st_uid == account.uid   ? S_IXUSR
                     : st.st_gid == account.gid ? S_IXGRP
                                                : S_IXOTH;
        return (st.st_mode & bit) != 0;
    };
    if (!passable(walked)) return walked.string();
    for (const auto& part : fs::path(path).relative_path()) {
        walked /= part;
        if (!passable(walked)) return walked.string();
    }
    return "";
}

bool lookup_user(const char* name, passwd* out, std::vector<char>* buffer) {
    passwd* found = nullptr;
    return ::getpwnam_r(name, out, buffer->data(), buffer->size(), &found) == 0 && found;
}

class SpawnAttributes {
  public:
    SpawnAttributes() {
        posix_spawn_file_actions_init(&actions);
        posix_spawnattr_init(&attr);
    }
    ~SpawnAttributes() {
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
    }
    SpawnAttributes(const SpawnAttributes&) = delete;
    SpawnAttributes& operator=(const SpawnAttributes&) = delete;
    posix_spawn_file_actions_t actions{};
    posix_spawnattr_t attr{};
};

}  // namespace

DnsAccount find_dns_account() {
    std::vector<char> user_buffer(16384), group_buffer(16384);
    for (const char* name : {"dnsmasq", "nobody"}) {
        passwd pw{};
        if (!lookup_user(name, &pw, &user_buffer) || pw.pw_uid == 0) continue;
        group gr{};
        group* found = nullptr;
        // A group of the account's own name first (dnsmasq), else its primary group.
        if (::getgrnam_r(name, &gr, group_buffer.data(), group_buffer.size(), &found) != 0 ||
            !found)
            ::getgrgid_r(pw.pw_gid, &gr, group_buffer.data(), group_buffer.size(), &found);
        if (!found || found->gr_gid == 0) continue;
        return {pw.pw_name, found->gr_name, pw.pw_uid, found->gr_gid};
    }
    return {};
}

std::string render_dnsmasq_conf(const DnsServerConfig& c, const DnsServerPaths& paths,
                                const DnsAccount& account) {
    std::string out = "# trumand's DNS server of network " + c.network +
                      " (trumand rewrites this file)\n"
                      // The gateway only: not the host's other addresses, not loopback.
                      "listen-address=" +
                      c.listen_address +
                      "\n"
                      "bind-interfaces\n"
                      "port=53\n"
                      // Neither the host's resolv.conf (polled, and possibly a loopback
                      // stub) nor its /etc/hosts: the servers below, the names in hostsdir.
                      "no-resolv\n"
                      "no-poll\n"
                      "no-hosts\n"
                      "hostsdir=" +
                      paths.hosts_dir() +
                      "\n"
                      // A single-label name not on the network stays here (NXDOMAIN).
                      "domain-needed\n"
                      // A container made a moment after a miss must resolve at once.
                      "no-negcache\n"
                      // Root only until its sockets are bound; the names it reads again
                      // later are open to this group (dns_server.hpp).
                      "user=" +
                      account.user +
                      "\n"
                      "group=" +
                      account.group +
                      "\n"
                      "pid-file=" +
                      paths.pid_file() +
                      "\n"
                      "log-facility=" +
                      paths.log() + "\n";
    // Dual stack: its IPv6 gateway too (a listen-address of each family, bind-interfaces).
    if (!c.listen_address6.empty()) out += "listen-address=" + c.listen_address6 + "\n";
    for (const auto& s : c.upstream) out += "server=" + s + "\n";
    return out;
}

std::string render_dns_hosts(const std::vector<HostsEntry>& entries) {
    std::string out;
    for (const auto& e : entries) {
        if (e.names.empty()) continue;
        out += e.address;
        for (size_t i = 0; i < e.names.size(); ++i) out += (i == 0 ? "\t" : " ") + e.names[i];
        out += "\n";
    }
    return out;
}

std::vector<std::string> upstream_servers(const std::string& resolv_conf_text) {
    // render_resolv_conf keeps the rule of which servers a container can use.
    std::vector<std::string> out;
    std::istringstream in(render_resolv_conf({}, resolv_conf_text));
    for (std::string line; std::getline(in, line);)
        if (line.rfind("nameserver ", 0) == 0) out.push_back(line.substr(11));
    return out;
}

DnsServers::DnsServers(std::string dir, std::string dnsmasq, DnsAccount account)
    : dir_(std::move(dir)), dnsmasq_(std::move(dnsmasq)), account_(std::move(account)) {}

DnsAccount DnsServers::prepare(const std::string& network) const {
    const DnsServerPaths paths = paths_of(network);
    std::error_code ec;
    fs::create_directories(paths.hosts_dir(), ec);
    if (ec) throw make_error(ErrorKind::system, "create " + paths.hosts_dir(), ec.value());
    if (account_.uid == 0) return account_;
    // trumand's run directory (root's, nothing for others) lets the account's group pass;
    // one whose group is another's is left alone (closed_to then decides).
    const std::string run_dir = fs::path(dir_).parent_path().string();
    struct stat st {};
    if (::stat(run_dir.c_str(), &st) == 0 && st.st_uid == 0 &&
        (st.st_gid == 0 || st.st_gid == account_.gid) && (st.st_mode & 067) == 0 &&
        (st.st_gid != account_.gid || (st.st_mode & S_IXGRP) == 0))
        own_dir(run_dir, account_.gid, (st.st_mode & 07700) | S_IXGRP);
    own_dir(dir_, account_.gid, 0710);
    own_dir(paths.dir, account_.gid, 0710);
    own_dir(paths.hosts_dir(), account_.gid, 0750);
    std::string closed = closed_to(paths.hosts_dir(), account_);
    if (closed.empty()) return account_;
    spdlog::warn("network {}: {} keeps the DNS server's account {} out; dnsmasq runs as root",
                 network, closed, account_.user);
    return {};
}

pid_t DnsServers::pid_of(const std::string& network) const {
    pid_t pid = 0;
    Fd fd = open_server(paths_of(network), &pid);
    return fd ? pid : 0;
}

void DnsServers::set_names(const std::string& network, const std::vector<HostsEntry>& names) const {
    const DnsServerPaths paths = paths_of(network);
    if (::access(paths.hosts_dir().c_str(), F_OK) != 0) prepare(network);
    // The temp file outside the watched directory: dnsmasq would read it as a hosts file of
    // its own, and keep its names after the rename took it away.
    const std::string next = paths.dir + "/hosts.next";
    write_plain(next, render_dns_hosts(names), 0640, account_.gid);
    if (::rename(next.c_str(), paths.hosts().c_str()) < 0)
        throw system_error("rename " + next + " to " + paths.hosts());
}

void DnsServers::ensure(const DnsServerConfig& config, const std::vector<HostsEntry>& names) {
    const DnsServerPaths paths = paths_of(config.network);
    DnsAccount account = prepare(config.network);
    set_names(config.network, names);
    std::string conf = render_dnsmasq_conf(config, paths, account);
    if (pid_of(config.network) > 0) {
        // One started by an older trumand as root has another configuration: replaced.
        if (read_or_empty(paths.conf()) == conf) return;
        spdlog::info("network {}: its DNS server's configuration changed; restarting it",
                     config.network);
        stop(config.network);
        account = prepare(config.network);
        set_names(config.network, names);
        conf = render_dnsmasq_conf(config, paths, account);
    }
    write_plain(paths.conf(), conf, 0600);
    start(config, account);
}

void DnsServers::start(const DnsServerConfig& config, const DnsAccount& account) {
    const DnsServerPaths paths = paths_of(config.network);
    ::unlink(paths.pid_file().c_str());
    SpawnAttributes spawn;
    posix_spawn_file_actions_addopen(&spawn.actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&spawn.actions, 1, paths.log().c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&spawn.actions, 1, 2);
    // trumand's descriptors are all O_CLOEXEC (its API socket among them); belt and braces.
    posix_spawn_file_actions_addclosefrom_np(&spawn.actions, 3);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&spawn.attr, &none);
    posix_spawnattr_setsigdefault(&spawn.attr, &all);
    // A session of its own (dnsmasq makes another when it forks into the background): a
    // signal for trumand's process group or terminal never reaches it.
    posix_spawnattr_setflags(&spawn.attr,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    std::vector<std::string> args = {dnsmasq_, "--conf-file=" + paths.conf()};
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, dnsmasq_.c_str(), &spawn.actions, &spawn.attr, argv.data(), environ);
    if (rc != 0) throw system_error("network " + config.network + ": spawn " + dnsmasq_, rc);
    // The first process exits once the background one listens (0) or failed (its message in
    // the log): reaped here, so trumand holds no zombie; the server itself is init's child.
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || pid_of(config.network) <= 0)
        throw make_error(ErrorKind::system,
                         "network " + config.network +
                             ": its DNS server (dnsmasq) did not start: " + log_tail(paths.log()));
    spdlog::info("network {}: DNS server on {} (dnsmasq, pid {}, user {})", config.network,
                 config.listen_address, pid_of(config.network), account.user);
}

void DnsServers::stop(const std::string& network) {
    const DnsServerPaths paths = paths_of(network);
    pid_t pid = 0;
    Fd pidfd = open_server(paths, &pid);
    if (pidfd) {
        if (::syscall(SYS_pidfd_send_signal, pidfd.get(), SIGTERM, nullptr, 0) < 0 &&
            errno != ESRCH)
            throw system_error("network " + network + ": stop its DNS server (pid " +
                               std::to_string(pid) + ")");
        if (!wait_exit(pidfd.get(), 3000)) {
            spdlog::warn("network {}: DNS server {} ignored SIGTERM; killing it", network, pid);
            ::syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0);
            if (!wait_exit(pidfd.get(), 3000))
                throw make_error(ErrorKind::system, "network " + network + ": DNS server pid " +
                                                        std::to_string(pid) + " does not exit");
        }
    }
    std::error_code ec;
    fs::remove_all(paths.dir, ec);
    if (ec) throw make_error(ErrorKind::system, "remove " + paths.dir, ec.value());
}

void DnsServers::stop_all_but(const std::set<std::string>& keep) {
    std::error_code ec;
    std::vector<std::string> stale;
    for (const auto& e : fs::directory_iterator(dir_, ec)) {
        std::string name = e.path().filename().string();
        if (!keep.count(name)) stale.push_back(name);
    }
    for (const auto& name : stale) {
        try {
            stop(name);
            spdlog::info("stopped the DNS server of network {}, which is gone", name);
        } catch (const std::exception& e) {
            spdlog::error("network {} (gone): {}", name, e.what());
        }
    }
}

}  // namespace truman::daemon
