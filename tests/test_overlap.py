"""The overlap check the browser tour uses, on hand-made rectangles."""

from overlap import overlapping_pairs, text_overlaps


def test_boxes_that_intersect_are_a_pair():
    title, tick = ("title", 10, 10, 100, 20), ("tick", 90, 25, 30, 12)  # 20 x 5 px shared
    assert overlapping_pairs([title, tick]) == [("title", "tick")]


def test_boxes_side_by_side_touching_or_apart_are_not():
    left = ("left", 0, 0, 50, 20)
    touching, apart = ("touching", 50, 0, 50, 20), ("apart", 0, 40, 50, 20)
    assert overlapping_pairs([left, touching, apart]) == []


def test_a_pixel_of_anti_aliasing_is_tolerated_but_two_are_not():
    a = ("a", 0, 0, 50, 20)
    assert overlapping_pairs([a, ("b", 49, 0, 50, 20)]) == []
    assert overlapping_pairs([a, ("c", 48, 0, 50, 20)]) == [("a", "c")]


def test_a_box_inside_another_and_empty_boxes():
    outer, inner = ("outer", 0, 0, 100, 100), ("inner", 40, 40, 10, 10)
    hidden = ("hidden", 40, 40, 0, 0)  # an element in a closed tab measures 0 x 0
    assert overlapping_pairs([outer, inner, hidden]) == [("outer", "inner")]


def test_every_pair_is_reported_once_in_input_order():
    boxes = [("a", 0, 0, 10, 10), ("b", 5, 5, 10, 10), ("c", 8, 8, 10, 10)]
    assert overlapping_pairs(boxes) == [("a", "b"), ("a", "c"), ("b", "c")]


def test_turned_tick_labels_are_compared_in_their_own_frame():
    # two tick labels at 45 degrees: their screen boxes overlap, their letters (turned) do not
    first = (45, ("first", 0, 0, 60, 10), ("first", 0, 0, 50, 50))
    second = (45, ("second", 0, 12, 60, 10), ("second", 10, 0, 50, 50))
    assert text_overlaps([first, second]) == []
    crowded = (45, ("crowded", 0, 5, 60, 10), ("crowded", 5, 0, 50, 50))
    assert text_overlaps([first, crowded]) == [("first", "crowded")]


def test_texts_at_different_angles_are_compared_on_screen():
    title = (0, ("title", 0, 100, 40, 10), ("title", 0, 40, 40, 10))
    tick = (45, ("tick", 0, 0, 60, 10), ("tick", 0, 0, 50, 50))  # its screen box covers title
    assert text_overlaps([title, tick]) == [("title", "tick")]
    assert text_overlaps([title, (45, tick[1], ("tick", 0, 0, 30, 30))]) == []


def test_lines_of_text_may_overlap_by_the_space_above_and_below_their_letters():
    upper = (0, ("upper", 0, 0, 60, 16), ("upper", 0, 0, 60, 16))
    lower = (0, ("lower", 0, 13, 60, 16), ("lower", 0, 13, 60, 16))  # 3 px: letters 12 px high
    assert text_overlaps([upper, lower]) == []
    assert text_overlaps([upper, lower], ink=1.0) == [("upper", "lower")]
    closer = (0, ("closer", 0, 9, 60, 16), ("closer", 0, 9, 60, 16))
    assert text_overlaps([upper, closer]) == [("upper", "closer")]
