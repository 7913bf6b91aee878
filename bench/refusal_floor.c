#define _GNU_SOURCE
// The refusal floor of bench/serving.py's overload row: a minimal HTTP/1.1 keep-alive server that
// answers every request with one prebuilt 503 write. One epoll loop, no parsing beyond counting
// header ends ("\r\n\r\n") in what each read returns: enough for wrk's small requests on loopback
// (a header end split across two reads would go unanswered; wrk would count a timeout). No server
// can refuse a request for less, which makes it the floor: what refusing alone costs this machine.
// Usage: refusal_floor PORT (listens on 127.0.0.1).
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
static const char R[] = "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\ncontent-length: 50\r\n\r\n{\"error\":\"overloaded\",\"message\":\"try again later\"}";
int main(int argc, char **argv) {
  int port = atoi(argv[1]);
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(0x7f000001)};
  if (bind(ls, (void *)&a, sizeof a) || listen(ls, 4096)) { perror("bind"); return 1; }
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls}, evs[512];
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  char buf[65536];
  for (;;) {
    int n = epoll_wait(ep, evs, 512, -1);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == ls) {
        int c;
        while ((c = accept4(ls, 0, 0, SOCK_NONBLOCK)) >= 0) {
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
        }
        continue;
      }
      ssize_t got = read(fd, buf, sizeof buf);
      if (got <= 0) { if (got == 0 || errno != EAGAIN) close(fd); continue; }
      int reqs = 0;  // requests whose header ends in this read
      for (ssize_t k = 3; k < got; k++) if (buf[k] == '\n' && buf[k-1] == '\r' && buf[k-2] == '\n' && buf[k-3] == '\r') reqs++;
      for (int r = 0; r < reqs; r++) if (write(fd, R, sizeof R - 1) < 0) break;
    }
  }
}
