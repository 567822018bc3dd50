"""Each paper's measures: the statistics its claims check and its figures draw.

One public module per paper (``curvlab.measures.<paper>``), pure functions of the paper's
aggregated tables, imported by both :mod:`curvlab.claims` and :mod:`curvlab.plots`, so that a
figure and the claim about it are computed by the same code and cannot disagree. Bounds (the
expectation and its tolerance) live here too, as :class:`curvlab.claims.Bound` objects, so the
band a figure draws is the band the claim checks.
"""
