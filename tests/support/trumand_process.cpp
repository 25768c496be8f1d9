#include "trumand_process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "host_cgroups.hpp"
#include "test_support.hpp"

namespace truman::test {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kTrumand = std::string(TRUMAN_BINARY_DIR) + "/bin/trumand";

std::string make_temp_dir() {
    std::string templ = "/tmp/truman-reliab-XXXXXX";
    if (!mkdtemp(templ.data())) throw std::runtime_error("mkdtemp");
    // Passable (not listable) for the networks' DNS servers, which read their names as an
    // unprivileged account from the run directory below (dns_server.hpp).
    chmod(templ.c_str(), 0711);
    return templ;
}

// waitpid with a bound, so that a daemon that does not exit fails instead of hanging a test.
bool reap(pid_t pid, int timeout_ms) {
    for (int waited = 0; waited <= timeout_ms; waited += 5) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD)) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<std::string> dir_entries(const std::string& path) {
    std::vector<std::string> out;
    std::error_code ec;
    for (auto& e : fs::directory_iterator(path, ec)) out.push_back(e.path().filename().string());
    return out;
}

// /proc/<pid>/stat: "pid (comm) S ppid ..."; comm may hold spaces and parentheses.
bool read_stat(const std::string& pid, char* state, pid_t* ppid) {
    std::string stat = slurp("/proc/" + pid + "/stat");
    size_t close = stat.rfind(')');
    if (close == std::string::npos || close + 4 >= stat.size()) return false;
    std::istringstream rest(stat.substr(close + 2));
    return static_cast<bool>(rest >> *state >> *ppid);
}

}  // namespace

TrumandProcess::TrumandProcess(TrumandOptions options)
    : options_(std::move(options)), dir_(make_temp_dir()), socket_(dir_ + "/trumand.sock") {
    start();
}

TrumandProcess::~TrumandProcess() {
    if (alive()) remove_all_containers();
    stop();
    // The networks' DNS servers outlive trumand by design; a test's must not outlive it.
    for (pid_t pid : dns_server_pids(*this)) ::kill(pid, SIGKILL);
    std::error_code ec;
    fs::remove_all(dir_, ec);
}

void TrumandProcess::start() {
    if (alive()) throw std::runtime_error("trumand already running");
    std::vector<std::string> command = {kTrumand,
                                        "--socket",
                                        socket_,
                                        "--state-dir",
                                        state_dir(),
                                        "--run-dir",
                                        run_dir(),
                                        "--log-level",
                                        "info",
                                        "--group",
                                        "truman-test-nonexistent"};
    for (auto& a : options_.extra_args) command.push_back(a);
    bool names_network = std::find(options_.extra_args.begin(), options_.extra_args.end(),
                                   "--default-network") != options_.extra_args.end();
    if (!names_network && !options_.own_default_network) {
        command.push_back("--default-network");
        command.push_back("none");
    }
    std::vector<char*> argv;
    argv.reserve(command.size() + 1);
    for (auto& a : command) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::string log_path = dir_ + "/trumand.log";
    rlim_t nofile = options_.nofile;
    int netns = -1;
    if (!options_.netns.empty()) {
        netns = open(options_.netns.c_str(), O_RDONLY | O_CLOEXEC);
        if (netns < 0) throw std::runtime_error("open " + options_.netns);
    }
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
        if (netns >= 0 && setns(netns, CLONE_NEWNET) != 0) _exit(126);
        if (nofile) {
            rlimit limit{nofile, nofile};
            setrlimit(RLIMIT_NOFILE, &limit);
        }
        int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (log >= 0) dup2(log, 2);
        execv(argv[0], argv.data());
        _exit(127);
    }
    if (netns >= 0) close(netns);
    for (int i = 0; i < 2000; ++i) {
        int status;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            break;
        }
        try {
            HttpClient c(socket_);
            if (c.request("GET", "/v1/_ping").status == 200) return;
        } catch (const std::exception&) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    throw std::runtime_error("trumand did not come up; log:\n" + log());
}

void TrumandProcess::kill_hard() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    reap(pid_, 20000);
    pid_ = -1;
}

