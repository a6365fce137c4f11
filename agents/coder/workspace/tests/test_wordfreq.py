import unittest

from textkit.wordfreq import top_words


class WordFreqTest(unittest.TestCase):
    def test_case_insensitive(self):
        self.assertEqual(top_words("The cat and the hat. THE end", 1), ["the"])
