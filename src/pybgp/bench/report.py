"""The text report of ``pybgp bench reflect``: the table, the ratios, the goals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .reflect import Row

ORDER = ("1x1M", "10x100k", "fanout", "withdraw", "flap-down", "flap-up")
# Issue 4's goals for 1x1M: at least FRR's rate, 10x GoBGP's, under 300 bytes per route.
GOAL_BYTES = 300


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _rows(rows: Sequence[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: ORDER.index(r.scenario) if r.scenario in ORDER else 99)


def render(rows: Sequence[Row], prefixes: int) -> str:
    """The report as Markdown: one table, ratios pybgp / X, goal verdicts, notes."""
    lines = [
        f"Route reflection, N = {prefixes:,} IPv4 /28s, 500 per UPDATE, iBGP, all RR clients",
        "",
        "| scenario | target | seconds | prefixes/s | target CPU s | peak RSS MB "
        "| bytes/route | notes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in _rows(rows):
        name = r.version or r.target
        if r.error:
            lines.append(
                f"| {r.scenario} | {name} | | | | {_fmt(r.peak_rss_mb, '.0f')} | | "
                f"failed: {r.error} |"
            )
            continue
        lines.append(
            f"| {r.scenario} | {name} | {_fmt(r.seconds, '.2f')} | {_fmt(r.rate, ',.0f')} "
            f"| {_fmt(r.cpu_s, '.2f')} | {_fmt(r.peak_rss_mb, '.0f')} "
            f"| {_fmt(r.bytes_per_route, '.0f')} | {r.note} |"
        )
    lines += ["", *ratios(rows), "", *goals(rows), "", *notes()]
    return "\n".join(lines)


def ratios(rows: Sequence[Row]) -> list[str]:
    """pybgp's rate and bytes/route divided by each other target's, per scenario."""
    ok = {(r.target, r.scenario): r for r in rows if not r.error and r.seconds}
    others = sorted({r.target for r in rows} - {"pybgp", "direct"})
    if not others or not any(r.target == "pybgp" for r in rows):
        return ["Ratios pybgp / X: need pybgp and at least one other target"]
    lines = [
        "Ratios pybgp / X (prefixes/s: above 1 = pybgp faster; bytes/route: below 1 = "
        "pybgp smaller)",
        "",
        "| scenario | "
        + " | ".join(f"rate / {o}" for o in others)
        + " | "
        + " | ".join(f"bytes / {o}" for o in others)
        + " |",
        "| --- |" + " --- |" * (2 * len(others)),
    ]
    for scenario in ORDER:
        mine = ok.get(("pybgp", scenario))
        if not any((o, scenario) in ok for o in [*others, "pybgp"]):
            continue
        speed, size = [], []
        for other in others:
            theirs = ok.get((other, scenario))
            if mine and theirs and mine.rate and theirs.rate:
                speed.append(f"{mine.rate / theirs.rate:.2f}")
            else:
                speed.append("-")
            if mine and theirs and mine.bytes_per_route and theirs.bytes_per_route:
                size.append(f"{mine.bytes_per_route / theirs.bytes_per_route:.2f}")
            else:
                size.append("-")
        lines.append(f"| {scenario} | " + " | ".join(speed + size) + " |")
    return lines


def goals(rows: Sequence[Row]) -> list[str]:
    """Issue 4's three goals for pybgp on 1x1M."""
    ok = {r.target: r for r in rows if r.scenario == "1x1M" and not r.error and r.seconds}
    mine = ok.get("pybgp")
    if mine is None or mine.rate is None:
        return ["Goals (1x1M): pybgp not measured"]
    lines = ["Goals (1x1M):"]
    frr, gobgp = ok.get("frr"), ok.get("gobgp")
    if frr and frr.rate:
        verdict = "met" if mine.rate >= frr.rate else "NOT met"
        lines.append(f"- at least FRR's rate: {mine.rate:,.0f} vs {frr.rate:,.0f}/s: {verdict}")
    if gobgp and gobgp.rate:
        verdict = "met" if mine.rate >= 10 * gobgp.rate else "NOT met"
        lines.append(f"- 10x GoBGP: {mine.rate / gobgp.rate:.1f}x: {verdict}")
    if mine.bytes_per_route is not None:
        verdict = "met" if mine.bytes_per_route < GOAL_BYTES else "NOT met"
        lines.append(f"- under {GOAL_BYTES} bytes/route: {mine.bytes_per_route:.0f}: {verdict}")
    return lines


def notes() -> list[str]:
    return [
        "- seconds: first UPDATE sent (flap-down: the TCP close) to the read that completed "
        "the count at the last sink, both on CLOCK_MONOTONIC",
        "- 10x100k: 10 injectors x the same N/10 prefixes, one LOCAL_PREF winner per block of "
        "500; done when the sink's view has the winner's NEXT_HOP everywhere; prefixes/s "
        "counts paths received (N)",
        "- fanout: 1 injector -> 10 sinks, done when the last sink has N",
        "- target CPU: utime + stime over the interval; peak RSS: VmHWM at the end; "
        "bytes/route: VmRSS growth from sessions up to table loaded, / paths held",
        "- direct: no reflector, the sink takes the injector's session itself (calibration)",
    ]
