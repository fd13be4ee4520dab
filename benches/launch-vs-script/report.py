"""The markdown report of a benchmark run (`results.json` from run.py).

    python3 report.py /tmp/provisio-bench/results.json     # re-render a finished run
"""

import collections
import json
import statistics
import sys

import counts
import endstate

SERVICES = ["s3", "ec2", "route53", "secretsmanager", "postgres", "git"]
# Resources per tenant of each service in the blueprint: the bound "at most one read per
# resource" of a no-change re-apply with refresh.
RESOURCES = {"s3": 2, "ec2": 1, "route53": 3, "secretsmanager": 3, "postgres": 3, "git": 4}


def phase_counts(rounds, side, phase):
    """Per round: the counts of one side's phase (rounds where the phase ran)."""
    out = []
    for r in rounds:
        if r["side"] == side and phase in r["phases"]:
            out.append(counts.from_rows(r["phases"][phase]["counts"]))
    return out


def per_tenant(counter, tenants, service, rw):
    n = sum(v for (s, _, k), v in counter.items() if s == service and k == rw)
    return n / tenants


def fmt(x):
    return f"{x:.2f}".rstrip("0").rstrip(".") if x else "0"


def consistent(per_round):
    """The first round's counts, and whether every round counted the same."""
    if not per_round:
        return collections.Counter(), True
    return per_round[0], all(c == per_round[0] for c in per_round[1:])


def walls_table(results):
    lines = ["| round | first | script (s) | provisio fleet apply (s) | provisio / script |",
             "|---|---|---|---|---|"]
    ratios = []
    by_round = collections.defaultdict(dict)
    for r in results["rounds"]:
        by_round[r["round"]][r["side"]] = r
    for n, sides in sorted(by_round.items()):
        if "script" not in sides or "provisio" not in sides:
            continue
        s = sides["script"]["phases"]["launch"]["wall_s"]
        p = sides["provisio"]["phases"]["launch"]["wall_s"]
        first = min(sides.values(), key=lambda r: r["order"])["side"]
        ratios.append(p / s)
        lines.append(f"| {n} | {first} | {s:.2f} | {p:.2f} | {p / s:.3f} |")
    if ratios:
        lines.append(f"| **median** | | | | **{statistics.median(ratios):.3f}** |")
    return lines, ratios


def launch_table(results):
    t = results["tenants"]
    script, s_same = consistent(phase_counts(results["rounds"], "script", "launch"))
    prov, p_same = consistent(phase_counts(results["rounds"], "provisio", "launch"))
    lines = ["| service | script reads | script writes | provisio reads | provisio writes |",
             "|---|---|---|---|---|"]
    totals = collections.Counter()
    for svc in SERVICES:
        row = [per_tenant(c, t, svc, rw) for c in (script, prov) for rw in ("read", "write")]
        for i, v in enumerate(row):
            totals[i] += v
        lines.append(f"| {svc} | " + " | ".join(fmt(v) for v in row) + " |")
    lines.append("| **all** | " + " | ".join(f"**{fmt(totals[i])}**" for i in range(4)) + " |")
    extra = [per_tenant(c, t, "postgres", k) for c in (script, prov) for k in ("control", "connect")]
    lines.append(f"| postgres BEGIN/COMMIT/SET | {fmt(extra[0])} | | {fmt(extra[2])} | |")
    lines.append(f"| postgres connections | {fmt(extra[1])} | | {fmt(extra[3])} | |")
    note = "" if s_same and p_same else (
        "\nThe counts differed between rounds (retries?); the table shows round 0's; "
        "`results.json` has every round.\n")
    return lines, note


