"""Figures, one module per paper. Figures are made from Parquet tables only."""
