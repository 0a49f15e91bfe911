"""The plain-text geometry table (``fcn-jax geometry``): one line per layer, columns aligned."""

from __future__ import annotations

from fractions import Fraction

HEAD = ("layer", "type", "k", "s", "pad", "rf", "jump", "offset", "size")


def number(x: Fraction) -> int | float:
    """A Fraction as a JSON number: int when integral."""
    return int(x) if x.denominator == 1 else float(x)


def cell(value) -> str:
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def format_rows(rows: list[dict]) -> list[str]:
    """Rows with the keys name, type, kernel, stride, pad, receptive_field, jump, offset and
    size (a list of units per axis), as aligned text lines under a header."""
    lines = [HEAD]
    for row in rows:
        cells = [row[key] for key in ("name", "type", "kernel", "stride", "pad",
                                      "receptive_field", "jump", "offset")]  # fmt: skip
        lines.append((*map(cell, cells), "x".join(map(str, row["size"]))))
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEAD))]
    justify = [str.ljust, str.ljust] + [str.rjust] * (len(HEAD) - 2)
    return [
        "  ".join(fit(c, w) for fit, c, w in zip(justify, line, widths, strict=True)).rstrip()
        for line in lines
    ]
