#!/usr/bin/python3
"""UDP over IPv6 for the lab's dual-stack tests (tests/lab/dual_stack.sh): the lab's
udp-echo/udp-probe speak IPv4 only.

  udp6.py echo PORT             answer each datagram with "from ADDR PORT" (its source)
  udp6.py ask ADDR PORT SPORT [T]   send from SPORT, print the answer (exit 1: none in T s)
  udp6.py send ADDR PORT SPORT [SIZE]  send one datagram ("hello", or SIZE bytes) from
                                SPORT
  udp6.py listen PORT T [ADDR PORT]  (first send "hello" to ADDR PORT from PORT, then)
                                print "got ADDR PORT" per datagram for T seconds
  udp6.py punch ADDR PORT SPORT T   send to ADDR PORT from SPORT every 20 ms for up to
                                T s while receiving; print "got ADDR PORT" for the first
                                datagram from it, "sent N received M" at the end; keeps
                                sending 0.5 s after the first one (the peer needs ours)
"""
import socket
import sys
import time


def sock(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", int(port)))
    return s


def main(a):
    cmd = a[0]
    if cmd == "echo":
        s = sock(a[1])
        while True:
            _, src = s.recvfrom(2048)
            s.sendto(("from %s %d" % (src[0], src[1])).encode(), src)
    elif cmd in ("ask", "send"):
        s = sock(a[3])
        data = b"x" * int(a[4]) if cmd == "send" and len(a) > 4 else b"hello"
        s.sendto(data, (a[1], int(a[2])))
        if cmd == "send":
            time.sleep(0.2)  # the socket stays open for an ICMPv6 error to come back
            return 0
        s.settimeout(float(a[4]) if len(a) > 4 else 2.0)
        try:
            data, _ = s.recvfrom(2048)
        except socket.timeout:
            print("none")
            return 1
        print(data.decode(errors="replace"))
    elif cmd == "listen":
        s = sock(a[1])
        if len(a) > 4:
            s.sendto(b"hello", (a[3], int(a[4])))
        end = time.monotonic() + float(a[2])
        while (left := end - time.monotonic()) > 0:
            s.settimeout(left)
            try:
                _, src = s.recvfrom(2048)
            except socket.timeout:
                break
            print("got %s %d" % (src[0], src[1]), flush=True)
    elif cmd == "punch":
        s = sock(a[3])
        peer = (a[1], int(a[2]))
        end = time.monotonic() + float(a[4])
        sent = got = 0
        due = 0.0
        while (now := time.monotonic()) < end:
            if now >= due:
                s.sendto(b"punch", peer)
                sent += 1
                due = now + 0.02
            s.settimeout(max(0.001, min(due, end) - now))
            try:
                _, src = s.recvfrom(2048)
                if socket.inet_pton(socket.AF_INET6, src[0]) == \
                        socket.inet_pton(socket.AF_INET6, peer[0]) and src[1] == peer[1]:
                    if not got:
                        print("got %s %d" % (src[0], src[1]), flush=True)
                        end = min(end, time.monotonic() + 0.5)
                    got += 1
            except socket.timeout:
                pass
        print("sent %d received %d" % (sent, got))
        return 0 if got else 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
