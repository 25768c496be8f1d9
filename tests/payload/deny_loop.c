/*
 * deny_loop: a tiny static program that calls mount, unshare and keyctl -- three system calls
 * the default seccomp profile denies -- a given number of times each, for the seccomp denial
 * tests. Static, so it needs nothing from the container's root filesystem.
 *
 *   deny_loop ROUNDS [USEC]   prints "pid <pid> mount <errno> unshare <errno> keyctl <errno>"
 *                             with the errno names of the first round, sleeping USEC
 *                             microseconds after each round; exit 0, 2 on a usage error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define KEYCTL_GET_KEYRING_ID 0
#define KEY_SPEC_SESSION_KEYRING (-3)

static int call(long nr, long a, long b, long c, long d, long e) {
    return syscall(nr, a, b, c, d, e) < 0 ? errno : 0;
}

int main(int argc, char** argv) {
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: deny_loop ROUNDS [USEC]\n");
        return 2;
    }
    long rounds = strtol(argv[1], NULL, 10);
    long pause = argc == 3 ? strtol(argv[2], NULL, 10) : 0;
    int first[3] = {0, 0, 0};
    for (long i = 0; i < rounds; ++i) {
        int m = call(SYS_mount, (long)"none", (long)"/mnt", (long)"tmpfs", 0, 0);
        int u = call(SYS_unshare, CLONE_NEWNS, 0, 0, 0, 0);
        int k = call(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0, 0, 0);
        if (i == 0) {
            first[0] = m;
            first[1] = u;
            first[2] = k;
        }
        if (pause > 0) usleep((useconds_t)pause);
    }
    printf("pid %d mount %s unshare %s keyctl %s\n", (int)getpid(),
           first[0] ? strerrorname_np(first[0]) : "ok", first[1] ? strerrorname_np(first[1]) : "ok",
           first[2] ? strerrorname_np(first[2]) : "ok");
    return 0;
}
