"""Training: the run's description (``spec``), state and step (``step``), the loop
(``loop``), checkpoints, losses, metrics, optimizers, data parallelism and the run's log."""
