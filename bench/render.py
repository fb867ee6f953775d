#!/usr/bin/env python3
"""Reads the JSON summaries `bench/compare.sh` collected and renders them.

    render.py brief RUN.json          one line about a run (progress log)
    render.py keeps-up RUN.json       exit 0 when a sweep step kept up
    render.py table RESULTS_DIR       the markdown section, on stdout
    render.py splice TABLE.md BENCHMARKS.md
                                      puts the section between the
                                      `<!-- compare:begin -->` and
                                      `<!-- compare:end -->` markers
                                      (appends both when missing)

The summaries' fields are documented on `sse_bench::report::Summary`.
"""

import json
import os
import sys

PEERS = ["hub-memory", "hub-sqlite", "nchan", "axum"]
PEER_NAMES = {
    "hub-memory": "`sse serve`, memory",
    "hub-sqlite": "`sse serve`, SQLite",
    "nchan": "nginx + nchan",
    "axum": "axum `Sse` + broadcast",
}
OURS = ["hub-memory", "hub-sqlite"]
BEGIN = "<!-- compare:begin -->"
END = "<!-- compare:end -->"
HEADING = "## Side by side: `bench/compare.sh`"


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def get(d, *keys):
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def ms(us):
    if us is None:
        return "–"
    v = us / 1000.0
    return f"{v:.2f} ms" if v < 10 else f"{v:.1f} ms" if v < 1000 else f"{v / 1000:.2f} s"


def kb(b):
    return "–" if b is None else f"{b / 1000:.2f} KB"


def us(v):
    return "–" if v is None else f"{v:.2f} µs"


def rate(v):
    if v is None:
        return "–"
    if v >= 1e6:
        return f"{v / 1e6:.2f} M/s"
    if v >= 1e3:
        return f"{v / 1e3:.0f}k/s"
    return f"{v:.0f}/s"


NOISY_PCT = 5.0


def noise(run):
    """` (core 0: N% other work)` when other processes took a noticeable
    share of the server's core during the run, else ""."""
    pct = run.get("core0_other_pct")
    if pct is None or pct <= NOISY_PCT:
        return ""
    return f" †{pct:.0f}%"


def lost_of(s):
    d = s.get("delivery", {})
    return d.get("lost", 0)


def problems(s):
    """Why a run is not clean, in a few words ("" when it is)."""
    if s is None:
        return "no summary"
    out = []
    c = s.get("connect", {})
    if c.get("failed"):
        out.append(f"{c['failed']} failed to connect")
    p = s.get("publish") or {}
    if p.get("errors"):
        out.append(f"{p['errors']} publish errors")
    d = s.get("delivery", {})
    if d.get("lost"):
        out.append(f"{d['lost']:,} lost")
    if d.get("duplicated"):
        out.append(f"{d['duplicated']:,} duplicated")
    if d.get("misrouted"):
        out.append(f"{d['misrouted']} misrouted")
    if d.get("disconnects"):
        out.append("disconnects: " + ", ".join(f"{k} ×{v}" for k, v in d["disconnects"].items()))
    if c.get("reconnect_errors"):
        out.append(f"{sum(c['reconnect_errors'].values())} reconnects failed")
    sr = s.get("slow_resume") or {}
    if sr.get("lost"):
        out.append(f"slow subscribers lost {sr['lost']:,} after resuming")
    if sr.get("reconnect_errors"):
        out.append(f"{sum(sr['reconnect_errors'].values())} slow resumes failed")
    return "; ".join(out)


def step_verdict(s):
    """(kept up?, why not) for one sweep step."""
    if s is None:
        return False, "no summary"
    p = s.get("publish") or {}
    target = p.get("rate_target") or 0
    why = problems(s)
    if why:
        return False, why
    if target and p.get("rate_achieved", 0) < 0.95 * target:
        return False, f"publish slipped ({p.get('rate_achieved', 0):.0f}/s of {target:.0f}/s)"
    offered = s["subscribers"] * p.get("rate_achieved", 0)
    got = get(s, "delivery", "deliveries_per_second") or 0
    if offered and got < 0.9 * offered:
        return False, f"fell behind ({rate(got)} delivered of {rate(offered)} offered)"
    return True, ""


def gen_busy(s):
    """True when the load generator's workers were busy nearly all along:
    then the figure may be the generator's limit, not the server's."""
    cpu = get(s, "generator", "cpu_seconds")
    secs = get(s, "delivery", "seconds") or get(s, "publish", "seconds")
    return bool(cpu and secs and cpu > 0.85 * secs)


