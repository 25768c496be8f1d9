#!/usr/bin/env python3
"""Time to the first byte of an interactive shell's prompt (issue 12's benchmark).

`trumanctl run -it --rm IMAGE sh` in a real pty of our own (as a user's terminal would run
it), against `crun run` of an OCI bundle with "terminal": true over the same root filesystem,
whose pty master comes back on a console socket, as a container engine gets it. Each run is
timed from the spawn of the command to the first byte of output read from the terminal
(the shell's prompt), then the shell is told `exit` and reaped. The two alternate, one by one.

    bench/tty-first-byte.py --trumanctl build-rel/bin/trumanctl --socket S --image busybox \
        --rootfs DIR [-n 20]

Root only (crun). crun runs in a private mount namespace without the controller-less
/sys/fs/cgroup/unified, as in run-all.sh. Nothing is asserted: numbers only.
"""
import argparse
import array
import fcntl
import json
import os
import select
import shutil
import socket
import statistics
import subprocess
import tempfile
import termios
import time


def read_until(fd, text, timeout=30.0, out=b""):
    deadline = time.monotonic() + timeout
    while text not in out:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise RuntimeError("timed out waiting for %r, got %r" % (text, out))
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side is gone
            break
        if not chunk:
            break
        out += chunk
    return out


def first_byte(fd, timeout=30.0):
    if not select.select([fd], [], [], timeout)[0]:
        raise RuntimeError("no output")
    return os.read(fd, 4096)


def finish(master, proc):
    os.write(master, b"exit\r")
    try:
        read_until(master, b"\0", timeout=10)  # to EIO or EOF
    except RuntimeError:
        pass
    proc.wait(timeout=30)


def time_truman(args, n):
    name = "tfb-%d-%d" % (os.getpid(), n)
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, b"\x18\x00\x50\x00\x00\x00\x00\x00")  # 24x80

    def controlling():
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    t0 = time.monotonic()
    proc = subprocess.Popen(
        [args.trumanctl, "--socket", args.socket, "run", "-it", "--rm", "--name", name,
         args.image, "sh"],
        stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
        preexec_fn=controlling, close_fds=True)
    os.close(slave)
    try:
        first = first_byte(master)
        elapsed = time.monotonic() - t0
        read_until(master, b"# ", out=first)
        prompt = time.monotonic() - t0
        finish(master, proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            # Killed, trumanctl could not --rm it.
            subprocess.run([args.trumanctl, "--socket", args.socket, "rm", "-f", name],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(master)
    return elapsed, prompt


def make_bundle(rootfs, work):
    bundle = os.path.join(work, "bundle")
    os.mkdir(bundle)
    subprocess.run(["crun", "spec"], cwd=bundle, check=True)
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        c = json.load(f)
    c["process"]["args"] = ["sh"]
    c["process"]["terminal"] = True
    c["root"] = {"path": rootfs, "readonly": True}
    c["linux"]["namespaces"] = [{"type": t} for t in ("pid", "ipc", "uts", "mount", "network")]
    with open(path, "w") as f:
        json.dump(c, f)
    return bundle


def time_crun(bundle, state, console, n):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(console)
    listener.listen(1)
    name = "tfb-%d-%d" % (os.getpid(), n)
    t0 = time.monotonic()
    proc = subprocess.Popen(
        ["unshare", "-m", "sh", "-c",
         "umount /sys/fs/cgroup/unified 2>/dev/null; exec \"$@\"", "sh",
         "crun", "--root", state, "run", "--console-socket", console, "--bundle", bundle, name],
        stdin=subprocess.DEVNULL, close_fds=True)
    master = -1
    try:
        listener.settimeout(30)
        conn, _ = listener.accept()
        _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
        conn.close()
        master = fds[0]
        first = first_byte(master)
        elapsed = time.monotonic() - t0
        read_until(master, b"# ", out=first)
        prompt = time.monotonic() - t0
        finish(master, proc)
    finally:
        listener.close()
        os.unlink(console)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            subprocess.run(["crun", "--root", state, "delete", "-f", name],
                           stderr=subprocess.DEVNULL)
        if master >= 0:
            os.close(master)
    return elapsed, prompt


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--trumanctl", required=True)
    p.add_argument("--socket", required=True)
    p.add_argument("--image", default="busybox")
    p.add_argument("--rootfs", help="busybox tree for crun (omit: truman only)")
    p.add_argument("-n", type=int, default=20)
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="truman-tfb.")
    try:
        bundle = make_bundle(args.rootfs, work) if args.rootfs and shutil.which("crun") else None
        truman, crun = [], []
        for i in range(args.n):
            truman.append(time_truman(args, i))
            if bundle:
                crun.append(time_crun(bundle, os.path.join(work, "crun"),
                                      os.path.join(work, "console.sock"), i))
        load = open("/proc/loadavg").read().split()[:3]

        def show(label, runs):
            for what, v in (("first byte", [r[0] for r in runs]), ("prompt", [r[1] for r in runs])):
                print("%-36s %-10s median %6.1f ms  min %6.1f  max %6.1f  (n=%d)" % (
                    label, what, statistics.median(v) * 1e3, min(v) * 1e3, max(v) * 1e3, len(v)))
        show("trumanctl run -it --rm busybox sh", truman)
        if crun:
            show("crun run (terminal, console socket)", crun)
            print("first byte, ratio truman/crun %.2f" % (
                statistics.median([r[0] for r in truman]) / statistics.median([r[0] for r in crun])))
        print("load", " ".join(load))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
