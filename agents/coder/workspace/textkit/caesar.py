import string


def shift(text, k):
    """Caesar cipher on ASCII letters, keeping case; other characters unchanged."""
    out = []
    for ch in text:
        if ch in string.ascii_lowercase:
            out.append(chr(ord(ch) + k))
        elif ch in string.ascii_uppercase:
            out.append(chr((ord(ch) - ord("A") + k) % 26 + ord("A")))
        else:
            out.append(ch)
    return "".join(out)
