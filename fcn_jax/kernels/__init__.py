"""How the convolutions run: ``choice`` names the form each convolution and deconvolution takes
under a policy (``KERNELS``: "auto", "xla") on a backend; ``conv``, ``winograd`` and ``deconv``
compute the forms; ``allocator`` handles glibc's freed memory and ``compiler`` the training
step's compiler options. Measurements: ``docs/performance.md``."""
