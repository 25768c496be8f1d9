// A sealed memfd copy of the process's own binary (sealed_exe.hpp). runc (libcontainer's
// cloned_binary) and crun do the same before they join a container.

#include "truman/sealed_exe.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "truman/error.hpp"
#include "truman/fd.hpp"

namespace truman {

namespace {

constexpr int kSeals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

}  // namespace

bool running_from_sealed_copy() {
    Fd exe(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
    if (!exe) throw system_error("open /proc/self/exe");
    // EINVAL: not a file that takes seals (anything but a memfd).
    int seals = ::fcntl(exe.get(), F_GET_SEALS);
    return seals >= 0 && (seals & kSeals) == kSeals;
}

void reexec_from_sealed_copy(char* const* argv, char* const* envp) {
    if (running_from_sealed_copy()) return;
    Fd exe(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
    if (!exe) throw system_error("open /proc/self/exe");
    struct stat st {};
    if (::fstat(exe.get(), &st) != 0) throw system_error("fstat /proc/self/exe");
    // Close-on-exec is harmless here: an ELF binary is mapped by the kernel before the
    // descriptor goes (only a script would need it open, through /dev/fd).
    Fd copy(::memfd_create("truman-monitor", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!copy) throw system_error("memfd_create");
    for (off_t done = 0; done < st.st_size;) {
        ssize_t n =
            ::sendfile(copy.get(), exe.get(), nullptr, static_cast<size_t>(st.st_size - done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw system_error("copy /proc/self/exe into a memfd");
        if (n == 0) throw make_error(ErrorKind::system, "/proc/self/exe shrank while copied", EIO);
        done += n;
    }
    // F_SEAL_WRITE needs no writable mapping of the memfd, and sendfile made none.
    if (::fcntl(copy.get(), F_ADD_SEALS, kSeals) != 0) throw system_error("seal the memfd copy");
    ::syscall(SYS_execveat, copy.get(), "", argv, envp, AT_EMPTY_PATH);
    throw system_error("execveat the sealed copy of /proc/self/exe");
}

}  // namespace truman
