import unittest

from textkit.tokens import count_tokens


class TokensTest(unittest.TestCase):
    def test_words(self):
        self.assertEqual(count_tokens("a b c d e"), 5)

    def test_long(self):
        self.assertEqual(count_tokens("x" * 40), 10)
