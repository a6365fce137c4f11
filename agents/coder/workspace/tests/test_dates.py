import unittest

from textkit.dates import days_in_february, is_leap


class DatesTest(unittest.TestCase):
    def test_centuries(self):
        self.assertFalse(is_leap(1900))
        self.assertTrue(is_leap(2000))

    def test_february(self):
        self.assertEqual(days_in_february(2024), 29)
