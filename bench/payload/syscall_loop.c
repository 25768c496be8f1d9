// bench/payload/syscall_loop.c: N calls of getppid (a call learning mode notifies: allowed by
// the default profile, not one the runtime makes before execve) and N one-byte reads of
// /dev/zero (exempt: read is a pre-execve call, allowed by the kernel), each timed with the
// vDSO clock; prints "getppid_ns=X read_ns=Y" per call. Static, so that it runs in any root.
// Built by bench/seccomp-learn.sh: gcc -O2 -static.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char** argv) {
    long n = argc > 1 ? atol(argv[1]) : 100000;
    double t0 = now_ns();
    for (long i = 0; i < n; ++i) syscall(SYS_getppid);
    double t1 = now_ns();
    int fd = open("/dev/zero", O_RDONLY);
    char c;
    for (long i = 0; i < n; ++i)
        if (read(fd, &c, 1) != 1) return 1;
    double t2 = now_ns();
    printf("getppid_ns=%.0f read_ns=%.0f\n", (t1 - t0) / n, (t2 - t1) / n);
    return 0;
}
