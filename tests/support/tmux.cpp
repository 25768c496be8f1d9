#include "tmux.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "test_support.hpp"

namespace truman::test {

namespace {

using namespace std::chrono_literals;

// Runs argv with stdout to out_fd (or /dev/null when -1), stdin and stderr to /dev/null.
pid_t spawn(std::vector<std::string> argv, int out_fd) {
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(out_fd >= 0 ? out_fd : null, 1);
        dup2(null, 2);
        std::vector<char*> v;
        v.reserve(argv.size() + 1);
        for (auto& a : argv) v.push_back(a.data());
        v.push_back(nullptr);
        execvp("tmux", v.data());
        _exit(127);
    }
    if (pid < 0) throw std::runtime_error("fork tmux failed");
    return pid;
}

}  // namespace

Tmux::Tmux() : name_(unique_name("truman-tmux")) {}

Tmux::~Tmux() {
    run({"kill-server"});
    // kill-server returns before the server is gone, and the server (a daemon of its own, its
    // command line the first session's) would show in a leak check that follows: wait for it.
    if (server_pid_ <= 0) return;
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
        std::ifstream cmdline("/proc/" + std::to_string(server_pid_) + "/cmdline");
        if (!cmdline || cmdline.peek() == std::ifstream::traits_type::eof()) return;  // or a zombie
        std::this_thread::sleep_for(10ms);
    }
}

void Tmux::start(const std::string& session, const std::string& command, const std::string& rc_file,
                 int width, int height) {
    std::string wrapped = command + "; echo $? > " + rc_file + ".tmp; mv " + rc_file + ".tmp " +
                          rc_file + "; sleep 3600";
    int rc = run({"-f", "/dev/null", "new-session", "-d", "-s", session, "-x",
                  std::to_string(width), "-y", std::to_string(height), wrapped});
    if (rc != 0) throw std::runtime_error("tmux new-session failed");
    if (server_pid_ <= 0) {
        std::string pid = output({"display-message", "-p", "#{pid}"});
        server_pid_ = std::atoi(pid.c_str());
    }
}

void Tmux::keys(const std::string& session, const std::vector<std::string>& keys) {
    std::vector<std::string> args{"send-keys", "-t", session};
    args.insert(args.end(), keys.begin(), keys.end());
    run(args);
}

void Tmux::type(const std::string& session, const std::string& text) {
    keys(session, {"-l", text});
    keys(session, {"Enter"});
}

void Tmux::resize(const std::string& session, int width, int height) {
    run({"resize-window", "-t", session, "-x", std::to_string(width), "-y",
         std::to_string(height)});
}

std::string Tmux::screen(const std::string& session) {
    return output({"capture-pane", "-p", "-t", session});
}

std::string Tmux::wait_for(const std::string& session, const std::string& text,
                           std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string s;
    while (std::chrono::steady_clock::now() < deadline) {
        s = screen(session);
        if (s.find(text) != std::string::npos) return s;
        std::this_thread::sleep_for(20ms);
    }
    return s;
}

int Tmux::exit_code(const std::string& rc_file, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        try {
            std::string text = read_file(rc_file);
            if (!text.empty()) return std::stoi(text);
        } catch (const std::exception&) {
        }
        std::this_thread::sleep_for(20ms);
    }
    return -1;
}

std::vector<std::string> Tmux::argv(const std::vector<std::string>& args) const {
    std::vector<std::string> all{"tmux", "-L", name_};
    all.insert(all.end(), args.begin(), args.end());
    return all;
}

int Tmux::run(const std::vector<std::string>& args) {
    int status = 0;
    waitpid(spawn(argv(args), -1), &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string Tmux::output(const std::vector<std::string>& args) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) throw std::runtime_error("pipe");
    pid_t pid = spawn(argv(args), fds[1]);
    close(fds[1]);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    close(fds[0]);
    waitpid(pid, nullptr, 0);
    return out;
}

}  // namespace truman::test
