#!/usr/bin/env python3
"""Pulls the main figures out of passerelle-bench's Markdown tables and compares runs."""
import re, sys, glob, os, statistics
WANT = [
 ("Fan-out, maximum rate", "Deliveries per second (/s)", "fan-out max rate, deliveries/s", "P"),
 ("Fan-out, maximum rate", "Deliveries per second (/s)", "  bare hub, same run, deliveries/s", "B"),
 ("Fan-out, maximum rate", "Deliveries per second, Passerelle ÷ bare hub (run by run) (ratio)", "fan-out max rate ÷ bare hub (run by run)", "P"),
 ("Fan-out, maximum rate", "Deliveries per second (/s)", "fan-out max rate ÷ bare hub (medians)", "R"),
 ("Fan-out, fixed rate", "Latency send → arrival, p99 (ms)", "fixed 1,000 msg/s, p99 send→arrival (ms)", "P"),
 ("Fan-out, fixed rate", "Latency send → arrival, p99 (ms)", "  bare hub, same run (ms)", "B"),
 ("Fan-out, fixed rate", "Messages acknowledged per second (1,000 offered) (msg/s)", "fixed rate, acknowledged msg/s", "P"),
 ("Many small channels", "Deliveries per second (/s)", "small channels, deliveries/s", "P"),
 ("Many small channels", "Deliveries per second (/s)", "small channels ÷ bare hub (medians)", "R"),
 ("Durability", "Acknowledged messages per second, SQLite (msg/s)", "durable acknowledged msg/s, SQLite", "P"),
 ("Idle connections", "Resident memory per idle connection (KiB)", "memory per idle connection (KiB)", "P"),
 ("Idle connections", "Resident memory per idle connection (KiB)", "  bare hub, same run (KiB)", "B"),
 ("Start-up and idle", "Start-up, empty data directory (ms)", "start-up, empty data directory (ms)", "P"),
 ("Start-up and idle", "Start-up with the benchmark's data (ms)", "start-up with the benchmark's data (ms)", "P"),
 ("Start-up and idle", "Resident memory, idle, just started (MiB)", "resident memory, idle, just started (MiB)", "P"),
]
def num(cell):
    m = re.match(r"\s*([\d\s  .,]+?)\s*(\(|$)", cell)
    if not m: return None
    s = m.group(1).replace("\u202f","").replace("\u00a0","").replace(" ","").replace(",","")
    try: return float(s)
    except ValueError: return None
def parse(path):
    figs = {}; scen = None
    for line in open(path, encoding="utf-8"):
        if not line.startswith("| "): continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4: continue
        if cells[0].startswith("**"): scen = cells[0].strip("*")
        figs[(scen, cells[1])] = (num(cells[2]), num(cells[3]), num(cells[4].rstrip("×")))
    return figs
def main():
    d = sys.argv[1]
    files = sorted(glob.glob(os.path.join(d, "run*.md")))
    runs = [(os.path.basename(f)[:-3], parse(f)) for f in files]
    print("| figure | " + " | ".join(n for n, _ in runs) + " |")
    print("|---|" + "---:|" * len(runs))
    for scen, fig, label, col in WANT:
        vals = []
        for _, r in runs:
            v = r.get((scen, fig))
            k = {"P": 0, "B": 1, "R": 2}[col]
            vals.append("–" if v is None or v[k] is None else f"{v[k]:g}")
        print(f"| {label} | " + " | ".join(vals) + " |")
main()
