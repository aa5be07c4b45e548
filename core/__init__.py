"""ME-TST Studio core: video → faces → ROIs → optical-flow traces → models → intervals.

No Qt and no training loop here: everything a script, the CLI or the GUI calls.
Heavy modules (torch models, dlib) are imported by their own submodules, never here.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
