"""ME-TST Studio training: labels from intervals, LOSO splits, trainer, and the ``metst`` CLI.

Imports ``core`` only (never Qt, never ``metst_gui``).
"""
