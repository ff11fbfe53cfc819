"""`transposer eval score`: a judge's answers against the key of a blind comparison.

Answers file: one line per sheet, `ID CHOICE [reason]`; blank lines and lines starting with # are
ignored; case and spacing do not matter, and a `:`, `,` or `-` may follow the id (also `;` or
`.` the choice).
    ID       the sheet's number, with or without its leading zeros or .png: 7, 007, 007.png
    CHOICE   left | l | right | r, or a tie: same | tie | equal | =
    reason   any free text
Every sheet of the judge's folder needs exactly one answer.

Per judge and pooled over judges, for each method: wins, losses, ties, the preference rate
wins / (wins + losses) (ties left out), the two-sided sign-test p-value (exact binomial, p = 1/2,
ties dropped) and the Wilson 95% interval of the rate. Pooling counts every judgement, so its
p-value treats two judges' verdicts on one case as independent: read it beside the per-judge ones
and the agreement. Agreement: for each two judges, the share of cases given the same verdict
(A, B or tie) and Cohen's kappa.
"""
from __future__ import annotations

import json
import math
import re
from itertools import combinations
from pathlib import Path
from typing import Sequence

from .blind_sheets import KEY_KIND
from .protocol import EvalError

MIN_PAIRS, MIN_JUDGES = 40, 2    # the protocol's minimum per comparison
Z95 = 1.959963984540054
CHOICES = {"left": "left", "l": "left", "right": "right", "r": "right",
           "same": "tie", "tie": "tie", "equal": "tie", "=": "tie"}
_LINE = re.compile(r"^(\d+)(?:\.png)?\s*[:,\-]?\s*(left|right|same|tie|equal|l|r|=)(?=$|[\s:;,.\-])\s*[:;,.\-]?\s*(.*)$",
                   re.IGNORECASE)


def load_key(path: str | Path) -> dict:
    p = Path(path).expanduser()
    try:
        key = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalError(f"--key: no such file: {p}") from None
    except (OSError, ValueError) as exc:
        raise EvalError(f"--key: cannot read {p}: {exc}") from None
    if not isinstance(key, dict) or key.get("kind") != KEY_KIND or not key.get("sets"):
        raise EvalError(f"--key: {p} is not the key of `transposer eval pairs`")
    return key


