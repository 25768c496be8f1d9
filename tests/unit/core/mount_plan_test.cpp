// The mount plan is pure data: tested here without privileges.
#include "mount_plan.hpp"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <filesystem>

#include "test_support.hpp"
#include "truman/error.hpp"
#include "truman/idmap.hpp"
#include "truman/mounts.hpp"

using namespace truman;
using namespace truman::detail;

namespace {
ContainerSpec spec_at(const std::string& root) {
    ContainerSpec s;
    s.root.path = root;
    s.process.args = {"/bin/true"};
    s.linux.namespaces = {
        {NamespaceType::mount, ""}, {NamespaceType::pid, ""}, {NamespaceType::network, ""}};
    return s;
}

const FsOp* find(const MountPlan& p, FsOpKind kind, const std::string& target) {
    for (auto& op : p.ops)
        if (op.kind == kind && target == op.target) return &op;
    return nullptr;
}

size_t index_of(const MountPlan& p, FsOpKind kind, const std::string& target) {
    for (size_t i = 0; i < p.ops.size(); ++i)
        if (p.ops[i].kind == kind && target == p.ops[i].target) return i;
    return SIZE_MAX;
}
}  // namespace

TEST(MountPlan, DefaultsMountProcDevSysUnderTheRootfs) {
    MountPlan p = build_mount_plan(spec_at("/r/"), false);
    EXPECT_EQ(p.rootfs, "/r");
    const FsOp* proc = find(p, FsOpKind::mount, "proc");
    ASSERT_NE(proc, nullptr);
    EXPECT_STREQ(proc->fstype, "proc");
    EXPECT_EQ(proc->flags, static_cast<unsigned long>(MS_NOSUID | MS_NOEXEC | MS_NODEV));
    const FsOp* sys = find(p, FsOpKind::mount, "sys");
    ASSERT_NE(sys, nullptr);
    EXPECT_TRUE(sys->flags & MS_RDONLY);
    const FsOp* pts = find(p, FsOpKind::mount, "dev/pts");
    ASSERT_NE(pts, nullptr);
    EXPECT_STREQ(pts->data, "newinstance,ptmxmode=0666,mode=0620");
    EXPECT_NE(find(p, FsOpKind::mount, "dev/shm"), nullptr);
    EXPECT_NE(find(p, FsOpKind::mount, "dev/mqueue"), nullptr);
    EXPECT_NE(find(p, FsOpKind::symlink, "dev/ptmx"), nullptr);
    // /dev is mounted before the nodes are made in it.
    EXPECT_LT(index_of(p, FsOpKind::mount, "dev"), index_of(p, FsOpKind::mknod, "dev/null"));
    EXPECT_EQ(p.descriptions.size(), p.ops.size());
}

TEST(MountPlan, DeviceNodesAreMadeOrBoundInAUserNamespace) {
    MountPlan p = build_mount_plan(spec_at("/r"), false);
    const FsOp* null = find(p, FsOpKind::mknod, "dev/null");
    ASSERT_NE(null, nullptr);
    EXPECT_EQ(null->dev, makedev(1, 3));
    EXPECT_EQ(null->mode, static_cast<uint32_t>(S_IFCHR | 0666));
    MountPlan u = build_mount_plan(spec_at("/r"), true);
    EXPECT_EQ(find(u, FsOpKind::mknod, "dev/null"), nullptr);
    const FsOp* bind = find(u, FsOpKind::mount, "dev/null");
    ASSERT_NE(bind, nullptr);
    EXPECT_STREQ(bind->source, "/dev/null");
    EXPECT_EQ(bind->flags, static_cast<unsigned long>(MS_BIND));
}

TEST(MountPlan, MaskedAndReadonlyPathsComeLastAndAreOptional) {
    MountPlan p = build_mount_plan(spec_at("/r"), false);
    size_t kcore = index_of(p, FsOpKind::mask, "proc/kcore");
    size_t sys = index_of(p, FsOpKind::make_readonly, "proc/sys");
    ASSERT_NE(kcore, SIZE_MAX);
    ASSERT_NE(sys, SIZE_MAX);
    EXPECT_GT(kcore, index_of(p, FsOpKind::mount, "proc"));
    EXPECT_TRUE(p.ops[kcore].optional);
    EXPECT_STREQ(p.ops[kcore].source, "dev/null");  // the container's, resolved in its root
    ContainerSpec s = spec_at("/r");
    s.linux.masked_paths = std::vector<std::string>{};
    s.linux.readonly_paths = std::vector<std::string>{"/etc"};
    MountPlan q = build_mount_plan(s, false);
    EXPECT_EQ(find(q, FsOpKind::mask, "proc/kcore"), nullptr);
    EXPECT_NE(find(q, FsOpKind::make_readonly, "etc"), nullptr);
}

