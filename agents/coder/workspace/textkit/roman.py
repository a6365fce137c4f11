_NUMERALS = [(1000, "M"), (500, "D"), (100, "C"), (50, "L"), (10, "X"), (5, "V"), (1, "I")]


def to_roman(number):
    """Roman numeral for 1 <= number <= 3999."""
    if not 1 <= number <= 3999:
        raise ValueError("out of range")
    out = []
    for value, symbol in _NUMERALS:
        while number >= value:
            out.append(symbol)
            number -= value
    return "".join(out)