def parse_answers(path: str | Path, sheet_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """{sheet id: (left|right|tie, reason)} for exactly the given ids, or EvalError naming the line."""
    p = Path(path).expanduser()
    try:
        lines = p.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise EvalError(f"--answers: cannot read {p}: {exc.strerror or exc}") from None
    by_number = {int(i): i for i in sheet_ids}
    answers: dict[str, tuple[str, str]] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise EvalError(f"--answers {p} line {number}: expected `ID left|right|same [reason]`, got {line!r}")
        sheet = by_number.get(int(match.group(1)))
        if sheet is None:
            raise EvalError(f"--answers {p} line {number}: no sheet {match.group(1)} in this judge's folder "
                            f"({len(sheet_ids)} sheets)")
        if sheet in answers:
            raise EvalError(f"--answers {p} line {number}: sheet {sheet} answered twice")
        answers[sheet] = (CHOICES[match.group(2).lower()], match.group(3).strip())
    missing = [i for i in sheet_ids if i not in answers]
    if missing:
        shown = ", ".join(missing[:8]) + (", ..." if len(missing) > 8 else "")
        raise EvalError(f"--answers {p}: no answer for {len(missing)} sheet(s): {shown}")
    return answers


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact binomial p-value of wins vs losses under p = 1/2 (1.0 when both are 0)."""
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(wins, losses) + 1)) / 2 ** n
    return min(1.0, 2.0 * tail)


def wilson(successes: int, n: int, z: float = Z95) -> list[float] | None:
    if n == 0:
        return None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return [max(0.0, centre - half), min(1.0, centre + half)]


def tally(verdicts: Sequence[str], labels: dict[str, str]) -> dict:
    """verdicts: "A" | "B" | "tie" per judgement -> per method label: wins, losses, ties, rate, p, CI."""
    counts = {side: verdicts.count(side) for side in ("A", "B")}
    ties = verdicts.count("tie")
    out = {}
    for side, other in (("A", "B"), ("B", "A")):
        wins, losses = counts[side], counts[other]
        decided = wins + losses
        out[labels[side]] = {"wins": wins, "losses": losses, "ties": ties,
                             "preference": wins / decided if decided else None,
                             "p_value": sign_test(wins, losses), "ci95": wilson(wins, decided)}
    return out


def _kappa(x: Sequence[str], y: Sequence[str]) -> float | None:
    n = len(x)
    observed = sum(a == b for a, b in zip(x, y)) / n
    expected = sum((x.count(c) / n) * (y.count(c) / n) for c in ("A", "B", "tie"))
    return None if expected == 1 else (observed - expected) / (1 - expected)


def score(key_path: str | Path, answers: Sequence[str]) -> dict:
    """answers: `FILE` or `SET=FILE` per judge (SET: the key's judge folder name, e.g. judge2;
    needed when the key has more than one)."""
    key = load_key(key_path)
    if not answers:
        raise EvalError("--answers: give at least one answers file")
    sets, labels = key["sets"], key["methods"]
    judges, seen = [], set()
    for entry in answers:
        name, sep, file = str(entry).partition("=")
        if not sep:
            if len(sets) > 1:
                raise EvalError(f"--answers {entry}: the key has {len(sets)} judge folders "
                                f"({', '.join(sets)}); write SET=FILE, e.g. {next(iter(sets))}={entry}")
            name, file = next(iter(sets)), entry
        if name not in sets:
            raise EvalError(f"--answers {entry}: the key has no judge folder {name!r} ({', '.join(sets)})")
        if (name, Path(file).expanduser().resolve()) in seen:
            raise EvalError(f"--answers {entry}: given twice")
        seen.add((name, Path(file).expanduser().resolve()))
        sheets = sets[name]["sheets"]
        given = parse_answers(file, list(sheets))
        verdicts = {}   # case -> "A" | "B" | "tie"
        for sheet, (choice, _) in given.items():
            verdicts[sheets[sheet]["case"]] = "tie" if choice == "tie" else sheets[sheet][choice]
        judges.append({"answers": str(file), "sheets": name, "n": len(verdicts),
                       "methods": tally(list(verdicts.values()), labels), "_verdicts": verdicts})

    pooled = [v for j in judges for v in j["_verdicts"].values()]
    agreement = []
    for (i, x), (k, y) in combinations(enumerate(judges), 2):
        common = sorted(set(x["_verdicts"]) & set(y["_verdicts"]))
        if not common:
            continue
        vx, vy = [x["_verdicts"][c] for c in common], [y["_verdicts"][c] for c in common]
        same = sum(a == b for a, b in zip(vx, vy))
        agreement.append({"judges": [i + 1, k + 1], "cases": len(common), "agree": same,
                          "rate": same / len(common), "kappa": _kappa(vx, vy)})
    for j in judges:
        del j["_verdicts"]
    n_pairs = len(next(iter(sets.values()))["sheets"])
    return {
        "format": 1,
        "methods": labels,
        "judges": judges,
        "pooled": {"n": len(pooled), "methods": tally(pooled, labels)},
        "agreement": agreement,
        "protocol": {"pairs": n_pairs, "judges": len(judges),
                     "meets_minimum": n_pairs >= MIN_PAIRS and len(judges) >= MIN_JUDGES,
                     "minimum": f"{MIN_PAIRS} pairs, {MIN_JUDGES} judges"},
    }


def markdown(result: dict) -> str:
    """A few lines: the pooled verdict of method A, then one line per judge and the agreement."""
    a_label = result["methods"]["A"]

    def line(title: str, n: int, stats: dict) -> str:
        s = stats[a_label]
        rate = "n/a" if s["preference"] is None else f"{s['preference']:.2f}"
        ci = "" if s["ci95"] is None else f" (95% CI {s['ci95'][0]:.2f}-{s['ci95'][1]:.2f})"
        return (f"{title}: `{a_label}` preferred over `{result['methods']['B']}` in {s['wins']} of {n}, "
                f"lost {s['losses']}, tied {s['ties']}; rate {rate}{ci}, sign test p = {s['p_value']:.3g}")

    rows = [line("pooled", result["pooled"]["n"], result["pooled"]["methods"])]
    rows += [line(f"judge {i} ({j['sheets']})", j["n"], j["methods"]) for i, j in enumerate(result["judges"], 1)]
    rows += [f"agreement judges {a['judges'][0]} and {a['judges'][1]}: {a['agree']} of {a['cases']} cases "
             f"({a['rate']:.2f})" + ("" if a["kappa"] is None else f", kappa {a['kappa']:.2f}")
             for a in result["agreement"]]
    if not result["protocol"]["meets_minimum"]:
        rows.append(f"note: below the protocol's minimum of {result['protocol']['minimum']} per comparison")
    return "\n".join(f"- {r}" for r in rows) + "\n"
