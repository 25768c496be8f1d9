// run_in_new_pid_namespace: the classic clone() with a stack of our own.

#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "truman/container.hpp"
#include "truman/error.hpp"

namespace truman {

namespace {

int trampoline(void* arg) {
    auto* fn = static_cast<const std::function<int()>*>(arg);
    // A fresh /proc in the new mount namespace, so the callable's /proc shows its own PID
    // namespace; "/" becomes private first so the mount does not reach the host.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return 125;
    if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
        return 126;
    return (*fn)();
}

}  // namespace

int run_in_new_pid_namespace(const std::function<int()>& fn, int extra_clone_flags) {
    constexpr size_t kStackSize = 1 << 20;
    constexpr size_t kGuard = 1 << 12;
    void* stack = ::mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) throw system_error("mmap child stack");
    // The lowest page is a guard: an overflow faults instead of writing into other memory.
    ::mprotect(stack, kGuard, PROT_NONE);
    // Stacks grow down on every architecture Linux runs containers on: clone() takes the
    // *top* of the stack, not the address mmap returned.
    char* top = static_cast<char*>(stack) + kStackSize;
    pid_t pid = ::clone(trampoline, top, CLONE_NEWPID | CLONE_NEWNS | SIGCHLD | extra_clone_flags,
                        const_cast<std::function<int()>*>(&fn));
    if (pid < 0) {
        int err = errno;
        ::munmap(stack, kStackSize);
        throw system_error("clone(CLONE_NEWPID)", err);
    }
    int status = 0;
    pid_t r;
    do {
        r = ::waitpid(pid, &status, __WALL);
    } while (r < 0 && errno == EINTR);
    ::munmap(stack, kStackSize);
    if (r < 0) throw system_error("waitpid " + std::to_string(pid));
    // The callable's status, never the PID.
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace truman
