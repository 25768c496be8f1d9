#!/usr/bin/env python3
"""Where a lifecycle's time goes, from kernel tracepoints (`perf script` output of a
`perf record -a` around api_lifecycle; bench/trace-lifecycle.sh records it).

Per lifecycle it lines up the client's requests (sendmsg/recvfrom of api_lifecycle), the
processes (fork/exec/exit of trumand's children: the monitor's first process, the monitor,
the container) and every fsync, then prints the median of each phase, and the CPU time,
run-queue wait and blocked time of each kind of process (from sched_switch)."""
import collections
import re
import statistics
import sys

LINE = re.compile(r"^\s*(.+?)\s+(\d+)/(\d+)\s+\[\d+\]\s+([\d.]+):\s+(\S+):\s*(.*)$")
NR_SENDMSG, NR_RECVFROM, NR_FSYNC = 46, 45, 74


def parse(path):
    for line in open(path, errors="replace"):
        m = LINE.match(line)
        if m:
            yield m.group(1), int(m.group(2)), int(m.group(3)), float(m.group(4)), m.group(5), m.group(6)


def main():
    events = list(parse(sys.argv[1]))
    client = {p for c, p, t, ts, e, a in events if c == "api_lifecycle"}
    daemon = {p for c, p, t, ts, e, a in events if c == "trumand"}
    kind = {p: "client" for p in client}
    kind.update({p: "trumand" for p in daemon})
    parent = {}
    for c, p, t, ts, e, a in events:
        if e == "sched:sched_process_fork":
            m = re.search(r"pid=(\d+) child_comm=\S+ child_pid=(\d+)", a)
            pp, child = int(m.group(1)), int(m.group(2))
            # fork events come from the parent's tid; threads of trumand count as trumand
            if pp in kind or p in kind:
                k = kind.get(pp, kind.get(p))
                kind[child] = {"trumand": "monitor-1", "monitor-1": "monitor",
                               "monitor": "container", "client": "client"}.get(k, k)
                parent[child] = pp
    # threads: a tid belongs to the kind of its pid
    def kind_of(pid, tid):
        return kind.get(tid) or kind.get(pid)

    # one timeline: (time, what, pid)
    tl = []
    open_calls = {}
    for c, p, t, ts, e, a in events:
        k = kind_of(p, t)
        if not k:
            continue
        if e == "raw_syscalls:sys_enter":
            n = int(a.split()[1])
            if n in (NR_SENDMSG, NR_FSYNC, NR_RECVFROM):
                open_calls[t] = (ts, n)
        elif e == "raw_syscalls:sys_exit":
            if t in open_calls:
                t0, n = open_calls.pop(t)
                if n == NR_SENDMSG and k == "client":
                    tl.append((t0, "send", t))
                elif n == NR_RECVFROM and k == "client":
                    tl.append((ts, "reply", t))
                elif n == NR_FSYNC:
                    tl.append((t0, "fsync-" + k, (ts - t0) * 1000))
        elif e == "sched:sched_process_exec":
            tl.append((ts, "exec-" + k + ("-true" if "bin/true" in a else ""), p))
        elif e == "sched:sched_process_fork":
            child = int(re.search(r"child_pid=(\d+)", a).group(1))
            tl.append((ts, "fork-" + kind.get(child, "?"), child))
        elif e == "sched:sched_process_exit":
            tl.append((ts, "exit-" + k, p))
    tl.sort()

    # cut into lifecycles at each client "send" that starts a create (every 4th send)
    sends = [i for i, ev in enumerate(tl) if ev[1] == "send"]
    phases = collections.defaultdict(list)
    fsyncs = collections.defaultdict(list)
    for j in range(0, len(sends) - 3, 4):
        lo = sends[j]
        hi = sends[j + 4] if j + 4 < len(sends) else len(tl)
        cyc = tl[lo:hi]
        replies = [ev[0] for ev in cyc if ev[1] == "reply"]
        send_t = [ev[0] for ev in cyc if ev[1] == "send"]
        if len(replies) < 4 or len(send_t) < 4:
            continue
        first = lambda name: next((ev[0] for ev in cyc if ev[1] == name), None)
        spawn, mon_exec = first("fork-monitor-1"), first("exec-monitor-1")
        mon_fork, cont = first("fork-monitor"), first("fork-container")
        true_exec = first("exec-container-true")
        true_exit, mon_exit = first("exit-container"), first("exit-monitor")
        if None in (spawn, mon_exec, mon_fork, cont, true_exec, true_exit, mon_exit):
            continue
        c0, c1, s0, s1, w0, w1, d0, d1 = (send_t[0], replies[0], send_t[1], replies[1],
                                          send_t[2], replies[2], send_t[3], replies[3])
        ph = phases
        ph["create: request -> monitor spawned (trumand: parse, config+meta written)"].append(spawn - c0)
        ph["create: spawn -> monitor exec'd"].append(mon_exec - spawn)
        ph["create: exec -> monitor forked (dynamic linking, C++ init)"].append(mon_fork - mon_exec)
        ph["create: monitor -> container cloned (read spec, plan, cgroups, seccomp)"].append(cont - mon_fork)
        ph["create: clone -> reply (container set up, state written, report, trumand)"].append(c1 - cont)
        ph["start: request -> /bin/true exec'd"].append(true_exec - s0)
        ph["start: exec -> reply (state 'running' written)"].append(s1 - true_exec)
        ph["wait: /bin/true runs and exits"].append(true_exit - true_exec)
        ph["wait: container exit -> monitor exit (destroy, logs, state written)"].append(mon_exit - true_exit)
        ph["wait: monitor exit -> reply (trumand)"].append(w1 - mon_exit)
        ph["wait: request sent after exit by (negative: waited)"].append(w0 - true_exit)
        ph["delete: request -> reply"].append(d1 - d0)
        ph["total"].append(d1 - c0)
        for ev in cyc:
            if ev[1].startswith("fsync-"):
                fsyncs[ev[1]].append(ev[2])
    n = len(phases["total"])
    print(f"{n} lifecycles traced; phase medians (ms):")
    for name, v in phases.items():
        print(f"  {statistics.median(v) * 1000:8.2f}  {name}")
    for k, v in fsyncs.items():
        print(f"  {k}: {len(v) / max(n, 1):.1f} per lifecycle, median {statistics.median(v):.2f} ms, "
              f"total {sum(v) / max(n, 1):.2f} ms per lifecycle")

    # CPU, run-queue wait and blocked time per kind of process, from sched_switch
    oncpu, runq, blocked = (collections.defaultdict(float) for _ in range(3))
    since_in, since_out = {}, {}
    for c, p, t, ts, e, a in events:
        if e != "sched:sched_switch":
            continue
        m = re.search(r"prev_pid=(\d+) .*prev_state=(\S+) ==> .*next_pid=(\d+)", a)
        prev, state, nxt = int(m.group(1)), m.group(2), int(m.group(3))
        if prev in since_in:
            oncpu[prev] += ts - since_in.pop(prev)
        since_out[prev] = (ts, state)
        since_in[nxt] = ts
        if nxt in since_out:
            t0, s0 = since_out.pop(nxt)
            (runq if s0.startswith("R") else blocked)[nxt] += ts - t0
    per = collections.defaultdict(lambda: [0.0, 0.0, 0.0])
    for tid in set(oncpu) | set(runq) | set(blocked):
        k = kind.get(tid)
        if k in (None, "client"):
            continue
        per[k][0] += oncpu[tid]
        per[k][1] += runq[tid]
        per[k][2] += blocked[tid]
    print("per lifecycle (ms): on CPU / waiting for a CPU / blocked (trumand's blocked time is mostly idle)")
    for k, (a, b, c) in sorted(per.items()):
        print(f"  {k:10} {a * 1000 / max(n, 1):7.2f} {b * 1000 / max(n, 1):7.2f} {c * 1000 / max(n, 1):8.2f}")


if __name__ == "__main__":
    main()
