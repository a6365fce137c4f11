import csv
import io


def column_sum(text, column):
    """Sum of a numeric column (by header name) of CSV text."""
    rows = csv.reader(io.StringIO(text))
    header = next(rows)
    index = header.index(column)
    return sum(float(row[index]) for row in rows if row[index])
