/* A man in the middle for the ppn-pair tests: accepts one connection on
 * 127.0.0.1:LISTEN_PORT, connects to 127.0.0.1:TARGET_PORT and relays both
 * ways.  In the client-to-target direction it follows the session's framing
 * (2-byte big-endian lengths; a zero length starts a channel record with a
 * 4-byte length, doc/crypto.md) and flips the low bit of the byte at OFFSET
 * from the start of the first channel record (its 6-byte header included):
 * the handshake stays intact and only what travels inside the session after
 * it is tampered with.
 *
 *   tamper-proxy LISTEN_PORT TARGET_PORT OFFSET
 *
 * Prints "flipped" when it changed a byte, and "clear" if it ever saw a
 * replica's magic ("PPNLEDG1") in either direction.  Exits when both sides
 * closed. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int tcp(int port, int listening)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0)
        return -1;
    if (listening) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0)
            return -1;
        printf("listening\n");
        fflush(stdout);
        int c = accept(fd, NULL, NULL);
        close(fd);
        return c;
    }
    return connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -1 : fd;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s LISTEN_PORT TARGET_PORT OFFSET\n", argv[0]);
        return 2;
    }
    long offset = atol(argv[3]);
    if (offset < 0) {
        fprintf(stderr, "tamper-proxy: OFFSET must be >= 0\n");
        return 2;
    }
    int client = tcp(atoi(argv[1]), 1);
    int target = client < 0 ? -1 : tcp(atoi(argv[2]), 0);
    if (client < 0 || target < 0) {
        perror("tamper-proxy");
        return 1;
    }
    static const char magic[] = "PPNLEDG1";
    size_t matched[2] = {0, 0};
    /* client-to-target framing: hdr bytes read, the current frame's length, bytes left of it */
    unsigned char hdr[6];
    size_t hlen = 0, left = 0;
    int channel = 0;  /* in a channel record's header */
    long since = -1;  /* bytes since the start of the first channel record */
    int open_c = 1, open_t = 1, clear = 0;
    while (open_c || open_t) {
        struct pollfd p[2] = {{.fd = open_c ? client : -1, .events = POLLIN},
                              {.fd = open_t ? target : -1, .events = POLLIN}};
        if (poll(p, 2, 30000) <= 0)
            break;
        unsigned char buf[65536];
        if (p[0].revents) {
            ssize_t n = read(client, buf, sizeof(buf));
            if (n <= 0) {
                open_c = 0;
                shutdown(target, SHUT_WR);
            } else {
                for (ssize_t i = 0; i < n; i++) {
                    if (buf[i] == (unsigned char)magic[matched[0]]) {
                        if (++matched[0] == sizeof(magic) - 1)
                            clear = 1, matched[0] = 0;
                    } else {
                        matched[0] = buf[i] == (unsigned char)magic[0];
                    }
                    if (since >= 0)
                        since++;
                    if (left == 0) { /* a header byte */
                        hdr[hlen++] = buf[i];
                        if (hlen == 2 && !channel) {
                            left = (size_t)hdr[0] << 8 | hdr[1];
                            if (left == 0)
                                channel = 1; /* a channel record: four more header bytes */
                            else
                                hlen = 0;
                            if (channel && since < 0)
                                since = 2;
                        } else if (channel && hlen == 6) {
                            left = (size_t)hdr[2] << 24 | (size_t)hdr[3] << 16 | (size_t)hdr[4] << 8 | hdr[5];
                            channel = 0;
                            hlen = 0;
                        }
                    } else {
                        left--;
                    }
                    if (since >= 0 && since - 1 == offset) {
                        buf[i] ^= 1;
                        printf("flipped\n");
                        fflush(stdout);
                        since = -1000000000L; /* once */
                    }
                }
                if (write_all(target, buf, (size_t)n) < 0)
                    open_c = 0;
            }
        }
        if (p[1].revents) {
            ssize_t n = read(target, buf, sizeof(buf));
            if (n <= 0) {
                open_t = 0;
                shutdown(client, SHUT_WR);
            } else {
                for (ssize_t i = 0; i < n; i++) {
                    if (buf[i] == (unsigned char)magic[matched[1]]) {
                        if (++matched[1] == sizeof(magic) - 1)
                            clear = 1, matched[1] = 0;
                    } else {
                        matched[1] = buf[i] == (unsigned char)magic[0];
                    }
                }
                if (write_all(client, buf, (size_t)n) < 0)
                    open_t = 0;
            }
        }
    }
    if (clear)
        printf("clear\n");
    return 0;
}
