#!/usr/bin/python3
"""The paper's test topology (its lb-topology.py, section 3.7) in Mininet, for Fulcrum.

One switch; clients c1..cN (10.0.0.1..); three servers b1, b2, b3
(10.0.0.11-13), each running a CPU-working web server
(experiments/web_server.py) and fulcrum-agent, each in its own cgroup v1 with
a CPU quota (equal shares as the paper, or unequal to model heterogeneous
servers), with an optional delay on its link (tools/netdelay: this kernel has
no sch_netem, so TCLink(delay=...) cannot be used). The switch is Open vSwitch
with the userspace datapath (datapath=user), so no OVS kernel module is needed.
VIP 10.0.0.100. Needs root, Debian's `mininet` package, and a built tree.

From a script (starts Fulcrum too; --cli for the Mininet prompt instead of httperf):

    experiments/lb_topology.py --policy combined --delays 0,50,80 --shares 20,20,20 --httperf 200,50
    experiments/lb_topology.py --policy round-robin --shares 10,20,40 --cli

With mn (start Fulcrum yourself; the lbsetup test starts the servers, agents
and delays, then opens the CLI):

    fulcrum --listen 127.0.0.1:6653 --vip 10.0.0.100 --backends 10.0.0.11,10.0.0.12,10.0.0.13 \\
            --policy combined --agent-key-file /tmp/lb.key &
    mn --custom experiments/lb_topology.py --topo lb,clients=1 \\
       --switch ovs,datapath=user,protocols=OpenFlow13 --controller remote,ip=127.0.0.1,port=6653 \\
       --test lbsetup                 # LB_DELAYS=0,50,80 LB_SHARES=20,20,20 LB_KEY=/tmp/lb.key in the environment

A link delay D means D in each direction, as Mininet's TCLink(delay=D), so the
round trip grows by 2D; netdelay holds the server's ingress packets for 2D
(--delay-mode oneway: D). See docs/EXPERIMENTS.md.
"""
import argparse
import fcntl
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

from mininet.log import info, setLogLevel
from mininet.net import Mininet
from mininet.node import OVSSwitch, RemoteController
from mininet.topo import Topo

try:
    HERE = os.path.dirname(os.path.abspath(__file__))
except NameError:  # `mn --custom` exec()s this file without __file__
    HERE = next((os.path.dirname(os.path.abspath(a)) for a in sys.argv if a.endswith("lb_topology.py")), os.getcwd())
SRC = os.path.dirname(HERE)
VIP = "10.0.0.100"
SERVERS = ["b1", "b2", "b3"]
SERVER_IP = {"b1": "10.0.0.11", "b2": "10.0.0.12", "b3": "10.0.0.13"}
CG_CTRLS = ["cpu", "cpuacct", "memory"]


class LBTopo(Topo):
    """One switch s1, `clients` clients and three servers."""

    def build(self, clients=1):
        s1 = self.addSwitch("s1", dpid="0000000000000001")
        for i in range(1, int(clients) + 1):
            self.addLink(self.addHost(f"c{i}", ip=f"10.0.0.{i}/24", mac=f"00:00:00:00:00:{i:02x}"), s1,
                         port2=i)
        for k, b in enumerate(SERVERS):
            self.addLink(self.addHost(b, ip=SERVER_IP[b] + "/24", mac=f"00:00:00:00:00:{0x11 + k:02x}"), s1,
                         port2=11 + k)


topos = {"lb": LBTopo}


def cg_mount(ctrl):
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            p, q = pre.split(), post.split()
            if q[0] == "cgroup" and p[3] == "/" and ctrl in q[2].split(","):
                return p[4]
    return None


