"""Overlapping text on screen, as a pure function: the browser tour (tests/test_browser.py)
measures bounding boxes of headings and chart texts, and this says which pairs intersect."""

from __future__ import annotations

# (label, x, y, width, height) in CSS pixels, as getBoundingClientRect gives them
Rect = tuple[str, float, float, float, float]


def overlapping_pairs(rects: list[Rect], tolerance: float = 1.0) -> list[tuple[str, str]]:
    """The labels of every pair of rectangles that intersect by more than `tolerance` pixels
    in both directions (boxes that touch, or share a pixel of anti-aliasing, do not count; an
    empty box overlaps nothing)."""
    pairs = []
    for i, (name_a, xa, ya, wa, ha) in enumerate(rects):
        for name_b, xb, yb, wb, hb in rects[i + 1 :]:
            across = min(xa + wa, xb + wb) - max(xa, xb)
            down = min(ya + ha, yb + hb) - max(ya, yb)
            if across > tolerance and down > tolerance:
                pairs.append((name_a, name_b))
    return pairs


def text_overlaps(texts: list[tuple[int, Rect, Rect]], ink: float = 0.75) -> list[tuple[str, str]]:
    """Overlapping texts of one chart. texts: (angle in degrees, its box in a frame turned by
    that angle, its box on screen) each, one label per text in both boxes. Texts at the same
    angle are compared in their turned frame (the screen boxes of neighbouring tick labels at
    45 degrees overlap while their letters do not), by the middle `ink` share of their height:
    a box is a line of text, taller than its letters (a 12 px font's line is 16 px high), so
    two lines may overlap by that margin before letters touch. Texts at different angles are
    compared by their screen boxes."""
    pairs = []
    for angle in sorted({angle for angle, _, _ in texts}):
        turned = [_middle(box, ink) for a, box, _ in texts if a == angle]
        pairs += overlapping_pairs(turned)
    angle_of = {screen[0]: angle for angle, _, screen in texts}
    screens = overlapping_pairs([screen for _, _, screen in texts])
    return pairs + [(a, b) for a, b in screens if angle_of[a] != angle_of[b]]


def _middle(box: Rect, share: float) -> Rect:
    label, x, y, width, height = box
    return label, x, y + height * (1 - share) / 2, width, height * share
