import re


def count_tokens(text):
    """Approximate LLM tokens: about 4 characters per token, at least one per word."""
    words = re.findall(r"\S+", text)
    return max(len(words), (len(text) + 3) // 4)
