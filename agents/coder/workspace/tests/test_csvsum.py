import unittest

from textkit.csvsum import column_sum


class CsvSumTest(unittest.TestCase):
    def test_sum(self):
        self.assertEqual(column_sum("name,amount\na,1.5\nb,2.5\n", "amount"), 4.0)

    def test_blank_lines(self):
        self.assertEqual(column_sum("name,amount\na,1\n\nb,2\n", "amount"), 3.0)
