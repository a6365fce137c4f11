"""Coder task set: each task finds and fixes one bug in the textkit workspace, then re-runs its tests."""

from __future__ import annotations

from agents.base import Task, answer_turn, tool_turn, user_input

# (module, function, bug description, old text, new text)
_FIXES = [
    (
        "slugify",
        "slugify",
        "slugify leaves runs of dashes",
        're.sub(r"[^a-z0-9]", "-", text)',
        're.sub(r"[^a-z0-9]+", "-", text)',
    ),
    (
        "roman",
        "to_roman",
        "to_roman(4) is IIII instead of IV",
        '_NUMERALS = [(1000, "M"), (500, "D"), (100, "C"), (50, "L"), (10, "X"), (5, "V"), (1, "I")]',
        '_NUMERALS = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"),\n'
        '             (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]',
    ),
    (
        "wordfreq",
        "top_words",
        "top_words counts 'The' and 'the' separately",
        """words = re.findall(r"[A-Za-z']+", text)""",
        """words = re.findall(r"[a-z']+", text.lower())""",
    ),
    (
        "stats",
        "median",
        "median of an even-length list is wrong",
        "    return ordered[middle]\n",
        "    if len(ordered) % 2:\n        return ordered[middle]\n"
        "    return (ordered[middle - 1] + ordered[middle]) / 2\n",
    ),
    (
        "wrap",
        "wrap",
        "wrap breaks lines that exactly fit the width",
        "len(line) + 1 + len(word) >= width",
        "len(line) + 1 + len(word) > width",
    ),
    (
        "dates",
        "is_leap",
        "is_leap(1900) is True",
        "return year % 4 == 0",
        "return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)",
    ),
    (
        "caesar",
        "shift",
        "shift does not wrap lowercase letters past z",
        "out.append(chr(ord(ch) + k))",
        'out.append(chr((ord(ch) - ord("a") + k) % 26 + ord("a")))',
    ),
    (
        "matrix",
        "transpose",
        "transpose fails on non-square matrices",
        "for i in range(len(rows))]",
        "for i in range(len(rows[0]))]",
    ),
    ("intervals", "merge", "merge does not join touching intervals", "start < merged[-1][1]", "start <= merged[-1][1]"),
    (
        "csvsum",
        "column_sum",
        "column_sum crashes on blank lines",
        "for row in rows if row[index])",
        "for row in rows if row and row[index])",
    ),
    (
        "palindrome",
        "is_palindrome",
        "is_palindrome ignores only spaces, not punctuation",
        'cleaned = text.lower().replace(" ", "")',
        'cleaned = "".join(ch for ch in text.lower() if ch.isalnum())',
    ),
]


def tasks() -> list[Task]:
    out = []
    for module, function, bug, old, new in _FIXES:
        path, test = f"textkit/{module}.py", f"tests.test_{module}"
        script = {
            "turns": [
                tool_turn(40, ("list_files", {}), ("search_code", {"pattern": f"def {function}"})),
                tool_turn(38, ("read_file", {"path": path}), ("run_tests", {"target": test})),
                tool_turn(30 + (len(old) + len(new)) // 4, ("edit_file", {"path": path, "old": old, "new": new})),
                tool_turn(24, ("run_tests", {"target": test})),
                answer_turn(f"Fixed {function} in {path}: {bug}. The tests in {test} pass now.", 150),
            ]
        }
        out.append(
            Task(f"fix-{module}", user_input(f"Bug report: {bug}. Please fix it and make the tests pass."), script)
        )
    return out
