"""Compare Bingo's cron parser with robfig/cron v3, the original Go service's, on random specs.

Generates random specs (fields, ranges, steps, lists, names, descriptors, ``@every``,
``CRON_TZ=``), asks both parsers for the next fire times of each in a random zone from a
random start (often just before a daylight-saving change), and prints how many agree and,
for every difference, which kind it is. See README.md beside this file for how to run it.

Kinds of difference:

- ``dst``: both read the spec the same way (they agree in a fixed-offset zone), and every
  instant that differs lies within a day of an offset change: our documented DST policy
  against robfig's (which skips a time in a spring-forward gap and fires a fixed-hour time
  twice at fall-back);
- ``every-phase``: ``@every`` with the same interval on both sides, ticks counted from the
  epoch here and from the start in robfig;
- ``only-here``: robfig refuses the spec, Bingo accepts it (extra syntax);
- ``only-robfig``: robfig accepts the spec, Bingo refuses it;
- ``unexplained``: anything else. The script exits 1 when there is one.
"""

from __future__ import annotations

import argparse
import bisect
import collections
import functools
import itertools
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bingo_core.errors import CronSpecError
from bingo_core.scheduler.cron import parse_spec

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import smoke  # noqa: E402 - bench/ is put on sys.path just above

#: Where Debian's golang-github-robfig-cron-dev puts robfig/cron v3.
DEBIAN_SOURCE = Path("/usr/share/gocode/src/github.com/robfig/cron")
SMOKE = {"count": 300, "examples": 1}
GO_SOURCE = HERE / "robfig_next.go"
GO_MOD = """\
module cronrobfig

go 1.19

require github.com/robfig/cron/v3 v3.0.1
"""

ZONES = [
    "UTC",
    "Asia/Shanghai",
    "America/New_York",
    "Europe/London",
    "Europe/Berlin",
    "Australia/Sydney",
    "Australia/Lord_Howe",  # half-hour DST
    "America/Santiago",  # changes at midnight
    "America/Havana",  # changes at midnight
    "America/Sao_Paulo",  # changed at midnight until 2019
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "Africa/Casablanca",
    "Antarctica/Troll",  # two-hour shift
    "America/St_Johns",
]
FIRST_YEAR, LAST_YEAR = 2017, 2030
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
#: (lowest, highest, names) per field, seconds first, with robfig's bounds.
BOUNDS = [(0, 59, None), (0, 59, None), (0, 23, None), (1, 31, None), (1, 12, MONTHS), (0, 6, DAYS)]
DAY = 86400


# -- random specs -----------------------------------------------------------------------------


def _case(rng: random.Random, name: str) -> str:
    roll = rng.random()
    return name.upper() if roll < 0.15 else name.capitalize() if roll < 0.3 else name


def _value(rng: random.Random, index: int, lo: int, hi: int, names: list[str] | None) -> str:
    if names and rng.random() < 0.3:
        return _case(rng, names[rng.randint(lo, hi) - lo])
    roll = rng.random()
    if roll < 0.03:
        return str(rng.choice([hi + 1, hi + rng.randint(2, 40), lo - 1 if lo else hi + 1]))
    if index == 5 and roll < 0.08:
        return "7"  # Sunday again in Vixie cron; out of range in robfig
    number = rng.randint(lo, hi)
    if roll > 0.97:
        return f"0{number}"
    if roll > 0.96:
        return f"+{number}"
    return str(number)


def _step(rng: random.Random) -> str:
    return str(rng.choice([1, 2, 2, 3, 4, 5, 5, 6, 7, 10, 12, 15, 15, 20, 30, 45, 0, 61, 100]))


