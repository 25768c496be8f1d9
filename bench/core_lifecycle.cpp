// core_lifecycle: create + start + wait + destroy of /bin/true through core/ alone (no daemon),
// N times in a row; prints the median, p99 and a per-phase breakdown.
//
//   core_lifecycle [-n N] [--net none|loopback|veth] [--cgroups] [--no-seccomp] [--userns]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "truman/cgroups.hpp"
#include "truman/container.hpp"
#include "truman/rootfs.hpp"

using Clock = std::chrono::steady_clock;

namespace {
double ms(Clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
}

struct Series {
    std::vector<double> v;
    double pct(double p) {
        std::sort(v.begin(), v.end());
        return v.empty() ? 0 : v[static_cast<size_t>(p * (v.size() - 1) + 0.5)];
    }
};
}  // namespace

int main(int argc, char** argv) {
    int n = 100;
    std::string net = "loopback";
    bool cgroups = false, seccomp = true, userns = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-n" && i + 1 < argc)
            n = std::atoi(argv[++i]);
        else if (a == "--net" && i + 1 < argc)
            net = argv[++i];
        else if (a == "--cgroups")
            cgroups = true;
        else if (a == "--no-seccomp")
            seccomp = false;
        else if (a == "--userns")
            userns = true;
        else {
            std::fprintf(stderr,
                         "usage: %s [-n N] [--net none|loopback|veth] [--cgroups] [--no-seccomp] "
                         "[--userns]\n",
                         argv[0]);
            return 2;
        }
    }
    char tmpl[] = "/tmp/truman-bench-XXXXXX";
    if (!mkdtemp(tmpl)) return 1;
    std::string rootfs = tmpl;
    truman::make_busybox_rootfs(rootfs);
    truman::ContainerSpec spec = truman::default_spec(rootfs, {"/bin/true"});
    spec.network.mode = net == "none"   ? truman::Network::Mode::none
                        : net == "veth" ? truman::Network::Mode::veth
                                        : truman::Network::Mode::loopback;
    if (spec.network.mode == truman::Network::Mode::veth) spec.network.address = "10.89.0.2/24";
    spec.linux.seccomp_disabled = !seccomp;
    if (userns) {
        spec.linux.namespaces.push_back({truman::NamespaceType::user, ""});
        spec.linux.uid_mappings = {{0, 100000, 65536}};
        spec.linux.gid_mappings = {{0, 100000, 65536}};
    }
    std::unique_ptr<truman::CgroupManager> manager;
    if (cgroups) manager = truman::detect_cgroups("/sys/fs/cgroup", "truman-bench");

    Series total, create, start, wait, destroy;
    for (int i = -5; i < n; ++i) {  // 5 warm-up rounds
        truman::CreateOptions o;
        o.id = "b" + std::to_string(getpid()) + "-" + std::to_string(i + 5);
        o.cgroups = manager.get();
        auto t0 = Clock::now();
        auto c = truman::Container::create(spec, o);
        auto t1 = Clock::now();
        c->start();
        auto t2 = Clock::now();
        auto st = c->wait();
        auto t3 = Clock::now();
        c->destroy();
        auto t4 = Clock::now();
        if (st.exit_code != 0) {
            std::fprintf(stderr, "container exited %d\n", st.exit_code);
            return 1;
        }
        if (i < 0) continue;
        total.v.push_back(ms(t4 - t0));
        create.v.push_back(ms(t1 - t0));
        start.v.push_back(ms(t2 - t1));
        wait.v.push_back(ms(t3 - t2));
        destroy.v.push_back(ms(t4 - t3));
    }
    std::printf("core lifecycle of /bin/true, n=%d, net=%s%s%s%s: median %.2f ms, p99 %.2f ms\n", n,
                net.c_str(), cgroups ? ", cgroups" : "", seccomp ? ", seccomp" : "",
                userns ? ", userns" : "", total.pct(.5), total.pct(.99));
    std::printf("  median per phase: create %.2f  start %.2f  wait %.2f  destroy %.2f ms\n",
                create.pct(.5), start.pct(.5), wait.pct(.5), destroy.pct(.5));
    std::error_code ec;
    std::filesystem::remove_all(rootfs, ec);
    return 0;
}
