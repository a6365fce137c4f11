def median(values):
    """Median of a non-empty sequence of numbers."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle]


def mean(values):
    return sum(values) / len(values)
