"""Models over FlowTraces (ME-TST, ME-TST+, flow spotter) and TSFmicro over face crops.

Each model lives in its own module; import it from there (torch loads only when needed).
"""
