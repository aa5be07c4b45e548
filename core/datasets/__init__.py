"""Readers for micro-expression datasets (CAS(ME)³, SAMM Long Videos, app projects)."""
