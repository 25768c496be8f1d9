// The systemd units and the install layout: systemd-analyze verify on the real unit files,
// socket activation driven by trumanctl, and `cmake --install` into a temporary prefix.
// (trumand's own READY=1/STOPPING=1 and LISTEN_FDS tests are in trumand_test.cpp.)
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "test_support.hpp"

namespace truman::test {
namespace {

namespace fs = std::filesystem;

const std::string kBuild = TRUMAN_BINARY_DIR;

// "Key=value" lines of a unit file (the last one wins, as systemd reads single-valued keys).
std::map<std::string, std::string> unit_keys(const std::string& path) {
    std::map<std::string, std::string> keys;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#' || line[0] == '[') continue;
        size_t eq = line.find('=');
        if (eq != std::string::npos) keys[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return keys;
}

std::string cache_value(const std::string& name) {
    std::ifstream in(kBuild + "/CMakeCache.txt");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(name + ":", 0) == 0) return line.substr(line.find('=') + 1);
    return "";
}

// systemd-analyze verify in the units' directory; rc and everything it said.
int verify(const std::string& dir, const std::string& units, std::string* output) {
    return run_host("cd '" + dir + "' && systemd-analyze verify " + units + " 2>&1", output);
}

TEST(Systemd, UnitsVerifyWithoutAnyWarning) {
    // build/systemd holds the units configured with the build tree's trumand, so ExecStart
    // names a binary that exists; verify checks that too.
    std::string output;
    int rc = verify(kBuild + "/systemd", "./trumand.socket ./trumand.service", &output);
    EXPECT_EQ(rc, 0) << output;
    // verify only warns (rc 0) about lines it cannot parse: any output is a defect.
    EXPECT_EQ(output, "");
}

TEST(Systemd, VerifyCatchesABrokenUnit) {
    // The control for the test above: the same unit with an ExecStart that does not exist.
    TempDir dir("truman-units");
    std::string text = read_file(kBuild + "/systemd/trumand.service");
    size_t at = text.find("ExecStart=");
    ASSERT_NE(at, std::string::npos);
    text.replace(at, text.find('\n', at) - at, "ExecStart=/nonexistent/trumand");
    std::ofstream(dir.path() + "/trumand.service") << text;
    fs::copy_file(kBuild + "/systemd/trumand.socket", dir.path() + "/trumand.socket");
    std::string output;
    EXPECT_NE(verify(dir.path(), "./trumand.service", &output), 0) << output;
    EXPECT_NE(output.find("/nonexistent/trumand"), std::string::npos) << output;
}

TEST(Systemd, ServiceKeepsContainersAndTheSocketIsForTheTrumanGroup) {
    auto service = unit_keys(kBuild + "/cmd/trumand/systemd/trumand.service");
    EXPECT_EQ(service["Type"], "notify");
    EXPECT_EQ(service["KillMode"], "process") << "containers' monitors must survive a restart";
    EXPECT_EQ(service["Delegate"], "yes");
    EXPECT_EQ(service["Restart"], "on-failure");
    EXPECT_EQ(service["Requires"], "trumand.socket");
    EXPECT_NE(service["After"].find("trumand.socket"), std::string::npos);
    EXPECT_EQ(service["TasksMax"], "infinity");
    // Inherited by every container: must not be set (see the comment in the unit).
    EXPECT_EQ(service.count("NoNewPrivileges"), 0u);
    EXPECT_EQ(service.count("ProtectSystem"), 0u);
    EXPECT_EQ(service.count("PrivateTmp"), 0u);
    // The installed unit names the installed trumand.
    EXPECT_EQ(service["ExecStart"], cache_value("CMAKE_INSTALL_PREFIX") + "/" +
                                        cache_value("CMAKE_INSTALL_BINDIR") + "/trumand");

    auto socket = unit_keys(kBuild + "/cmd/trumand/systemd/trumand.socket");
    EXPECT_EQ(socket["ListenStream"], "/run/truman.sock");
    EXPECT_EQ(socket["SocketMode"], "0660");
    EXPECT_EQ(socket["SocketGroup"], "truman");
}

TEST(Systemd, SocketActivationStartsTrumandOnTrumanctlsFirstRequest) {
    TempDir dir("tact");  // short: the API socket path must fit sun_path
    std::string sock = dir.path() + "/truman.sock";
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        int log = open((dir.path() + "/trumand.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(log, 2);
        std::string trumand = kBuild + "/bin/trumand", state = dir.path() + "/state",
                    run = dir.path() + "/run";
        execl("/usr/bin/systemd-socket-activate", "systemd-socket-activate", "-l", sock.c_str(),
              trumand.c_str(), "--state-dir", state.c_str(), "--run-dir", run.c_str(), "--socket",
              (dir.path() + "/unused.sock").c_str(), "--default-network", "none",
              static_cast<char*>(nullptr));
        _exit(127);
    }
    struct Stopper {
        pid_t pid;
        std::string sock;
        ~Stopper() {
            // Remove what the test made, then SIGTERM trumand (exec'd in place of the activator).
            run_host("'" + std::string(TRUMAN_BINARY_DIR) + "/bin/trumanctl' --socket '" + sock +
                     "' ps -a -q | xargs -r '" + TRUMAN_BINARY_DIR + "/bin/trumanctl' --socket '" +
                     sock + "' rm -f >/dev/null 2>&1");
            ::kill(pid, SIGTERM);
            for (int i = 0; i < 2000 && waitpid(pid, nullptr, WNOHANG) != pid; ++i)
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            ::kill(pid, SIGKILL);
            waitpid(pid, nullptr, WNOHANG);
        }
    } stopper{pid, sock};
    for (int i = 0; i < 1000 && !fs::exists(sock); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_TRUE(fs::exists(sock)) << "systemd-socket-activate did not listen";
    // Nothing but the activator is listening: this request is what starts trumand.
    std::string output;
    int rc = run_host(
        "'" + kBuild + "/bin/trumanctl' --socket '" + sock + "' run --rm busybox echo activated",
        &output);
    EXPECT_EQ(rc, 0) << output << "\ntrumand log:\n" << read_file(dir.path() + "/trumand.log");
    EXPECT_EQ(output, "activated\n");
    EXPECT_FALSE(fs::exists(dir.path() + "/unused.sock")) << "trumand bound its own socket";
}

TEST(Systemd, InstallPutsEverythingInTheUsualPlaces) {
    TempDir prefix("truman-install");
    std::string output;
    ASSERT_EQ(
        run_host("cmake --install '" + kBuild + "' --prefix '" + prefix.path() + "' 2>&1", &output),
        0)
        << output;
    std::string libexec = cache_value("CMAKE_INSTALL_LIBEXECDIR");
    for (const std::string& file : std::vector<std::string>{"bin/trumand", "bin/trumanctl",
                                                            libexec + "/truman/truman-monitor"}) {
        struct stat st {};
        ASSERT_EQ(stat((prefix.path() + "/" + file).c_str(), &st), 0) << file;
        EXPECT_TRUE(st.st_mode & S_IXUSR) << file;
    }
    for (const char* file :
         {"lib/systemd/system/trumand.service", "lib/systemd/system/trumand.socket",
          "lib/sysusers.d/truman.conf", "share/bash-completion/completions/trumanctl",
          "share/truman/openapi.yaml"})
        EXPECT_TRUE(fs::is_regular_file(prefix.path() + "/" + std::string(file))) << file;
    // The installed trumand (not the build tree's) finds the installed truman-monitor and
    // runs a container: next to itself there is none, so this is the libexec lookup.
    TempDir state("tinst");  // short: the API socket path must fit sun_path
    std::string sock = state.path() + "/s.sock";
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        int log = open((state.path() + "/trumand.log").c_str(), O_WRONLY | O_CREAT, 0644);
        dup2(log, 2);
        std::string trumand = prefix.path() + "/bin/trumand", st = state.path() + "/state",
                    run = state.path() + "/run";
        execl(trumand.c_str(), trumand.c_str(), "--socket", sock.c_str(), "--state-dir", st.c_str(),
              "--run-dir", run.c_str(), "--group", "truman-test-nonexistent", "--default-network",
              "none", static_cast<char*>(nullptr));
        _exit(127);
    }
    struct Stopper {
        pid_t pid;
        ~Stopper() {
            ::kill(pid, SIGTERM);
            for (int i = 0; i < 2000 && waitpid(pid, nullptr, WNOHANG) != pid; ++i)
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            ::kill(pid, SIGKILL);
            waitpid(pid, nullptr, WNOHANG);
        }
    } stopper{pid};
    std::string ctl = "'" + prefix.path() + "/bin/trumanctl' --socket '" + sock + "' ";
    int rc = -1;
    for (int i = 0; i < 500; ++i) {
        rc = run_host(ctl + "version >/dev/null 2>&1");
        if (rc == 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(rc, 0) << read_file(state.path() + "/trumand.log");
    EXPECT_EQ(run_host(ctl + "run --rm busybox echo installed 2>&1", &output), 0)
        << output << read_file(state.path() + "/trumand.log");
    EXPECT_EQ(output, "installed\n");
    // The installed completion is valid bash and registers itself.
    EXPECT_EQ(
        run_host("bash -c 'source \"" + prefix.path() +
                     "/share/bash-completion/completions/trumanctl\" && complete -p trumanctl'",
                 &output),
        0)
        << output;
}

TEST(Systemd, BashCompletionOffersVerbsFlagsAndContainers) {
    // The source tree's copy (the installed one is the same file).
    std::string source = fs::path(__FILE__).parent_path().parent_path().parent_path() /
                         "client/completion/trumanctl.bash";
    auto complete = [&](const std::string& line) {
        std::string output;
        run_host("bash -c 'source \"" + source + "\"; COMP_WORDS=(" + line +
                     "); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); "
                     "_trumanctl; printf \"%s\\n\" \"${COMPREPLY[@]}\"'",
                 &output);
        return output;
    };
    EXPECT_EQ(complete("trumanctl r"), "run\nrm\nrmi\n");
    EXPECT_EQ(complete("trumanctl ru"), "run\n");
    EXPECT_NE(complete("trumanctl run --r").find("--rm"), std::string::npos);
    EXPECT_NE(complete("trumanctl ps -").find("--all"), std::string::npos);
    EXPECT_EQ(complete("trumanctl run --network l"), "loopback\n");
}

}  // namespace
}  // namespace truman::test
