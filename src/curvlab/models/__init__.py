"""Models used by the reproductions. Each module documents the paper and parametrization it follows."""
