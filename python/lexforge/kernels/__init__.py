"""Triton kernels that ship with lexforge: fused attention (``lexforge.kernels.attention``).

Use them through ``lexforge.ops``, which checks inputs, picks the backend and registers
the kernels as torch custom ops. Importing this package imports nothing heavy; its
submodules import triton. Kernel benchmarks, autotune sweeps and the GPU run script live in
the repository's top-level ``kernels/`` workbench, which is not part of the wheel.
"""
