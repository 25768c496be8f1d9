// The process's own binary, as a container could reach it through /proc/<pid>/exe (runc
// CVE-2019-5736). A process forked from the monitor is the monitor's binary until it execs
// the container's program; non-dumpable hides that file from the container unless the
// container holds CAP_SYS_PTRACE in the binary's user namespace (the host's: no user
// namespace of its own). For those containers the monitor runs from a sealed copy instead:
// an anonymous memfd that nothing can write, shrink or grow, so /proc/<pid>/exe of it and of
// everything it forks leads to that copy and never to the file on the host.
#pragma once

namespace truman {

// True when /proc/self/exe is a memfd sealed against writing, shrinking, growing and
// further sealing.
bool running_from_sealed_copy();

// Unless running from a sealed copy already: copy /proc/self/exe into a memfd
// (MFD_CLOEXEC | MFD_ALLOW_SEALING), seal it (F_SEAL_SEAL, SHRINK, GROW, WRITE) and execveat
// it with argv and envp; returns only if it was running from one. Descriptors without
// close-on-exec survive, so call it first thing in main, before anything is opened. Throws
// truman::Error naming the step that failed.
void reexec_from_sealed_copy(char* const* argv, char* const* envp);

}  // namespace truman
