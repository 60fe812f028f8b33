"""Triton kernels that ship with lexforge (fused attention lands here).

Empty for now. Kernel benchmarks, autotune sweeps and GPU run scripts live in the
repository's top-level ``kernels/`` workbench, which is not part of the wheel.
"""
