"""Benchmarks: ours against PyTorch on the same machine (``benchmarks.run``), any of our nets
alone (``benchmarks.archs``); one-off measurements behind README figures in ``investigations/``.
Importing the package changes nothing: each entry point calls
``preallocation.share_the_accelerator()`` itself."""
