import unittest

from textkit.caesar import shift


class CaesarTest(unittest.TestCase):
    def test_wraps_lowercase(self):
        self.assertEqual(shift("xyz", 3), "abc")

    def test_keeps_case_and_punctuation(self):
        self.assertEqual(shift("Hi, Zed!", 1), "Ij, Afe!")
