def transpose(rows):
    """Transpose a rectangular list of lists."""
    return [[rows[j][i] for j in range(len(rows))] for i in range(len(rows))]