def _part(rng: random.Random, index: int) -> str:
    lo, hi, names = BOUNDS[index]
    roll = rng.random()
    if roll < 0.16:
        return "*"
    if roll < 0.18:
        return "?"
    if roll < 0.5:
        return _value(rng, index, lo, hi, names)
    if roll < 0.66:
        a, b = sorted(rng.sample(range(lo, hi + 1), 2))
        if rng.random() < 0.12:
            a, b = b, a  # reversed
        if names and rng.random() < 0.3:
            return f"{_case(rng, names[a - lo])}-{_case(rng, names[b - lo])}"
        return f"{a}-{b}"
    if roll < 0.8:
        return f"*/{_step(rng)}"
    if roll < 0.87:
        a, b = sorted(rng.sample(range(lo, hi + 1), 2))
        return f"{a}-{b}/{_step(rng)}"
    if roll < 0.93:
        return f"{rng.randint(lo, hi)}/{_step(rng)}"
    if roll < 0.975:
        if index == 3:
            return rng.choice(["L", "l", "15W", "LW"])
        if index == 5:
            day = rng.randint(0, 6)
            return rng.choice([f"{day}#{rng.randint(1, 5)}", f"L{day}", f"{day}L", "L"])
        return _value(rng, index, lo, hi, names)
    return rng.choice(
        ["", "-", "5-", "-5", "1-2-3", "*/", "a", "1/2/3", "*-5", "0x10", "\u0661"]
    )  # the last: an Arabic-Indic one


def _field(rng: random.Random, index: int) -> str:
    roll = rng.random()
    count = 1 if roll < 0.72 else 2 if roll < 0.92 else 3
    parts = [_part(rng, index) for _ in range(count)]
    if count > 1 and rng.random() < 0.25:
        parts[rng.randrange(count)] = "*"  # a star inside a list
    if rng.random() < 0.01:
        parts.insert(rng.randint(0, len(parts)), "")  # an empty list item
    return ",".join(parts)


def _fixed_or_field(rng: random.Random, index: int, fixed: float) -> str:
    """Mostly a single number: a spec with every field wide open fires every second."""
    lo, hi, _ = BOUNDS[index]
    return str(rng.randint(lo, hi)) if rng.random() < fixed else _field(rng, index)


