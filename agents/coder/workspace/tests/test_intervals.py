import unittest

from textkit.intervals import merge


class IntervalsTest(unittest.TestCase):
    def test_overlap(self):
        self.assertEqual(merge([(1, 3), (2, 5)]), [(1, 5)])

    def test_touching(self):
        self.assertEqual(merge([(1, 2), (2, 4), (6, 7)]), [(1, 4), (6, 7)])
