import unittest

from textkit.wrap import wrap


class WrapTest(unittest.TestCase):
    def test_exact_width_fits(self):
        self.assertEqual(wrap("aaa bbb ccc", 7), ["aaa bbb", "ccc"])

    def test_long_word(self):
        self.assertEqual(wrap("a verylongword b", 5), ["a", "verylongword", "b"])
