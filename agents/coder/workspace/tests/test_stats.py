import unittest

from textkit.stats import mean, median


class StatsTest(unittest.TestCase):
    def test_odd(self):
        self.assertEqual(median([3, 1, 2]), 2)

    def test_even(self):
        self.assertEqual(median([4, 1, 3, 2]), 2.5)

    def test_mean(self):
        self.assertEqual(mean([1, 2, 3]), 2)
