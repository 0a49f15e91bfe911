"""Training: the run's description (``spec``), state and step (``step``), the loop
(``loop``), scoring on the validation split (``evaluate``), checkpoints, losses, metrics,
optimizers, data parallelism and the run's log."""
