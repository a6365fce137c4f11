import re
from collections import Counter


def top_words(text, n):
    """The n most common words (case-insensitive), most common first."""
    words = re.findall(r"[A-Za-z']+", text)
    return [word for word, _ in Counter(words).most_common(n)]