TEST(MountPlan, SpecMountReplacesTheDefaultWithTheSameDestination) {
    ContainerSpec s = spec_at("/r");
    s.mounts.push_back({"/dev/shm", "tmpfs", "shm", {"size=1m"}});
    MountPlan p = build_mount_plan(s, false);
    int count = 0;
    for (auto& op : p.ops)
        if (op.kind == FsOpKind::mount && std::string(op.target) == "dev/shm") {
            ++count;
            EXPECT_STREQ(op.data, "size=1m");
        }
    EXPECT_EQ(count, 1);
}

TEST(MountPlan, BindMountWithReadOnlyNeedsARemount) {
    ContainerSpec s = spec_at("/r");
    s.mounts.push_back({"/data/x", "bind", "/tmp", {"rbind", "ro", "nosuid"}});
    MountPlan p = build_mount_plan(s, false);
    size_t m = index_of(p, FsOpKind::mount, "data/x");
    ASSERT_NE(m, SIZE_MAX);
    EXPECT_EQ(p.ops[m].flags, static_cast<unsigned long>(MS_BIND | MS_REC));
    EXPECT_EQ(p.descriptions[m], "bind mount /tmp on /data/x");
    ASSERT_LT(m + 1, p.ops.size());
    EXPECT_EQ(p.ops[m + 1].kind, FsOpKind::bind_remount);
    EXPECT_EQ(p.ops[m + 1].flags, static_cast<unsigned long>(MS_RDONLY | MS_NOSUID));
    // mkdir -p of the mount point, component by component, before the mount.
    EXPECT_LT(index_of(p, FsOpKind::mkdir, "data"), index_of(p, FsOpKind::mkdir, "data/x"));
    EXPECT_LT(index_of(p, FsOpKind::mkdir, "data/x"), m);
}

TEST(MountPlan, FileBindMountGetsAFileMountPoint) {
    ContainerSpec s = spec_at("/r");
    s.mounts.push_back({"/etc/resolv.conf", "bind", "/etc/hostname", {"bind"}});
    MountPlan p = build_mount_plan(s, false);
    EXPECT_NE(find(p, FsOpKind::create_file, "etc/resolv.conf"), nullptr);
    EXPECT_EQ(find(p, FsOpKind::mkdir, "etc/resolv.conf"), nullptr);
}

TEST(MountPlan, OverlayDataAndPropagation) {
    ContainerSpec s = spec_at("/c/rootfs");
    s.root.overlay = Overlay{"/img", "/c/upper", "/c/work"};
    s.linux.rootfs_propagation = "rslave";
    MountPlan p = build_mount_plan(s, false);
    EXPECT_EQ(p.overlay_data, "lowerdir=/img,upperdir=/c/upper,workdir=/c/work");
    EXPECT_EQ(p.root_propagation, static_cast<unsigned long>(MS_SLAVE | MS_REC));
    s.root.overlay->lower = "/img,evil=1";
    EXPECT_THROW(build_mount_plan(s, false), Error);
}

// An image's layers are short names in a layer directory the overlay is mounted from, so
// that many layers fit in mount(2)'s one page of data; what does not fit is refused, since
// the kernel would silently cut it off.
TEST(MountPlan, LayersAreShortNamesMountedFromTheLayerDir) {
    ContainerSpec s = spec_at("/c/rootfs");
    s.root.overlay = Overlay{"TOP123:MID456:BAS789", "/c/upper", "/c/work", "/var/lib/truman/l"};
    validate_mounts(s);
    MountPlan p = build_mount_plan(s, false);
    EXPECT_EQ(p.overlay_data, "lowerdir=TOP123:MID456:BAS789,upperdir=/c/upper,workdir=/c/work");
    EXPECT_EQ(p.overlay_cwd, "/var/lib/truman/l");
    std::string many;
    for (int i = 0; i < 500; ++i) many += (i ? ":" : "") + std::string("ABCDEF");
    s.root.overlay->lower = many;
    EXPECT_LT(build_mount_plan(s, false).overlay_data.size(), kMountDataMax);
    s.root.overlay->lower = many + ":" + many;
    EXPECT_THROW(build_mount_plan(s, false), Error);
    for (const char* bad : {"A::B", "../x", "a/b", "", "x,y"}) {
        s.root.overlay->lower = bad;
        EXPECT_THROW(validate_mounts(s), Error) << bad;
    }
    s.root.overlay->lower = "A";
    s.root.overlay->layer_dir = "relative/l";
    EXPECT_THROW(validate_mounts(s), Error);
}

TEST(MountPlan, SysIsBoundReadOnlyInAUserNamespaceWithoutItsOwnNetwork) {
    ContainerSpec s = spec_at("/r");
    s.linux.namespaces = {{NamespaceType::mount, ""}, {NamespaceType::user, ""}};
    MountPlan p = build_mount_plan(s, true);
    const FsOp* sys = find(p, FsOpKind::mount, "sys");
    ASSERT_NE(sys, nullptr);
    EXPECT_STREQ(sys->source, "/sys");
    EXPECT_EQ(sys->flags, static_cast<unsigned long>(MS_BIND | MS_REC));
}

