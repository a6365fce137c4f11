import unittest

from textkit.palindrome import is_palindrome


class PalindromeTest(unittest.TestCase):
    def test_plain(self):
        self.assertTrue(is_palindrome("Racecar"))

    def test_punctuation(self):
        self.assertTrue(is_palindrome("A man, a plan, a canal: Panama!"))
