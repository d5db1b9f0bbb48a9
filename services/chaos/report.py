"""What a chaos run found: the figures the command prints, and whether the run passes."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

from services.chaos.books import Reconciliation
from services.chaos.checker import Verdict
from services.chaos.killer import BROKER, POSTGRES, Struck

STALL_LIMIT_S = 30.0


@dataclass(frozen=True)
class Load:
    run: str
    seed: int
    events: int
    events_kafka: int
    events_http: int
    sends_again: int  # sends made again (same bytes) while a part was away
    waves: int
    waves_done: int
    aborted: str | None


@dataclass(frozen=True)
class Copies:
    events_out: int
    messages_out: int
    missing: int  # refunds and entries the stack holds whose event out never reached its topic

    @property
    def extra(self) -> int:
        return self.messages_out - self.events_out

    @property
    def extra_pct(self) -> float:
        return round(100.0 * self.extra / self.events_out, 3) if self.events_out else 0.0


@dataclass(frozen=True)
class ChaosReport:
    load: Load
    struck: tuple[Struck, ...]
    verdict: Verdict
    reconciliation: Reconciliation
    copies: Copies
    stall_max_s: float
    duration_s: float

    @property
    def kills(self) -> dict[str, int]:
        return dict(
            Counter(s.blow.kind for s in self.struck if s.pid is not None and s.blow.kind != POSTGRES)
        )

    @property
    def outages(self) -> dict[str, int]:
        done = Counter(s.blow.kind for s in self.struck if s.pid is not None)
        return {"postgres": done[POSTGRES], "broker": done[BROKER]}

    @property
    def lost(self) -> int:
        return self.verdict.lost + self.copies.missing

    @property
    def died_on_their_own(self) -> dict[str, int]:
        """Parts found dead that the run had not killed (they still came back with the stack)."""
        return dict(Counter(name for s in self.struck for name in s.also_down))

    def failures(self) -> list[str]:
        v = self.verdict
        return [
            text
            for failed, text in (
                (self.lost > 0, f"{self.lost} lost"),
                (v.doubled > 0, f"{v.doubled} doubled"),
                (v.wrong > 0, f"{v.wrong} effects other than the model's"),
                (not self.reconciliation.balanced, f"reconciliation {self.reconciliation.status}"),
                (self.stall_max_s >= STALL_LIMIT_S, f"stalled {self.stall_max_s:.1f} s"),
                (self.load.aborted is not None, f"aborted: {self.load.aborted}"),
            )
            if failed
        ]

    def as_dict(self) -> dict:
        return {
            **asdict(self.load),
            "kills": self.kills,
            "outages": self.outages,
            "died_on_their_own": self.died_on_their_own,
            "struck": [
                {
                    "kind": s.blow.kind,
                    "target": s.blow.target,
                    "pid": s.pid,
                    "at_share": round(s.blow.at_share, 3),
                    "back_after_s": round(s.back_after_s, 2),
                    "also_down": list(s.also_down),
                }
                for s in self.struck
            ],
            "lost": self.lost,
            "events_out_missing": self.copies.missing,
            "doubled": self.verdict.doubled,
            "wrong": self.verdict.wrong,
            "outcomes": asdict(self.verdict.outcomes),
            "refunds": asdict(self.verdict.refunds),
            "entries": asdict(self.verdict.entries),
            "balances": asdict(self.verdict.balances),
            "problems": list(self.verdict.problems),
            "reconciliation": self.reconciliation.status,
            "failing_checks": list(self.reconciliation.failing),
            "offsets_accounted": self.reconciliation.offsets_accounted,
            "events_out": self.copies.events_out,
            "extra_copies": self.copies.extra,
            "extra_copies_pct": self.copies.extra_pct,
            "stall_max_s": round(self.stall_max_s, 2),
            "duration_s": round(self.duration_s, 1),
            "failures": self.failures(),
            "passed": not self.failures(),
        }