void TrumandProcess::stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    if (!reap(pid_, 20000)) kill_hard();
    pid_ = -1;
}

bool TrumandProcess::alive() const {
    return pid_ > 0 && ::kill(pid_, 0) == 0;
}

std::vector<std::string> TrumandProcess::remove_all_containers() {
    std::vector<std::string> failed;
    try {
        HttpClient c(socket_);
        auto list = json::parse(c.request("GET", "/v1/containers").body);
        for (auto& info : list) {
            std::string id = info["id"];
            auto r = c.request("DELETE", "/v1/containers/" + id + "?force=true");
            if (r.status != 204) failed.push_back(id + ": " + r.body);
        }
    } catch (const std::exception& e) {
        failed.push_back(std::string("list/delete: ") + e.what());
    }
    return failed;
}

std::string TrumandProcess::log() const {
    return slurp(dir_ + "/trumand.log");
}

ProcessUsage process_usage(pid_t pid) {
    ProcessUsage usage;
    std::string proc = "/proc/" + std::to_string(pid);
    usage.fds = dir_entries(proc + "/fd").size();
    usage.threads = dir_entries(proc + "/task").size();
    std::istringstream status(slurp(proc + "/status"));
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0) usage.rss_kib = std::stoul(line.substr(6));
    return usage;
}

std::vector<pid_t> zombie_children(pid_t pid) {
    std::vector<pid_t> out;
    for (auto& name : dir_entries("/proc")) {
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        char state;
        pid_t ppid;
        if (read_stat(name, &state, &ppid) && ppid == pid && state == 'Z')
            out.push_back(std::stoi(name));
    }
    return out;
}

size_t pending_cleanup(HttpClient& client) {
    HttpResponse r = client.request("GET", "/v1/info");
    if (r.status != 200) throw std::runtime_error("GET /v1/info: " + r.body);
    return json::parse(r.body).at("pending_cleanup").get<size_t>();
}

size_t pending_cleanup(const TrumandProcess& daemon) {
    HttpClient client(daemon.socket());
    return pending_cleanup(client);
}

bool wait_settled(const TrumandProcess& daemon, int timeout_ms) {
    HttpClient client(daemon.socket());
    return wait_settled(client, timeout_ms);
}

