"""Training.

- ``spec``: the run description (``RunSpec``) saved with every checkpoint.
- ``loop``: ``train_and_evaluate``, set-up and the loop; ``hooks``: the periodic work of each
  step (log, validate, checkpoint, stop signals); ``start``: resume, or start from other weights.
- ``step``: the train state and the compiled step; ``objective``: its loss; ``parallel``: data
  parallelism (jit with sharding, or pmap) and multi-process padding.
- ``evaluate``: validation's parts; ``losses``, ``metrics``, ``optim``; ``checkpoint``: Orbax;
  ``runlog``: metrics, TensorBoard, curves; ``interrupt``: SIGTERM and Ctrl-C.
"""
