def is_palindrome(text):
    """True if text reads the same backwards, ignoring case, spaces and punctuation."""
    cleaned = text.lower().replace(" ", "")
    return cleaned == cleaned[::-1]
