// spawn_loop: run a command N times, K at once, and time each run from posix_spawn() to its
// reaping: how `runc run` and `crun run` are measured beside truman, without a shell's fork in
// the loop. "{}" in any argument becomes the run's number (a unique container id).
//
//   spawn_loop [-n N] [-w WARMUP] [-c K] [--samples FILE] [--label TEXT] -- CMD ARG...
//
// Prints the median, p99 and runs/s; --samples appends one latency (ms) per line. Exits 1 if
// any run fails (its stderr is passed through), so a broken bundle is never timed as fast.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

extern char** environ;

using Clock = std::chrono::steady_clock;

namespace {

double ms(Clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5)];
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
        s.replace(at, from.size(), to);
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    int n = 100, warmup = 3, k = 1;
    std::string samples_file, label;
    std::vector<std::string> command;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--") {
            for (++i; i < argc; ++i) command.push_back(argv[i]);
        } else if (i + 1 < argc && a == "-n")
            n = std::atoi(argv[++i]);
        else if (i + 1 < argc && a == "-w")
            warmup = std::atoi(argv[++i]);
        else if (i + 1 < argc && a == "-c")
            k = std::max(1, std::atoi(argv[++i]));
        else if (i + 1 < argc && a == "--samples")
            samples_file = argv[++i];
        else if (i + 1 < argc && a == "--label")
            label = argv[++i];
        else
            command.clear(), i = argc;
    }
    if (command.empty()) {
        std::fprintf(stderr,
                     "usage: %s [-n N] [-w WARMUP] [-c K] [--samples FILE] [--label TEXT] -- CMD "
                     "ARG...\n",
                     argv[0]);
        return 2;
    }
    // Unique across batches of one driver run: pid plus a counter.
    std::string prefix = std::to_string(getpid()) + "-";
    int counter = 0;
    auto spawn = [&]() -> pid_t {
        std::vector<std::string> args;
        std::string id = prefix + std::to_string(counter++);
        for (const auto& a : command) args.push_back(replace_all(a, "{}", id));
        std::vector<char*> argv_;
        for (auto& a : args) argv_.push_back(a.data());
        argv_.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
        pid_t pid = 0;
        int rc = posix_spawnp(&pid, argv_[0], &actions, nullptr, argv_.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        if (rc != 0) {
            std::fprintf(stderr, "spawn %s: %s\n", argv_[0], strerror(rc));
            std::exit(1);
        }
        return pid;
    };
    auto reap = [](pid_t* pid) -> bool {
        int status = 0;
        pid_t got;
        while ((got = waitpid(-1, &status, 0)) < 0 && errno == EINTR) {
        }
        if (got < 0) return false;
        *pid = got;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            std::fprintf(stderr, "run (pid %d) failed: status 0x%x\n", got, status);
            return false;
        }
        return true;
    };

    for (int i = 0; i < warmup; ++i) {
        spawn();
        pid_t pid = 0;
        if (!reap(&pid)) return 1;
    }

    std::vector<double> latency;
    std::map<pid_t, Clock::time_point> in_flight;
    int started = 0;
    bool ok = true;
    auto t0 = Clock::now();
    while (latency.size() < static_cast<size_t>(n)) {
        while (ok && started < n && in_flight.size() < static_cast<size_t>(k)) {
            auto at = Clock::now();
            in_flight[spawn()] = at;
            ++started;
        }
        pid_t pid = 0;
        bool good = reap(&pid);
        auto it = in_flight.find(pid);
        if (it == in_flight.end()) return 1;
        latency.push_back(ms(Clock::now() - it->second));
        in_flight.erase(it);
        if (!good) ok = false;
        if (!ok && in_flight.empty()) return 1;
    }
    double wall = ms(Clock::now() - t0);
    if (!samples_file.empty()) {
        std::ofstream out(samples_file, std::ios::app);
        for (double l : latency) out << l << '\n';
    }
    std::printf("%s%s%s K=%d n=%d: median %.2f ms, p99 %.2f ms, %.1f runs/s\n", label.c_str(),
                label.empty() ? "" : ": ", command[0].c_str(), k, n, percentile(latency, .5),
                percentile(latency, .99), n / (wall / 1000));
    return 0;
}