class Lab:
    """Everything the experiment adds to a started Mininet network; undone by stop()."""

    def __init__(self, net, shares, delays, key, bindir, delay_mode="link", work=10000, period_us=10000):
        self.net, self.shares, self.delays, self.key = net, shares, delays, key
        self.bindir, self.delay_mode, self.work, self.period = bindir, delay_mode, work, period_us
        self.procs, self.cgroups = [], []

    def prepare_links(self):
        # Offloads off on both ends of every veth, no IPv6 (see TESTBED-NOTES).
        for h in self.net.hosts:
            h.cmd("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1")
            for intf in h.intfList():
                h.cmd(f"ethtool -K {intf} rx off tx off sg off tso off gso off gro off")
        for sw in self.net.switches:
            for intf in sw.intfList():
                if intf.name != "lo":
                    subprocess.call(["ethtool", "-K", intf.name, "rx", "off", "tx", "off", "sg", "off", "tso", "off",
                                     "gso", "off", "gro", "off"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    subprocess.call(["sysctl", "-qw", f"net.ipv6.conf.{intf.name}.disable_ipv6=1"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.call(["ovs-vsctl", "set", "bridge", sw.name, "other-config:disable-in-band=true"])

    def cg_dirs(self, b):
        return sorted({os.path.join(cg_mount(c), f"fulcrum-mn-{b}") for c in CG_CTRLS})

    def start(self):
        self.prepare_links()
        for k, b in enumerate(SERVERS):
            host = self.net.get(b)
            dirs = self.cg_dirs(b)
            for d in dirs:
                os.makedirs(d, exist_ok=True)
                self.cgroups.append(d)
            cpu = os.path.join(cg_mount("cpu"), f"fulcrum-mn-{b}")
            open(os.path.join(cpu, "cpu.cfs_quota_us"), "w").write("-1")
            open(os.path.join(cpu, "cpu.cfs_period_us"), "w").write(str(self.period))
            open(os.path.join(cpu, "cpu.cfs_quota_us"), "w").write(str(self.period * self.shares[k] // 100))
            join = " ".join(f"echo $$ > {d}/cgroup.procs;" for d in dirs)
            self.popen(host, ["sh", "-c", f"{join} exec /usr/bin/python3 {HERE}/web_server.py {b} --port 80 "
                                          f"--work {self.work}"], f"web-{b}")
            self.popen(host, [os.path.join(self.bindir, "fulcrum-agent"), "--vip", VIP, "--key-file", self.key,
                              "--cgroup", f"v1:/fulcrum-mn-{b}"], f"agent-{b}")
            if self.delays[k] > 0:
                hold = self.delays[k] * (2 if self.delay_mode == "link" else 1)
                self.popen(host, [os.path.join(self.bindir, "netdelay"), "--delay-ms", str(hold), "--queue", "0",
                                  "--iface", f"{b}-eth0"], f"netdelay-{b}")
        info(f"*** servers, agents, delays started (shares {self.shares} %, delays {self.delays} ms)\n")

    def popen(self, host, argv, name):
        # nsenter into the host's network namespace only: a Mininet host's own
        # shell sees another /sys, without /sys/fs/cgroup (the agent and the
        # cgroup join need it), as `ip netns exec` does (see tests/e2e/lib/dynamic.sh).
        log = open(os.path.join(tempfile.gettempdir(), f"lb-{name}.log"), "w")
        self.procs.append(subprocess.Popen(["nsenter", f"--net=/proc/{host.pid}/ns/net", "--"] + argv,
                                           stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT))

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        for d in self.cgroups:
            for _ in range(20):
                try:
                    for pid in open(os.path.join(d, "cgroup.procs")).read().split():
                        open(os.path.join(os.path.dirname(d), "cgroup.procs"), "w").write(pid)
                    os.rmdir(d)
                    break
                except OSError:
                    time.sleep(0.1)


def ints(text):
    return [int(x) for x in re.split("[,:/]", text) if x != ""]


def lbsetup(net):
    """mn --test lbsetup: servers, agents and delays from LB_SHARES, LB_DELAYS, LB_KEY, LB_BINDIR;
    LB_WARMUP seconds (default 6) for health checks and reports; then the CLI."""
    from mininet.cli import CLI
    lab = Lab(net, ints(os.environ.get("LB_SHARES", "20,20,20")), ints(os.environ.get("LB_DELAYS", "0,0,0")),
              os.environ.get("LB_KEY", "/tmp/lb.key"), os.environ.get("LB_BINDIR", os.path.join(SRC, "build/release/bin")))
    lab.start()
    # Fulcrum's health checks (rise 2, every 2 s) and the agents' first reports.
    warmup = float(os.environ.get("LB_WARMUP", "6"))
    info(f"*** waiting {warmup} s for health checks and agent reports\n")
    time.sleep(warmup)
    try:
        CLI(net)
    finally:
        lab.stop()


tests = {"lbsetup": lbsetup}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--policy", default="combined")
    ap.add_argument("--shares", default="20,20,20", help="CPU %% of one CPU for b1,b2,b3")
    ap.add_argument("--delays", default="0,0,0", help="link delay (ms) of b1,b2,b3")
    ap.add_argument("--delay-mode", choices=["link", "oneway"], default="link")
    ap.add_argument("--clients", type=int, default=1)
    ap.add_argument("--bindir", default=os.path.join(SRC, "build/release/bin"))
    ap.add_argument("--port", type=int, default=6653, help="Fulcrum's port on 127.0.0.1")
    ap.add_argument("--work", type=int, default=10000)
    ap.add_argument("--warmup", type=float, default=4.0, help="seconds of reports and probes before the load")
    ap.add_argument("--httperf", metavar="CONNS,RATE", help="run httperf from c1 against the VIP and print it")
    ap.add_argument("--cli", action="store_true", help="open the Mininet CLI instead")
    ap.add_argument("--pingall", action="store_true", help="pingall first, as the paper did")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("lb_topology.py: run as root")
    setLogLevel("info")
    if subprocess.call(["ovs-vsctl", "--timeout=5", "show"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
        subprocess.check_call(["/usr/share/openvswitch/scripts/ovs-ctl", "start", "--system-id=random"])
    # One testbed at a time on this machine (tests/e2e/lib/testbed.sh takes the same lock).
    lock = open("/run/lock/fulcrum-e2e.lock", "a")
    deadline = time.time() + 600
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.time() > deadline:
                sys.exit("lb_topology.py: /run/lock/fulcrum-e2e.lock held by another run for 600 s")
            time.sleep(0.5)
    tmp = tempfile.mkdtemp(prefix="lb-topology-")
    key = os.path.join(tmp, "agent.key")
    with open(os.open(key, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(os.urandom(32).hex())
    flog = open(os.path.join(tmp, "fulcrum.log"), "w")
    fulcrum = subprocess.Popen([os.path.join(a.bindir, "fulcrum"), "--listen", f"127.0.0.1:{a.port}", "--vip", VIP,
                                "--backends", ",".join(SERVER_IP[b] for b in SERVERS), "--policy", a.policy,
                                "--agent-key-file", key, "--metrics-log-interval", "1"], stdout=flog,
                               stderr=subprocess.STDOUT)
    switch = lambda name, **kw: OVSSwitch(name, datapath="user", protocols="OpenFlow13", failMode="secure", **kw)  # noqa: E731
    net = Mininet(topo=LBTopo(clients=a.clients), switch=switch, autoSetMacs=False,
                  controller=lambda name: RemoteController(name, ip="127.0.0.1", port=a.port))
    lab = Lab(net, ints(a.shares), ints(a.delays), key, a.bindir, a.delay_mode, a.work)
    rc = 0
    try:
        net.start()
        lab.start()
        deadline = time.time() + 20
        while time.time() < deadline and open(flog.name).read().count("backend learned") < 3:
            time.sleep(0.2)
        time.sleep(a.warmup)
        if a.pingall:
            net.pingAll(timeout=1)
        if a.cli:
            from mininet.cli import CLI
            CLI(net)
        elif a.httperf:
            n, r = a.httperf.split(",")
            out = net.get("c1").cmd(f"timeout {int(int(n) / float(r)) + 30} httperf --hog --server {VIP} --port 80 "
                                    f"--uri / --num-conns {n} --num-calls 1 --rate {r} --timeout 5 -v -v")
            print(out)
            counts = {}
            for b in SERVERS:
                path = os.path.join(tempfile.gettempdir(), f"lb-web-{b}.log")
                counts[b] = sum(1 for line in open(path) if line.startswith(f"{b} GET "))
            print("requests per server: " + " ".join(f"{b}={c}" for b, c in counts.items()))
            rc = 0 if "Reply time" in out else 1
    finally:
        lab.stop()
        net.stop()
        fulcrum.terminate()
        try:
            fulcrum.wait(timeout=5)
        except subprocess.TimeoutExpired:
            fulcrum.kill()
        print(f"fulcrum log: {flog.name}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