TEST(MountOptions, SplitsFlagsFromData) {
    MountOptions o =
        parse_mount_options({"ro", "nosuid", "size=64m", "mode=755", "noexec", "exec"});
    EXPECT_EQ(o.flags, static_cast<unsigned long>(MS_RDONLY | MS_NOSUID));
    EXPECT_EQ(o.data, "size=64m,mode=755");
    EXPECT_FALSE(o.bind);
    MountOptions b = parse_mount_options({"rbind", "rprivate"});
    EXPECT_TRUE(b.bind && b.recursive);
    EXPECT_EQ(b.propagation, static_cast<unsigned long>(MS_PRIVATE | MS_REC));
    EXPECT_THROW(parse_mount_options({"tmpcopyup"}), Error);
}

TEST(MountOptions, PropagationNames) {
    EXPECT_EQ(propagation_flags(""), 0UL);
    EXPECT_EQ(propagation_flags("private"), static_cast<unsigned long>(MS_PRIVATE));
    EXPECT_EQ(propagation_flags("runbindable"), static_cast<unsigned long>(MS_UNBINDABLE | MS_REC));
    try {
        propagation_flags("sideways");
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::invalid);
        EXPECT_NE(std::string(e.what()).find("linux.rootfsPropagation"), std::string::npos);
    }
}

TEST(IdMap, TextIsOneLinePerMapping) {
    EXPECT_EQ(truman::id_map_text({{0, 1000, 1}, {1, 100000, 65536}}),
              "0 1000 1\n1 100000 65536\n");
}

TEST(MountPlan, TargetsAreContainerPathsForTheChildToResolve) {
    // The parent never looks at the image: a hostile image's /dev -> /etc changes nothing in
    // the plan, and the child resolves "dev" beneath the root when it mounts (child.hpp).
    truman::test::TempDir root;
    std::filesystem::create_symlink("/etc", root.path() + "/dev");
    MountPlan p = build_mount_plan(spec_at(root.path()), false);
    const FsOp* dev = find(p, FsOpKind::mount, "dev");
    ASSERT_NE(dev, nullptr);
    EXPECT_STREQ(dev->parent, ".");
    EXPECT_STREQ(dev->name, "dev");
    const FsOp* null = find(p, FsOpKind::mknod, "dev/null");
    ASSERT_NE(null, nullptr);
    EXPECT_STREQ(null->parent, "dev");
    EXPECT_STREQ(null->name, "null");
    for (const auto& op : p.ops) EXPECT_NE(op.target[0], '/') << op.target;
}

TEST(MountPlan, DotDotInADestinationCannotClimbAboveTheRoot) {
    ContainerSpec s = spec_at("/r");
    s.mounts.push_back({"/../../data/./x/../y", "tmpfs", "tmpfs", {}});
    MountPlan p = build_mount_plan(s, false);
    EXPECT_NE(find(p, FsOpKind::mount, "data/y"), nullptr);
    EXPECT_NE(find(p, FsOpKind::mkdir, "data"), nullptr);
}

TEST(MagicLinks, ProcPidAndDevFdPathsAreRecognised) {
    for (const char* p :
         {"/proc/self/fd/4", "/proc/thread-self/cwd", "/proc/1/root", "/proc/./self/fd",
          "/x/../proc/self/exe", "/dev/fd/3", "/dev/stdin", "/proc/123"})
        EXPECT_TRUE(is_magic_link_path(p)) << p;
    for (const char* p : {"/proc", "/proc/sys", "/proc/cpuinfo", "/proc/selfish", "/dev/null",
                          "/work", "/dev", "/proc/sys/kernel"})
        EXPECT_FALSE(is_magic_link_path(p)) << p;
}

TEST(MagicLinks, SpecRefusesThemAsCwdAndMountPaths) {
    ContainerSpec s = spec_at("/r");
    s.process.cwd = "/proc/self/fd/4";
    try {
        validate(s);
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::invalid);
        EXPECT_EQ(std::string(e.what()).rfind("process.cwd: ", 0), 0u) << e.what();
    }
    ContainerSpec t = spec_at("/r");
    t.mounts.push_back({"/data", "bind", "/proc/self/root/etc", {"bind"}});
    EXPECT_THROW(validate(t), Error);
    ContainerSpec u = spec_at("/r");
    u.mounts.push_back({"/proc/1/cwd", "tmpfs", "tmpfs", {}});
    EXPECT_THROW(validate(u), Error);
}

TEST(MountPlan, NofollowReplacesALinkAtTheDestinationInsteadOfFollowingIt) {
    ContainerSpec spec = spec_at("/r");
    spec.mounts.push_back({"/etc/hosts", "bind", "/proc/self/status", {"bind", "nofollow"}});
    MountPlan p = build_mount_plan(spec, false);
    size_t replace = index_of(p, FsOpKind::replace_file, "etc/hosts");
    EXPECT_LT(replace, index_of(p, FsOpKind::mount, "etc/hosts"));
    EXPECT_EQ(find(p, FsOpKind::create_file, "etc/hosts"), nullptr);
    spec.mounts.back().source = "/proc";
    EXPECT_THROW(build_mount_plan(spec, false), Error);
}