def publish_median(runs, peer):
    """The publish run of `peer` with the median publishes/s (the rounds of
    one peer), or None."""
    rs = [r for r in runs if r["scenario"] == "publish" and r["peer"] == peer
          and get(r["summary"], "publish_http", "publishes_per_second") is not None]
    if not rs:
        return None
    rs.sort(key=lambda r: r["summary"]["publish_http"]["publishes_per_second"])
    return rs[(len(rs) - 1) // 2]


def brief(path):
    s = load(path)
    if s is None:
        return "no summary"
    if "publish_http" in s:
        p = s["publish_http"]
        lat = p.get("latency_us") or {}
        return (
            f"{rate(p.get('publishes_per_second'))} publishes, p50 {ms(lat.get('p50'))} p99 {ms(lat.get('p99'))}, "
            f"server CPU {us(get(s, 'server', 'cpu_us_per_publish'))}/publish ({get(s, 'server', 'core_pct') or 0:.0f}% of its core), "
            f"wrk {p.get('load_core_pct') or 0:.0f}% of core 1, {p['non_2xx_3xx']} error answers, {p['socket_errors']} socket errors"
        )
    d = s["delivery"]
    lat = s.get("latency_us") or {}
    srv = s.get("server") or {}
    parts = [f"{s['connect']['connected']}/{s['subscribers']} connected"]
    if s.get("publish"):
        parts.append(f"{rate(d['deliveries_per_second'])} delivered")
        parts.append(f"p50 {ms(lat.get('p50'))} p99 {ms(lat.get('p99'))}")
        parts.append(f"CPU {us(srv.get('cpu_us_per_delivery'))}/delivery")
    parts.append(f"RSS {kb(srv.get('rss_per_subscriber_bytes'))}/sub")
    sr = s.get("slow_resume")
    if sr:
        parts.append(f"slow: {sr['disconnected']} cut, {sr['lost']} lost after resume")
    why = problems(s)
    parts.append("clean" if not why else why)
    return ", ".join(parts)


def table(results):
    runs = []
    with open(os.path.join(results, "manifest.jsonl")) as f:
        for line in f:
            if line.strip():
                m = json.loads(line)
                m["summary"] = load(os.path.join(results, m["name"] + ".json"))
                runs.append(m)
    machine = {}
    with open(os.path.join(results, "machine.txt")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            machine[k] = v
    peers = [p for p in PEERS if any(r["peer"] == p for r in runs)]

    def find_run(scenario, peer, **params):
        for r in runs:
            if r["scenario"] == scenario and r["peer"] == peer and all(
                r["params"].get(k) == v for k, v in params.items()
            ):
                return r
        return None

    def find(scenario, peer, **params):
        r = find_run(scenario, peer, **params)
        return None if r is None else r["summary"]

    out = []
    w = out.append
    quick = machine.get("quick") == "1"
    w(HEADING)
    w("")
    w(BEGIN)
    w("")
    if quick:
        w("**Smoke run (`--quick`): tiny sizes, figures not comparable.**")
        w("")
    w("```")
    w(machine.get("command", "bench/compare.sh"))
    w("```")
    w("")
    w(
        f"{machine.get('date', '?')}; {machine.get('nproc', '?')} CPUs ({machine.get('cpu', '?')}), "
        f"{machine.get('mem', '?')}, Linux {machine.get('kernel', '?')}; {machine.get('rustc', '?')}; "
        f"nginx {machine.get('nginx', '?')}; commit {machine.get('commit', '?')}. "
        f"All runs took {int(machine.get('elapsed', '0')) // 60} min {int(machine.get('elapsed', '0')) % 60} s."
    )
    w("")
    w(
        "Each server is started fresh for every run and pinned to core 0 "
        "(`taskset -c 0`; nginx with one worker); `sse bench` runs on core 1. "
        "RSS and CPU are the server's own, from `/proc` (nginx: master + worker). "
        "Raw JSON of every run is kept under `target/compare/`. "
        f"† marks a run during which other processes took more than {NOISY_PCT:.0f}% of "
        "core 0 (the share is given): its latency and CPU figures are disturbed."
    )
    w("")

    # 1. Idle hold.
    sizes = sorted({r["params"]["n"] for r in runs if r["scenario"] == "idle"})
    if sizes:
        w("### 1. Idle hold: server RSS per subscriber")
        w("")
        w("| peer | " + " | ".join(f"{n:,} held" for n in sizes) + " |")
        w("|---|" + "---:|" * len(sizes))
        for p in peers:
            cells = []
            for n in sizes:
                r = find_run("idle", p, n=n)
                s = None if r is None else r["summary"]
                if s is None:
                    cells.append("–")
                    continue
                c = s["connect"]
                cell = kb(get(s, "server", "rss_per_subscriber_bytes"))
                if c["connected"] < n:
                    cell += f" ({c['connected']:,} connected)"
                cells.append(cell)
            w(f"| {PEER_NAMES[p]} | " + " | ".join(cells) + " |")
        w("")

    # 2. Broadcast sweep.
    bc = [r for r in runs if r["scenario"] == "broadcast"]
    sat = {}
    # (peer, subscribers) whose sweep ended without a failing step: the
    # saturation is then only known to be above the last step.
    open_ended = set()
    busy = set()
    if bc:
        w("### 2. Broadcast, 1 topic: publish rate doubled until a step fails")
        w("")
        w(
            "A step passes when nothing is lost or duplicated, the publisher held "
            "its schedule (≥ 95% of the rate) and deliveries kept pace (≥ 90% of "
            "subscribers × rate per second over the window and the drain). "
            "*Saturation* is the highest passing step's deliveries/s (a lower "
            "bound: the next doubling failed)."
        )
        w("")
        w("| peer | subscribers | updates/s | offered | delivered | CPU per delivery | p50 | p99 | result |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for p in peers:
            for n in sorted({r["params"]["n"] for r in bc}):
                for r in sorted(
                    (r for r in bc if r["peer"] == p and r["params"]["n"] == n),
                    key=lambda r: r["params"]["rate"],
                ):
                    s = r["summary"]
                    ok, why = step_verdict(s)
                    offered = n * r["params"]["rate"]
                    if ok:
                        sat[(p, n)] = max(sat.get((p, n), 0), get(s, "delivery", "deliveries_per_second") or 0)
                        if s and gen_busy(s):
                            busy.add((p, n))
                    note = ("ok" if ok else f"**fails**: {why}") + noise(r)
                    if s and gen_busy(s):
                        note += " (load generator busy)"
                    lat = (s or {}).get("latency_us") or {}
                    w(
                        f"| {PEER_NAMES[p]} | {n:,} | {r['params']['rate']:,} | {rate(offered)} | "
                        f"{rate(get(s, 'delivery', 'deliveries_per_second'))} | "
                        f"{us(get(s, 'server', 'cpu_us_per_delivery'))} | {ms(lat.get('p50'))} | "
                        f"{ms(lat.get('p99'))} | {note} |"
                    )
        w("")
        sizes = sorted({r["params"]["n"] for r in bc})
        for p in peers:
            for n in sizes:
                steps = [r for r in bc if r["peer"] == p and r["params"]["n"] == n]
                if steps and all(step_verdict(r["summary"])[0] for r in steps):
                    open_ended.add((p, n))

        def sat_cell(p, n):
            if (p, n) not in sat:
                return "none passed"
            cell = ("≥ " if (p, n) in open_ended else "") + rate(sat[(p, n)])
            if (p, n) in busy:
                cell += " (load generator busy)"
            return cell

        w("| peer | " + " | ".join(f"saturation, {n:,} subscribers" for n in sizes) + " |")
        w("|---|" + "---:|" * len(sizes))
        for p in peers:
            w(f"| {PEER_NAMES[p]} | " + " | ".join(sat_cell(p, n) for n in sizes) + " |")
        w("")
        w(
            "≥: every step passed, the limit is above the sweep's end. *Load generator busy*: "
            "`sse bench`'s workers used more than 85% of core 1 during the highest passing step, "
            "so the generator, not the server, may have set the limit."
        )
        w("")

    lat_runs = [r for r in runs if r["scenario"] == "latency"]
    if lat_runs:
        prm = lat_runs[0]["params"]
        w(f"### 2b. {prm['n']:,} subscribers, 1 topic, {prm['rate']} updates/s")
        w("")
        w("| peer | p50 | p90 | p99 | p99.9 | max | CPU per delivery | lost / duplicated |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|")
        for p in peers:
            r = find_run("latency", p)
            if r is None:
                continue
            s = r["summary"]
            lat = (s or {}).get("latency_us") or {}
            d = (s or {}).get("delivery") or {}
            w(
                f"| {PEER_NAMES[p]}{noise(r)} | {ms(lat.get('p50'))} | {ms(lat.get('p90'))} | {ms(lat.get('p99'))} | "
                f"{ms(lat.get('p999'))} | {ms(lat.get('max'))} | {us(get(s, 'server', 'cpu_us_per_delivery'))} | "
                f"{d.get('lost', '–')} / {d.get('duplicated', '–')} |"
            )
        w("")

    def simple(scenario, title, extra_head, extra):
        rs = [r for r in runs if r["scenario"] == scenario]
        if not rs:
            return
        w(title(rs[0]["params"]))
        w("")
        w("| peer | delivered | p50 | p99 | CPU per delivery | RSS connected → end | " + extra_head + "problems |")
        w("|---|---:|---:|---:|---:|---:|" + "---|" * (extra_head.count("|") + 1))
        for p in peers:
            r = find_run(scenario, p)
            if r is None or r["summary"] is None:
                continue
            s = r["summary"]
            lat = s.get("latency_us") or {}
            srv = s.get("server") or {}
            mib = lambda k: "?" if srv.get(k) is None else f"{srv[k] / 1024:.1f}"
            w(
                f"| {PEER_NAMES[p]}{noise(r)} | {rate(get(s, 'delivery', 'deliveries_per_second'))} | {ms(lat.get('p50'))} | "
                f"{ms(lat.get('p99'))} | {us(srv.get('cpu_us_per_delivery'))} | "
                f"{mib('rss_connected_kib')} → {mib('rss_end_kib')} MiB | {extra(s)}{problems(s) or 'none'} |"
            )
        w("")

    simple(
        "topics",
        lambda p: f"### 3. Many topics: {p['n']:,} subscribers on {p['topics']:,} topics, {p['rate']:,} updates/s",
        "",
        lambda s: "",
    )
    simple(
        "churn",
        lambda p: (
            f"### 4. Churn: {p['n']:,} subscribers on {p['topics']} topics, {p['rate']} updates/s, "
            f"{p['churn']} subscribers closed and reopened per second\n\n"
            "Churned subscribers miss what is published while they reconnect and are left out "
            "of the loss figures; everyone else must lose nothing."
        ),
        "reconnects | ",
        lambda s: f"{s['connect']['reconnects']:,} ({sum(s['connect']['reconnect_errors'].values())} failed) | ",
    )

    slow = [r for r in runs if r["scenario"] == "slow"]
    if slow:
        prm = slow[0]["params"]
        w(
            f"### 5. Slow consumers: {prm['n']:,} subscribers on 1 topic, {prm['rate']} updates/s of "
            f"{prm['payload']} B; 10% stop reading (4 KB receive buffer), then resume"
        )
        w("")
        w(
            "Others' p99 is the reading subscribers' latency without and with the slow ones. "
            "RSS growth is the server's, from all connected to the largest RSS sampled while "
            "publishing (each second); *per slow subscriber* is the difference between the two "
            "runs divided by the slow subscribers (a store's history grows in both). When "
            "publishing ends the slow subscribers read again and reconnect with `Last-Event-ID` "
            "if the server ended their stream; *lost after resume* counts what they never got."
        )
        w("")
        w("| peer | others' p99, no slow | others' p99, 10% slow | others lost | RSS growth, no slow → 10% slow | per slow subscriber | slow cut by server | lost after resume |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|")
        for p in peers:
            base_run = find_run("slow", p, slow=0)
            run = find_run("slow", p, slow=0.1)
            if run is None or run["summary"] is None:
                continue
            base = None if base_run is None else base_run["summary"]
            s = run["summary"]
            marks = (noise(base_run) if base_run else "") or noise(run)
            srv = s.get("server") or {}
            sr = s.get("slow_resume") or {}
            nslow = sr.get("subscribers") or get(s, "delivery", "slow_subscribers") or 0
            def grew(summary):
                sv = (summary or {}).get("server") or {}
                top = sv.get("rss_publish_peak_kib", sv.get("rss_end_kib"))
                if top is None or sv.get("rss_connected_kib") is None:
                    return None
                return (top - sv["rss_connected_kib"]) * 1024

            g_base, g_slow = grew(base), grew(s)
            growth = None
            if g_base is not None and g_slow is not None and nslow:
                growth = max(0.0, g_slow - g_base) / nslow
            mib = lambda b: "?" if b is None else f"{b / 1048576:.1f} MiB"
            w(
                f"| {PEER_NAMES[p]}{marks} | {ms(get(base, 'latency_us', 'p99'))} | {ms(get(s, 'latency_us', 'p99'))} | "
                f"{get(s, 'delivery', 'lost')} | {mib(g_base)} → {mib(g_slow)} | {kb(growth)} | "
                f"{sr.get('disconnected', '–')} of {nslow} | "
                f"{sr.get('lost', '–'):,} of {sr.get('expected', 0):,} |"
            )
        w("")

    pubs = [r for r in runs if r["scenario"] == "publish"]
    if pubs:
        prm = pubs[0]["params"]
        nrounds = max(r["params"].get("round", 1) for r in pubs)
        w(f"### 6. Publishing: publishes/s through HTTP, {prm['conns']} connections, server on one core")
        w("")
        w(
            "`wrk` on core 1 sends 100-byte publishes round robin over 1,000 topics, nobody "
            "subscribed: the hub's form publish with a bearer token (SQLite durable before the "
            "200), nchan's `POST /pub?id=…`. "
            + (f"Median of {nrounds} rounds per peer (min – max given). " if nrounds > 1 else "")
            + "A load core near 100% means wrk set the pace: the figure is then a lower bound."
        )
        w("")
        w("| peer | publishes/s | min – max | p50 | p99 | server CPU per publish | server core busy | wrk core busy | error answers |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for p in peers:
            r = publish_median(runs, p)
            if r is None:
                continue
            s = r["summary"]
            ph = s["publish_http"]
            all_rates = [get(x["summary"], "publish_http", "publishes_per_second") for x in pubs if x["peer"] == p]
            all_rates = [v for v in all_rates if v is not None]
            lat = ph.get("latency_us") or {}
            errs = ph["non_2xx_3xx"] + ph["socket_errors"]
            w(
                f"| {PEER_NAMES[p]}{noise(r)} | {rate(ph['publishes_per_second'])} | "
                f"{rate(min(all_rates))} – {rate(max(all_rates))} | {ms(lat.get('p50'))} | {ms(lat.get('p99'))} | "
                f"{us(get(s, 'server', 'cpu_us_per_publish'))} | {get(s, 'server', 'core_pct'):.0f}% | "
                f"{ph.get('load_core_pct', 0):.0f}% | {errs or 'none'} |"
            )
        w("")

    # Targets.
    w("### Targets (ratios within this run)")
    w("")
    w("| target | figure | ratio to nchan | met? |")
    w("|---|---|---:|---|")

    def verdict(ok):
        return "–" if ok is None else ("**met**" if ok else "**not met**")

    def ratio_row(label, ours_val, nchan_val, fmt, want, better_low, runs_used=()):
        marks = "".join(noise(r) for r in runs_used if r is not None)
        if marks:
            marks = " (disturbed run:" + marks + ")"
        if ours_val is None or not nchan_val:
            w(f"| {label} | {fmt(ours_val)} vs nchan {fmt(nchan_val)}{marks} | – | – |")
            return
        r = ours_val / nchan_val
        ok = r <= want if better_low else r >= want
        # Three significant digits: a ratio next to its threshold (0.196
        # against 0.2, say) must not round onto the other side.
        w(f"| {label} | {fmt(ours_val)} vs nchan {fmt(nchan_val)}{marks} | {r:.3g}x | {verdict(ok)} |")

    idle_n = max((r["params"]["n"] for r in runs if r["scenario"] == "idle" and r["params"]["n"] <= 10000), default=None)
    for o in OURS:
        if o not in peers:
            continue
        if idle_n:
            ratio_row(
                f"RSS per idle subscriber ({idle_n:,} held), {PEER_NAMES[o]}: ≤ 1/5 of nchan",
                get(find("idle", o, n=idle_n), "server", "rss_per_subscriber_bytes"),
                get(find("idle", "nchan", n=idle_n), "server", "rss_per_subscriber_bytes"),
                kb, 0.2, True,
            )
        for n in sorted({n for (_, n) in sat} | {r["params"]["n"] for r in bc}):
            lower = " (a lower bound)" if (o, n) in open_ended or (o, n) in busy else ""
            ratio_row(
                f"saturation deliveries/s per core, {n:,} subscribers, {PEER_NAMES[o]}: ≥ 3x nchan{lower}",
                sat.get((o, n)), sat.get(("nchan", n)), rate, 3.0, False,
            )
        if lat_runs:
            ratio_row(
                f"p99 publish-to-receive, {lat_runs[0]['params']['n']:,} subs × {lat_runs[0]['params']['rate']}/s, {PEER_NAMES[o]}: ≤ 1/3 of nchan",
                get(find("latency", o), "latency_us", "p99"),
                get(find("latency", "nchan"), "latency_us", "p99"),
                ms, 1 / 3, True, (find_run("latency", o), find_run("latency", "nchan")),
            )
            ratio_row(
                f"CPU per delivery, same run, {PEER_NAMES[o]}: ≤ 0.8x nchan",
                get(find("latency", o), "server", "cpu_us_per_delivery"),
                get(find("latency", "nchan"), "server", "cpu_us_per_delivery"),
                us, 0.8, True, (find_run("latency", o), find_run("latency", "nchan")),
            )
        if pubs:
            want, what = (2.0, "≥ 2x nchan") if o == "hub-memory" else (1.0, "≥ nchan")
            mine, theirs = publish_median(runs, o), publish_median(runs, "nchan")
            wrk_bound = any(
                (get(r["summary"], "publish_http", "load_core_pct") or 0) > 95
                for r in (mine, theirs) if r is not None
            )
            ratio_row(
                f"publishes/s on one core, {pubs[0]['params']['conns']} connections, {PEER_NAMES[o]}: {what}"
                + (" (wrk saturated its core: a lower bound)" if wrk_bound else ""),
                get(mine and mine["summary"], "publish_http", "publishes_per_second"),
                get(theirs and theirs["summary"], "publish_http", "publishes_per_second"),
                rate, want, False, (mine, theirs),
            )
        # No loss anywhere except where the slow-consumer policy cuts, and
        # none after resume. Sweep steps past saturation are expected to fail.
        bad = []
        for r in runs:
            if r["peer"] != o or r["scenario"] in ("broadcast", "publish"):
                continue
            s = r["summary"]
            if s is None:
                bad.append(f"{r['name']}: no summary")
                continue
            if lost_of(s) or get(s, "delivery", "duplicated"):
                bad.append(f"{r['name']}: {problems(s)}")
            sr = s.get("slow_resume")
            if sr and (sr["lost"] or sr["duplicated"]):
                bad.append(f"{r['name']}: {sr['lost']} lost after resume")
        checked = len([r for r in runs if r["peer"] == o and r["scenario"] not in ("broadcast", "publish")])
        if not checked:
            continue
        figure = "; ".join(bad) if bad else f"0 lost in {checked} runs, slow subscribers included after resuming"
        w(
            f"| no lost events, {PEER_NAMES[o]} (every scenario but the sweep, whose last step fails by design) | "
            f"{figure} | – | {verdict(not bad)} |"
        )
    w("")
    w(END)
    return "\n".join(out) + "\n"


def splice(table_path, bench_path):
    with open(table_path) as f:
        section = f.read()
    with open(bench_path) as f:
        doc = f.read()
    if BEGIN in doc and END in doc:
        # Replace from the heading (when it directly precedes the marker)
        # through the end marker, so the heading is not doubled.
        start = doc.index(BEGIN)
        head_at = doc.rfind(HEADING, 0, start)
        if head_at != -1 and doc[head_at + len(HEADING):start].strip() == "":
            start = head_at
        end = doc.index(END) + len(END)
        doc = doc[:start] + section.rstrip("\n") + doc[end:]
    else:
        doc = doc.rstrip("\n") + "\n\n" + section
    with open(bench_path, "w") as f:
        f.write(doc)


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 64
    cmd = argv[1]
    if cmd == "brief":
        print(brief(argv[2]))
    elif cmd == "keeps-up":
        ok, why = step_verdict(load(argv[2]))
        if not ok:
            print(f"step failed: {why}", file=sys.stderr)
        return 0 if ok else 1
    elif cmd == "table":
        sys.stdout.write(table(argv[2]))
    elif cmd == "splice" and len(argv) == 4:
        splice(argv[2], argv[3])
    else:
        print(__doc__, file=sys.stderr)
        return 64
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
