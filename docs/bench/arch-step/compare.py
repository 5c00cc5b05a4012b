#!/usr/bin/env python3
import sys, glob, os, statistics, importlib.util
spec = importlib.util.spec_from_file_location("ex", "" + os.path.join(os.path.dirname(os.path.abspath(__file__)), "extract.py") + ""); ex = importlib.util.module_from_spec(spec)
import io, contextlib
sys.argv = ["x", "/dev/null"]
with contextlib.redirect_stdout(io.StringIO()): spec.loader.exec_module(ex)
d = os.path.dirname(os.path.abspath(__file__))
runs = [(os.path.basename(f)[:-3], ex.parse(f)) for f in sorted(glob.glob(d + "/run*.md"))]
ROWS = [
 ("Fan-out, maximum rate", "Deliveries per second (/s)", "Fan-out, max rate: deliveries/s", 0, +1, "{:,.0f}"),
 ("Fan-out, maximum rate", "Deliveries per second, Passerelle ÷ bare hub (run by run) (ratio)", "Fan-out, max rate: ÷ bare hub, run by run", 0, +1, "{:.2f}"),
 ("Fan-out, fixed rate", "Latency send → arrival, p99 (ms)", "Fixed 1,000 msg/s: p99 send → arrival (ms)", 0, -1, "{:.1f}"),
 ("Fan-out, fixed rate", "Latency send → arrival, p99 (ms)", "Fixed 1,000 msg/s: p99 ÷ bare hub's p99", 2, -1, "{:.1f}"),
 ("Many small channels", "Deliveries per second (/s)", "Many small channels: deliveries/s", 0, +1, "{:,.0f}"),
 ("Durability", "Acknowledged messages per second, SQLite (msg/s)", "Durable acknowledged msg/s, SQLite", 0, +1, "{:,.0f}"),
 ("Idle connections", "Resident memory per idle connection (KiB)", "Memory per idle connection (KiB)", 0, -1, "{:.1f}"),
 ("Start-up and idle", "Resident memory, idle, just started (MiB)", "Resident memory, idle, just started (MiB)", 0, -1, "{:.1f}"),
 ("Start-up and idle", "Start-up, empty data directory (ms)", "Start-up, empty data directory (ms)", 0, -1, "{:.0f}"),
 ("Start-up and idle", "Start-up with the benchmark's data (ms)", "Start-up with the benchmark's data (ms)", 0, -1, "{:.1f}"),
]
print("| figure | before: fe98fca (runs) | after: 6ae757a (runs) | after ÷ before (medians) | spread between runs of one binary | verdict |")
print("|---|---:|---:|---:|---:|---|")
for scen, fig, label, k, sign, fmt in ROWS:
    b = [r[(scen, fig)][k] for n, r in runs if "before" in n and (scen, fig) in r and r[(scen, fig)][k] is not None]
    a = [r[(scen, fig)][k] for n, r in runs if "after" in n and (scen, fig) in r and r[(scen, fig)][k] is not None]
    if not a or not b: continue
    mb, ma = statistics.median(b), statistics.median(a)
    ratio = ma / mb
    spread = max(max(x) / min(x) for x in (a, b) if len(x) > 1) if max(len(a), len(b)) > 1 else float("nan")
    worse = ratio < 1 if sign > 0 else ratio > 1
    change = (1 / ratio) if sign > 0 else ratio  # ≥ 1 when worse
    if not worse: verdict = "no regression"
    elif change <= spread: verdict = f"worse by {100*(change-1):.0f} %, within the noise"
    else: verdict = f"**worse by {100*(change-1):.0f} %, beyond the noise**"
    fm = lambda xs: ", ".join(fmt.format(x) for x in xs)
    print(f"| {label} | {fmt.format(mb)} ({fm(b)}) | {fmt.format(ma)} ({fm(a)}) | {ratio:.2f}× | {spread:.2f}× | {verdict} |")
