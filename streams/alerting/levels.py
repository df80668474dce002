"""The levels of a queue's figures, from settings (FIRSTLINE_WALLBOARD_LEVELS): a wallboard tile's
colour (streams/web/board.py), and the thresholds of the service-level alerts
(streams/alerting/service_rules.py), so that what is red on the wallboard is an alert."""

from __future__ import annotations

from dataclasses import dataclass

LEVELS = ("green", "amber", "red")


@dataclass(frozen=True)
class Levels:
    sl_warn: float = 0.80  # service level below this: amber
    sl_alert: float = 0.70  # below this: red
    wait_warn: float = 1.0  # oldest wait beyond this many thresholds T: amber
    wait_alert: float = 3.0  # beyond this many: red
    abandon_warn: float = 0.05  # abandonment rate above this: amber
    abandon_alert: float = 0.10  # above this: red

    @classmethod
    def parse(cls, text: str) -> "Levels":
        """"sl=0.8:0.7,oldest_wait=1:3,abandonment=0.05:0.1" (warn:alert), any part left out."""
        names = {"sl": ("sl_warn", "sl_alert"), "oldest_wait": ("wait_warn", "wait_alert"),
                 "abandonment": ("abandon_warn", "abandon_alert")}
        values: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, pair = part.partition("=")
            warn, _, alert = pair.partition(":")
            if name.strip() not in names:
                raise ValueError(f"FIRSTLINE_WALLBOARD_LEVELS: unknown figure {name.strip()!r}; "
                                 f"known: {', '.join(names)}")
            try:
                w, a = float(warn), float(alert)
            except ValueError:
                raise ValueError(f"FIRSTLINE_WALLBOARD_LEVELS: {part!r} is not name=warn:alert") from None
            worse = (a <= w) if name.strip() == "sl" else (a >= w)
            if not worse:
                raise ValueError(f"FIRSTLINE_WALLBOARD_LEVELS: in {part!r} the alert level must be "
                                 f"worse than the warn level")
            values.update(dict(zip(names[name.strip()], (w, a))))
        return cls(**values)

    def grade(self, service_level: float | None, oldest_wait_ms: int, threshold_ms: int,
              abandonment: float | None) -> tuple[str, list[str]]:
        """(level, why) for one tile: the worst of its figures."""
        worst, why = 0, []

        def raise_to(level: int, reason: str) -> None:
            nonlocal worst
            worst = max(worst, level)
            why.append(reason)

        if service_level is not None:
            if service_level < self.sl_alert:
                raise_to(2, f"service level {service_level:.0%} below {self.sl_alert:.0%}")
            elif service_level < self.sl_warn:
                raise_to(1, f"service level {service_level:.0%} below {self.sl_warn:.0%}")
        if threshold_ms > 0:
            if oldest_wait_ms > self.wait_alert * threshold_ms:
                raise_to(2, f"oldest wait {oldest_wait_ms / 1000:.0f} s beyond {self.wait_alert:g}×T")
            elif oldest_wait_ms > self.wait_warn * threshold_ms:
                raise_to(1, f"oldest wait {oldest_wait_ms / 1000:.0f} s beyond {self.wait_warn:g}×T")
        if abandonment is not None:
            if abandonment > self.abandon_alert:
                raise_to(2, f"abandonment {abandonment:.0%} above {self.abandon_alert:.0%}")
            elif abandonment > self.abandon_warn:
                raise_to(1, f"abandonment {abandonment:.0%} above {self.abandon_warn:.0%}")
        return LEVELS[worst], why