def reapply_table(results):
    t = results["tenants"]
    phases = [p for p in ("reapply-fleet", "reapply-refresh")
              if phase_counts(results["rounds"], "provisio", p)]
    if not phases:
        return []
    names = {"reapply-fleet": "fleet apply again (no refresh)",
             "reapply-refresh": "apply with refresh" + (
                 " (fleet apply --refresh)" if results.get("fleet_has_refresh")
                 else " (`provisio apply` per tenant)")}
    head = "| service | resources | " + " | ".join(
        f"{names[p]} reads | writes" for p in phases) + " |"
    lines = [head, "|---|---|" + "---|---|" * len(phases)]
    data = {p: consistent(phase_counts(results["rounds"], "provisio", p))[0] for p in phases}
    for svc in SERVICES:
        cells = []
        for p in phases:
            cells += [fmt(per_tenant(data[p], t, svc, "read")), fmt(per_tenant(data[p], t, svc, "write"))]
        lines.append(f"| {svc} | {RESOURCES[svc]} | " + " | ".join(cells) + " |")
    cells = []
    for p in phases:
        cells += [fmt(per_tenant(data[p], t, "postgres", "connect")), ""]
    lines.append("| postgres connections | | " + " | ".join(cells) + " |")
    walls = []
    for p in phases:
        w = [r["phases"][p]["wall_s"] for r in results["rounds"] if p in r["phases"]]
        walls.append(f"{names[p]}: {statistics.median(w):.2f} s (median of {len(w)})")
    return lines + ["", "Wall time for all tenants: " + "; ".join(walls) + "."]


def cpu_table(results):
    lines = ["| round | side | phase | wall (s) | moto CPU (s) | PostgreSQL CPU (s) | sshd + git CPU (s) | client CPU (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results["rounds"]:
        for phase, p in r["phases"].items():
            c = p["cpu_s"]
            lines.append(f"| {r['round']} | {r['side']} | {phase} | {p['wall_s']:.2f} | {c['moto']:.2f} | "
                         f"{c['postgres']:.2f} | {c['sshd']:.2f} | {c['client']:.2f} |")
    return lines


def operations_table(results, phase="launch"):
    t = results["tenants"]
    script, _ = consistent(phase_counts(results["rounds"], "script", phase))
    prov, _ = consistent(phase_counts(results["rounds"], "provisio", phase))
    keys = sorted(set(script) | set(prov))
    lines = ["| service | operation | read/write | script per tenant | provisio per tenant |",
             "|---|---|---|---|---|"]
    for key in keys:
        s, o, rw = key
        lines.append(f"| {s} | `{o}` | {rw} | {fmt(script[key] / t)} | {fmt(prov[key] / t)} |")
    return lines


def markdown(results):
    out = [f"# Launch benchmark: {results['tenants']} tenants, {len({r['round'] for r in results['rounds']})} round(s)",
           "",
           f"Started {results['started']}; load average before {' '.join(results['loadavg_before'])}, "
           f"after {' '.join(results['loadavg_after'])}. provisio: `{results['provisio']}`, "
           f"`fleet apply --concurrency {results['concurrency']}`; the script: sequential.",
           "", "## Wall time (fresh servers per side)", ""]
    walls, _ = walls_table(results)
    out += walls
    out += ["", "## Requests per tenant, first launch (counted on the servers)", ""]
    lines, note = launch_table(results)
    out += lines
    out.append(note)
    reapply = reapply_table(results)
    if reapply:
        out += ["", "## provisio re-apply with nothing to change, per tenant", ""] + reapply
    out += ["", "## Time and CPU seconds per phase", ""] + cpu_table(results)
    out += ["", "## Every operation, first launch, per tenant", ""] + operations_table(results)
    if any(phase_counts(results["rounds"], "provisio", "reapply-refresh")):
        out += ["", "## Every operation of provisio's re-apply with refresh, per tenant", ""]
        prov, _ = consistent(phase_counts(results["rounds"], "provisio", "reapply-refresh"))
        out += ["| service | operation | read/write | per tenant |", "|---|---|---|---|"]
        out += [f"| {s} | `{o}` | {rw} | {fmt(n / results['tenants'])} |"
                for (s, o, rw), n in sorted(prov.items())]
    out += ["", "## End state, script vs provisio", ""]
    for e in results.get("endstate", []):
        diffs = [d for d in e["differences"] if not endstate.expected(d)]
        by_design = sorted({endstate.expected(d) for d in e["differences"] if endstate.expected(d)})
        out.append(f"Round {e['round']}, first {e['tenants']} tenants (script != provisio): "
                   + ("identical" if not diffs else f"{len(diffs)} unexpected differences")
                   + (f"; by design: {'; '.join(by_design)}." if by_design else "."))
        out += [f"- `{d}`" for d in diffs]
    failures = [f for r in results["rounds"] for f in r["failures"]]
    if failures:
        out += ["", "## Failures", ""] + [f"- {f}" for f in failures]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(markdown(json.load(open(sys.argv[1]))))