bool wait_settled(HttpClient& client, int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (pending_cleanup(client) != 0) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

std::string container_leaks(const TrumandProcess& daemon, const std::set<std::string>& ids) {
    std::string leaks;
    // delete answers before the container's directory is deleted; until then it is counted.
    if (daemon.alive() && !wait_settled(daemon)) leaks += "pending_cleanup not 0 after 10 s\n";
    // In every hierarchy the host has: /sys/fs/cgroup/truman*/<id> on v2, per controller on v1.
    for (auto& mount : host_cgroup_mounts()) {
        const std::string& root = mount.path;
        for (auto& parent : dir_entries(root)) {
            if (parent.rfind("truman", 0) != 0) continue;
            for (auto& id : ids)
                if (fs::path path = fs::path(root) / parent / id; fs::exists(path))
                    leaks.append("cgroup ").append(path.string()).append("\n");
        }
    }
    std::vector<std::string> mountinfos = {"/proc/self/mountinfo"};
    if (daemon.alive())
        mountinfos.push_back("/proc/" + std::to_string(daemon.pid()) + "/mountinfo");
    for (auto& path : mountinfos) {
        std::istringstream in(slurp(path));
        std::string line;
        while (std::getline(in, line)) {
            bool ours = line.find(daemon.dir()) != std::string::npos;
            for (auto& id : ids) ours = ours || line.find(id.substr(0, 12)) != std::string::npos;
            if (ours) leaks.append("mount (").append(path).append(") ").append(line).append("\n");
        }
    }
    // Monitors run truman-monitor with the container's run dir on their command line. (The
    // networks' DNS servers are not containers': network_leaks checks them.)
    std::vector<pid_t> dns = dns_server_pids(daemon);
    for (auto& name : dir_entries("/proc")) {
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::string cmdline = slurp("/proc/" + name + "/cmdline");
        if (std::to_string(getpid()) == name) continue;
        if (std::find(dns.begin(), dns.end(), std::stoi(name)) != dns.end()) continue;
        if (cmdline.find(daemon.dir()) != std::string::npos && std::stoi(name) != daemon.pid())
            leaks.append("process ").append(name).append(": ").append(cmdline).append("\n");
    }
    for (auto& entry : dir_entries(daemon.state_dir() + "/containers"))
        leaks.append("state ")
            .append(daemon.state_dir())
            .append("/containers/")
            .append(entry)
            .append("\n");
    for (auto& entry : dir_entries(daemon.run_dir()))
        if (entry != "seccomp-cache" && entry != "dns")
            leaks += "run dir " + daemon.run_dir() + "/" + entry + "\n";
    if (daemon.alive())
        for (pid_t z : zombie_children(daemon.pid()))
            leaks += "zombie child of trumand: " + std::to_string(z) + "\n";
    return leaks;
}

std::vector<pid_t> dns_server_pids(const TrumandProcess& daemon, const std::string& network) {
    const std::string conf = "--conf-file=" + daemon.run_dir() + "/dns/" +
                             (network.empty() ? "" : network + "/dnsmasq.conf");
    std::vector<pid_t> out;
    for (auto& name : dir_entries("/proc")) {
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::string cmdline = slurp("/proc/" + name + "/cmdline");
        char state = 0;
        pid_t ppid = 0;
        if (cmdline.find(conf) == std::string::npos) continue;
        if (read_stat(name, &state, &ppid) && state == 'Z') continue;  // exited, unreaped
        out.push_back(std::stoi(name));
    }
    return out;
}

std::string network_leaks(const TrumandProcess& daemon) {
    std::string leaks;
    for (pid_t pid : dns_server_pids(daemon))
        leaks += "dns server process " + std::to_string(pid) + "\n";
    for (auto& entry : dir_entries(daemon.run_dir() + "/dns"))
        leaks += "dns dir " + daemon.run_dir() + "/dns/" + entry + "\n";
    for (auto& entry : dir_entries(daemon.state_dir() + "/networks"))
        leaks += "network record " + entry + "\n";
    return leaks;
}

std::set<std::string> host_links_and_netns() {
    std::set<std::string> out;
    for (auto& l : dir_entries("/sys/class/net")) out.insert("link " + l);
    for (auto& n : dir_entries("/run/netns")) out.insert("netns " + n);
    return out;
}

std::set<std::string> new_links_and_netns(const std::set<std::string>& before, int timeout_ms) {
    std::set<std::string> extra;
    for (int waited = 0;; waited += 100) {
        extra.clear();
        for (auto& now : host_links_and_netns())
            if (!before.count(now)) extra.insert(now);
        if (extra.empty() || waited >= timeout_ms) return extra;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

HttpResponse create_container(HttpClient& client, const std::vector<std::string>& cmd,
                              const std::string& name) {
    json body = {{"rootfs", busybox_rootfs()}, {"cmd", cmd}, {"network", "none"}};
    if (!name.empty()) body["name"] = name;
    return client.request("POST", "/v1/containers", body.dump());
}

std::string run_lifecycle(HttpClient& client, const std::vector<std::string>& cmd,
                          std::string* step) {
    auto expect = [](const HttpResponse& r, int status, const std::string& what) {
        if (r.status != status)
            throw std::runtime_error(what + ": HTTP " + std::to_string(r.status) + " " + r.body);
    };
    if (step) *step = "create";
    auto created = create_container(client, cmd);
    expect(created, 201, "create");
    std::string id = json::parse(created.body)["id"];
    if (step) *step = "start " + id;
    expect(client.request("POST", "/v1/containers/" + id + "/start"), 204, "start " + id);
    if (step) *step = "wait " + id;
    expect(client.request("POST", "/v1/containers/" + id + "/wait"), 200, "wait " + id);
    if (step) *step = "delete " + id;
    expect(client.request("DELETE", "/v1/containers/" + id), 204, "delete " + id);
    return id;
}

long env_long(const char* name, long fallback) {
    const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): nobody sets any
    if (!v || !*v) return fallback;
    return std::stol(v);
}

}  // namespace truman::test
