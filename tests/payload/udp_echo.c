/* udp_echo: a static UDP echo for the published-port tests (busybox has no UDP server).
 *   udp-echo serve PORT          answers every datagram with "echo:" + it, forever
 *   udp-echo send HOST PORT MSG  sends MSG, prints the answer; exit 1 without one */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int main(int argc, char** argv) {
    char buf[512];
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 2;
    if (argc == 3 && strcmp(argv[1], "serve") == 0) {
        sa.sin_port = htons((unsigned short)atoi(argv[2]));
        if (bind(fd, (struct sockaddr*)&sa, sizeof sa) < 0) return 2;
        for (;;) {
            struct sockaddr_in peer;
            socklen_t len = sizeof peer;
            memcpy(buf, "echo:", 5);
            ssize_t n = recvfrom(fd, buf + 5, sizeof buf - 5, 0, (struct sockaddr*)&peer, &len);
            if (n < 0) continue;
            sendto(fd, buf, (size_t)n + 5, 0, (struct sockaddr*)&peer, len);
        }
    }
    if (argc != 5 || strcmp(argv[1], "send") != 0) return 2;
    sa.sin_port = htons((unsigned short)atoi(argv[3]));
    if (inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1) return 2;
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (int attempt = 0; attempt < 10; ++attempt) { /* the server may not be up yet */
        sendto(fd, argv[4], strlen(argv[4]), 0, (struct sockaddr*)&sa, sizeof sa);
        ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
        if (n > 0) {
            buf[n] = 0;
            printf("%s\n", buf);
            return 0;
        }
    }
    return 1;
}