def _duration(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.45:
        unit = rng.choice(["s", "m", "h"])
        top = {"s": 7200, "m": 600, "h": 48}[unit]
        return f"{rng.randint(1, top)}{unit}"
    if roll < 0.6:
        return f"{rng.randint(1, 5)}h{rng.randint(1, 59)}m" + (
            f"{rng.randint(1, 59)}s" if rng.random() < 0.4 else ""
        )
    if roll < 0.72:  # sub-second parts
        return rng.choice(
            [
                f"{rng.randint(1, 90)}.{rng.randint(1, 9)}s",
                f"{rng.randint(1, 20)}s{rng.randint(1, 999)}ms",
                f"{rng.randint(1, 20)}s{rng.randint(1, 999)}ns",
                f"{rng.randint(1, 20)}s{rng.randint(1, 999)}us",
                f"{rng.randint(1, 20)}s{rng.randint(1, 999)}µs",
                f"{rng.randint(1, 9)}.{rng.randint(1, 99)}m",
                f".{rng.randint(1, 9)}h",
            ]
        )
    if roll < 0.8:  # under a second
        return rng.choice(["500ms", "999ms", "1ns", "0.5s", "250ms", "999999999ns", "1000ms"])
    return rng.choice(["0s", "0", "300", "1d", "-5s", "+5s", "5S", "1h-5m", "soon", "", " 5s"])


def _descriptor(rng: random.Random) -> str:
    name = rng.choice(["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight"])
    roll = rng.random()
    if roll < 0.1:
        return rng.choice(["@hourly", "@HOURLY", "@Daily", "@reboot", "@every", "@weekly 5"])
    return name.upper() if roll < 0.2 else name


def random_spec(rng: random.Random) -> str:
    """One random spec, valid or not, of any form the two parsers know."""
    roll = rng.random()
    if roll < 0.62:
        fixed = [0.5, 0.35, 0.25, 0.15, 0.1]
        text = " ".join(_fixed_or_field(rng, i + 1, fixed[i]) for i in range(5))
    elif roll < 0.76:
        fixed = [0.7, 0.5, 0.35, 0.25, 0.15, 0.1]
        text = " ".join(_fixed_or_field(rng, i, fixed[i]) for i in range(6))
    elif roll < 0.85:
        text = "@every " + _duration(rng)
    elif roll < 0.93:
        text = _descriptor(rng)
    elif roll < 0.99:
        text = " ".join(_field(rng, i + 1) for i in range(5))  # every field free
    else:
        count = rng.choice([3, 4, 7])
        text = " ".join(_field(rng, rng.randint(1, 5)) for _ in range(count))
    if rng.random() < 0.15:
        zone = rng.choice([*ZONES, *ZONES, "Mars/Olympus", "", "Local", "utc", "Etc/GMT-14"])
        text = f"{rng.choice(['CRON_TZ', 'CRON_TZ', 'TZ'])}={zone} {text}"
    return text


# -- zones --------------------------------------------------------------------------------------


@functools.cache
def transitions(zone_name: str) -> list[int]:
    """Every offset change of the zone from FIRST_YEAR to LAST_YEAR, probed and bisected."""
    zone = ZoneInfo(zone_name)

    def offset(ts: int) -> float:
        delta = datetime.fromtimestamp(ts, zone).utcoffset()
        return delta.total_seconds() if delta else 0.0

    start = int(datetime(FIRST_YEAR, 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC).timestamp())
    out = []
    t, prev = start, offset(start)
    while t < end:
        nxt = t + 3 * 3600
        if offset(nxt) != prev:
            a, b = t, nxt
            while b - a > 1:
                mid = (a + b) // 2
                if offset(mid) == prev:
                    a = mid
                else:
                    b = mid
            out.append(b)
            prev = offset(b)
        t = nxt
    return out


def fixed_zone(zone: str, at: int) -> str | None:
    """The ``Etc/GMT±h`` zone with the offset ``zone`` has at ``at``, when it is whole hours."""
    delta = datetime.fromtimestamp(at, ZoneInfo(zone)).utcoffset()
    seconds = int(delta.total_seconds()) if delta else 0
    if seconds % 3600:
        return None
    hours = seconds // 3600
    return "UTC" if hours == 0 else f"Etc/GMT{-hours:+d}"  # POSIX signs are inverted


def random_start(rng: random.Random, zone: str) -> int:
    """A start instant: half the time within two days before an offset change of the zone."""
    changes = transitions(zone)
    if changes and rng.random() < 0.55:
        return rng.choice(changes) - rng.randint(0, 2 * DAY)
    first = int(datetime(FIRST_YEAR + 3, 1, 1, tzinfo=UTC).timestamp())
    last = int(datetime(LAST_YEAR - 1, 1, 1, tzinfo=UTC).timestamp())
    return rng.randint(first, last)


# -- the two sides ------------------------------------------------------------------------------


@dataclass
class Answer:
    """One side's answer for one case: accepted or not, the fire times or the error."""

    ok: bool
    times: list[int] = field(default_factory=list)
    error: str = ""
    seconds_only: bool = False  # robfig: accepted only by a parser with a seconds field
    gave_up: bool = False  # robfig: no fire time within five years
    fractional: bool = False  # here: a fire time off the whole second (a bug)


def ours(spec: str, zone: str, after: int, count: int) -> Answer:
    """Bingo's answer."""
    try:
        schedule = parse_spec(spec, zone)
        times, moment, fractional = [], float(after), False
        for _ in range(count):
            moment = schedule.next_timestamp(moment)
            fractional = fractional or moment != int(moment)
            times.append(int(moment))
    except CronSpecError as exc:
        return Answer(False, error=str(exc).split(": ", 1)[-1])
    return Answer(True, times, fractional=fractional)


def build_robfig(workdir: Path, source: str | None) -> Path:
    """Build robfig_next.go in ``workdir``; ``source`` is a local copy of robfig/cron v3."""
    go = shutil.which("go")
    if go is None:
        raise SystemExit("the go command is not on PATH (Debian: apt-get install golang-go)")
    shutil.copy(GO_SOURCE, workdir / GO_SOURCE.name)
    mod = GO_MOD
    env = dict(os.environ)
    env.setdefault("GOCACHE", str(workdir / "cache"))
    if source:
        mod += f"\nreplace github.com/robfig/cron/v3 => {Path(source).resolve()}\n"
        env.setdefault("GOPROXY", "off")
    (workdir / "go.mod").write_text(mod)
    env["GOFLAGS"] = "-mod=mod"
    binary = workdir / "robfig-next"
    subprocess.run([go, "build", "-o", str(binary), "."], cwd=workdir, env=env, check=True)
    return binary


def robfig(binary: Path, cases: list[tuple[str, int, str]], count: int) -> list[Answer]:
    """robfig's answers, one per case, from one run of the Go program."""
    lines = "".join(f"{zone}\t{after}\t{spec}\n" for zone, after, spec in cases)
    run = subprocess.run(
        [str(binary), "-n", str(count)], input=lines, capture_output=True, text=True, check=True
    )
    out = []
    for line in run.stdout.splitlines():
        word, _, rest = line.partition(" ")
        if word == "ERR":
            out.append(Answer(False, error=rest))
            continue
        items = rest.split()
        gave_up = bool(items) and items[-1] == "NONE"
        times = [int(x) for x in items if x != "NONE"]
        out.append(Answer(True, times, seconds_only=word == "OK6", gave_up=gave_up))
    if len(out) != len(cases):
        raise SystemExit(f"robfig-next answered {len(out)} of {len(cases)} cases")
    return out


# -- classification -----------------------------------------------------------------------------


@dataclass
class Case:
    """One spec in one zone from one start, both answers, and what the difference is."""

    zone: str
    after: int
    spec: str
    mine: Answer = field(default_factory=lambda: Answer(False))
    theirs: Answer = field(default_factory=lambda: Answer(False))
    kind: str = ""
    reason: str = ""
    twin: tuple[str, int, str] | None = None  # the same spec in a zone without offset changes

    @property
    def prefix_zone(self) -> str | None:
        """The zone of a ``CRON_TZ=`` / ``TZ=`` prefix, if the spec has one."""
        found = re.match(r"(?:CRON_)?TZ=(\S*)\s", self.spec.strip())
        return found.group(1) if found else None

    @property
    def body(self) -> str:
        """The spec without its zone prefix."""
        return re.sub(r"^(CRON_)?TZ=\S*\s+", "", self.spec.strip())


def _pattern(message: str) -> str:
    """An error message with its particulars replaced, to group differences by reason."""
    text = re.sub(r"'[^']*'", "'…'", message)
    text = re.sub(r"\([^)]*\)", "(…)", text)
    text = re.sub(r"\[[^\]]*\]", "[…]", text)
    text = re.sub(r"\d+", "N", text)
    if "'" not in text:
        text = re.sub(r"(: )[^:]*$", r"\1…", text)
    return text


#: Why a spec is refused here and accepted by robfig: (pattern of our error, reason).
REFUSED_HERE = [
    (r"is allowed in the day fields only", "'?' outside the day fields (robfig reads it as *)"),
    (r"empty list item", "an empty list item (robfig drops it: 1,,2 is 1,2)"),
    (r"a range needs", "a range with * at one end (robfig reads *-5 as *)"),
    (r"'\+\d+' is not", "a + before a number (robfig reads +5 as 5)"),
    (r"@every interval must be (more than zero|positive)", "@every 0 or below (robfig: 1s)"),
    (r"prefix names no time zone", "CRON_TZ= naming no zone (robfig: UTC)"),
    (r"unknown time zone 'Local'", "CRON_TZ=Local (robfig: the machine's zone)"),
]
#: Why a spec is accepted here and refused by robfig: (pattern of robfig's error, reason).
ACCEPTED_HERE = [
    (r"unrecognized descriptor: @[A-Z]", "a descriptor not in lower case (@DAILY)"),
    (r"end of range \(7\) above maximum \(6\)", "7 for Sunday in the day of week"),
    (r'parsing "(L\d?|\d?L|l\d?|\d#\d)"', "L, L5 and 5#2 in the day fields"),
    (r"expected exactly 5 fields, found 6", "6 fields with leading seconds"),
    (r"missing unit in duration", "@every with plain seconds (@every 300)"),
    (r'unknown unit "d"', "@every in days (@every 1d)"),
    (r'invalid duration " ', "@every followed by more than one space"),
]


def _named(message: str, table: list[tuple[str, str]]) -> str:
    for pattern, reason in table:
        if re.search(pattern, message):
            return reason
    return _pattern(message)


def _steps(times: list[int]) -> set[int]:
    return {b - a for a, b in itertools.pairwise(times)}


def first_pass(case: Case) -> None:
    """Classify ``case`` from its two answers; leave ``twin`` set when the times differ in
    a zone with offset changes, for :func:`second_pass` to check."""
    mine, theirs = case.mine, case.theirs
    if mine.fractional:
        case.kind, case.reason = "unexplained", "a fire time off the whole second here"
    elif not mine.ok and not theirs.ok:
        case.kind, case.reason = "same", "refused by both"
    elif mine.ok and not theirs.ok:
        case.kind, case.reason = "only-here", _named(theirs.error, ACCEPTED_HERE)
    elif not mine.ok:
        case.kind = "only-robfig"
        if theirs.gave_up and not theirs.times:
            case.reason = "a spec that never fires (robfig accepts it and finds no time)"
        else:
            case.reason = _named(mine.error, REFUSED_HERE)
    elif mine.times == theirs.times and theirs.seconds_only:
        case.kind = "only-here"
        case.reason = "6 fields with leading seconds (same times as robfig's seconds parser)"
    elif mine.times == theirs.times:
        case.kind, case.reason = "same", "same fire times"
    elif case.body.lower().startswith("@every"):
        if len(_steps(mine.times)) == 1 and _steps(mine.times) == _steps(theirs.times):
            case.kind, case.reason = "every-phase", "same interval; ticks counted from the epoch"
        else:
            case.kind, case.reason = "unexplained", "@every intervals differ"
    elif theirs.gave_up and mine.times[: len(theirs.times)] == theirs.times:
        case.kind, case.reason = "same", "robfig stops looking after five years"
    else:
        zone = case.prefix_zone or case.zone
        differing = set(mine.times) ^ set(theirs.times)
        changes = transitions(zone) if zone in ZONES else []
        lo = bisect.bisect_left(changes, case.after - DAY)
        hi = bisect.bisect_right(changes, min(differing) + DAY)
        if hi > lo:  # an offset change between the start and the first difference
            twin_zone = fixed_zone(zone, case.after) or "UTC"
            spec = f"CRON_TZ={twin_zone} {case.body}" if case.prefix_zone else case.body
            case.twin = (twin_zone, case.after, spec)
        case.kind, case.reason = "unexplained", "different fire times"


def dst_reason(case: Case) -> str:
    """Which part of the two DST policies makes the difference."""
    zone_name = case.prefix_zone or case.zone
    zone = ZoneInfo(zone_name)
    horizon = min(case.mine.times[-1], case.theirs.times[-1])
    only_mine = {t for t in set(case.mine.times) - set(case.theirs.times) if t <= horizon}
    only_theirs = {t for t in set(case.theirs.times) - set(case.mine.times) if t <= horizon}

    def offset(ts: int) -> float:
        delta = datetime.fromtimestamp(ts, zone).utcoffset()
        return delta.total_seconds() if delta else 0.0

    def first_occurrence(ts: int) -> int:
        wall = datetime.fromtimestamp(ts, zone).replace(fold=0)
        return int(wall.timestamp())

    reasons = []
    if any(t in transitions(zone_name) and offset(t) > offset(t - 1) for t in only_mine):
        reasons.append("spring forward: a time in the gap fires at its end here, robfig skips it")
    repeated = [t for t in only_theirs if datetime.fromtimestamp(t, zone).fold]
    if any(first_occurrence(t) in case.theirs.times for t in repeated):
        reasons.append("fall back: robfig fires a repeated fixed-hour time twice, here once")
    if len(set(case.theirs.times)) < len(case.theirs.times):
        reasons.append("robfig returns the same instant again after a fall back")
    if not reasons:
        changes = transitions(zone_name)
        i = min(bisect.bisect_left(changes, min(only_mine | only_theirs)), len(changes) - 1)
        shift = abs(offset(changes[i]) - offset(changes[i] - 1))
        what = "a half-hour offset change" if shift % 3600 else "an offset change"
        if only_mine and only_theirs:
            wrong = "misses fire times and adds others"
        else:
            wrong = "misses fire times" if only_mine else "adds fire times"
        reasons.append(f"robfig's search {wrong} after {what}")
    return "; ".join(reasons)


def second_pass(cases: list[Case], binary: Path, count: int) -> None:
    """Check the cases left with a twin: when both agree in a zone without offset
    changes, the difference comes from the DST policies."""
    pending = [c for c in cases if c.twin is not None]
    if not pending:
        return
    twins = [c.twin for c in pending if c.twin is not None]
    theirs = robfig(binary, twins, count)
    for case, twin, answer in zip(pending, twins, theirs, strict=True):
        mine = ours(twin[2], twin[0], twin[1], count)
        if mine.ok and answer.ok and mine.times == answer.times:
            case.kind, case.reason = "dst", dst_reason(case)


# -- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print the table; exit 1 when a difference is unexplained."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--count", type=int, default=22000, help="random specs (22000)")
    parser.add_argument("--seed", type=int, default=20260308, help="random seed (20260308)")
    parser.add_argument("-n", dest="fires", type=int, default=8, help="fire times per spec (8)")
    parser.add_argument(
        "--robfig-src",
        default=os.environ.get("ROBFIG_CRON_SRC")
        or (str(DEBIAN_SOURCE) if DEBIAN_SOURCE.is_dir() else None),
        help=f"a local copy of robfig/cron v3 (default: $ROBFIG_CRON_SRC, else {DEBIAN_SOURCE} "
        "when present; without one, go fetches v3.0.1 through its module proxy)",
    )
    parser.add_argument("--robfig-bin", default=None, help="an already built robfig-next")
    parser.add_argument("--examples", type=int, default=3, help="examples shown per reason (3)")
    args = smoke.parse_args(parser, argv, SMOKE)

    rng = random.Random(args.seed)
    cases = []
    for _ in range(args.count):
        zone = rng.choice(ZONES)
        cases.append(Case(zone, random_start(rng, zone), random_spec(rng)))
    missing = robfig_missing(args.robfig_bin, args.robfig_src)
    if args.smoke and missing:
        print(f"smoke: robfig's side left out ({missing}); Bingo's side alone:")
        return ours_only(cases, args.fires)

    with tempfile.TemporaryDirectory(prefix="cron-compat-") as tmp:
        binary = (
            Path(args.robfig_bin) if args.robfig_bin else build_robfig(Path(tmp), args.robfig_src)
        )
        started = time.perf_counter()
        answers = robfig(binary, [(c.zone, c.after, c.spec) for c in cases], args.fires)
        go_time = time.perf_counter() - started
        started = time.perf_counter()
        for case, answer in zip(cases, answers, strict=True):
            case.theirs = answer
            case.mine = ours(case.spec, case.zone, case.after, args.fires)
        py_time = time.perf_counter() - started
        for case in cases:
            first_pass(case)
        second_pass(cases, binary, args.fires)
    report(cases, args.fires, args.seed, args.examples, go_time, py_time)
    return 1 if any(c.kind == "unexplained" for c in cases) else 0


def robfig_missing(binary: str | None, source: str | None) -> str:
    """Why robfig's side cannot run offline here ("" when it can)."""
    if binary:
        return ""
    if shutil.which("go") is None:
        return "no go command; Debian: apt-get install golang-go golang-github-robfig-cron-dev"
    if not source:
        return (
            "no local robfig/cron v3 and a smoke run fetches nothing; "
            "Debian: apt-get install golang-github-robfig-cron-dev"
        )
    return ""


def ours_only(cases: list[Case], fires: int) -> int:
    """Bingo's answers alone (a smoke run without Go): exit 1 when a fire time is off
    the whole second or a spec's next times do not rise."""
    started = time.perf_counter()
    for case in cases:
        case.mine = ours(case.spec, case.zone, case.after, fires)
    took = time.perf_counter() - started
    accepted = [c for c in cases if c.mine.ok]
    bad = [
        c
        for c in accepted
        if c.mine.fractional or any(b <= a for a, b in itertools.pairwise([c.after, *c.mine.times]))
    ]
    print(f"{len(cases)} specs ({fires} fire times each) in {took:.1f} s")
    print(f"{'answer':<16} {'specs':>6}")
    print(f"{'accepted':<16} {len(accepted):>6}")
    print(f"{'refused':<16} {len(cases) - len(accepted):>6}")
    print(f"{'times wrong':<16} {len(bad):>6}")
    for case in bad[:3]:
        print(f"    {case.zone} after {case.after}: {case.spec!r}: {case.mine.times}")
    return 1 if bad else 0


def _detail(case: Case) -> str:
    stamp = datetime.fromtimestamp(case.after, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = f"{case.spec!r} in {case.zone} after {stamp}"
    if case.kind in ("dst", "unexplained") and case.mine.ok and case.theirs.ok:
        zone = ZoneInfo(case.prefix_zone or case.zone)

        def show(times: list[int]) -> str:
            return " ".join(
                datetime.fromtimestamp(t, zone).strftime("%m-%d %H:%M%z") for t in times
            )

        text += (
            f"\n        here:   {show(case.mine.times)}\n        robfig: {show(case.theirs.times)}"
        )
    elif case.kind == "only-here":
        text += f": robfig: {case.theirs.error}"
    elif case.kind == "only-robfig":
        text += f": here: {case.mine.error}"
    return text


def report(
    cases: list[Case], fires: int, seed: int, examples: int, go_time: float, py_time: float
) -> None:
    """Print the totals, the count per kind, and examples of each reason."""
    kinds = collections.Counter(c.kind for c in cases)
    standard = [c.theirs.ok and not c.theirs.seconds_only for c in cases]
    both = sum(1 for c, ok in zip(cases, standard, strict=True) if c.mine.ok and ok)
    six = [c for c in cases if c.theirs.seconds_only]
    print(
        f"{len(cases)} specs compared ({fires} fire times each, seed {seed}; "
        f"robfig {go_time:.1f} s, bingo {py_time:.1f} s)"
    )
    print(
        f"accepted by both: {both}, refused by both: "
        f"{sum(1 for c, ok in zip(cases, standard, strict=True) if not c.mine.ok and not ok)}, "
        f"accepted here only: "
        f"{sum(1 for c, ok in zip(cases, standard, strict=True) if c.mine.ok and not ok)}, "
        f"by robfig only: "
        f"{sum(1 for c, ok in zip(cases, standard, strict=True) if ok and not c.mine.ok)}"
    )
    both_kinds = collections.Counter(
        c.kind for c, ok in zip(cases, standard, strict=True) if c.mine.ok and ok
    )
    print(
        f"of those accepted by both: same fire times {both_kinds['same']}, "
        f"dst {both_kinds['dst']}, every-phase {both_kinds['every-phase']}, "
        f"unexplained {both_kinds['unexplained']}"
    )
    six_kinds = collections.Counter(
        "same" if c.reason.startswith("6 fields") else c.kind for c in six
    )
    print(
        f"6-field specs (robfig's standard parser refuses them; compared with its seconds "
        f"parser): {len(six)}: " + ", ".join(f"{k} {n}" for k, n in sorted(six_kinds.items()))
    )
    print()
    print(f"{'kind':<14} {'specs':>6}")
    for kind in ("same", "dst", "every-phase", "only-here", "only-robfig", "unexplained"):
        print(f"{kind:<14} {kinds.get(kind, 0):>6}")
    groups: dict[tuple[str, str], list[Case]] = collections.defaultdict(list)
    for case in cases:
        if case.kind != "same" or case.reason.startswith("robfig stops"):
            groups[case.kind, case.reason].append(case)
    order = ["unexplained", "dst", "every-phase", "only-robfig", "only-here", "same"]
    for (kind, reason), items in sorted(
        groups.items(), key=lambda kv: (order.index(kv[0][0]), -len(kv[1]))
    ):
        print(f"\n[{kind}] {reason}: {len(items)}")
        for case in items[:examples]:
            print(f"    {_detail(case)}")


if __name__ == "__main__":
    sys.exit(main())
