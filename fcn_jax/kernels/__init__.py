"""How the convolutions run: the plain XLA form and the fast CPU and accelerator forms
(``conv``, ``winograd``), and glibc's handling of freed memory (``allocator``)."""
