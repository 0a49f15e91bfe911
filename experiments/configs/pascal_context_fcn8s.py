"""FCN-8s on PASCAL-Context, staged from FCN-16s.

    fcn-jax train --config experiments/configs/pascal_context_fcn8s.py \\
        --workdir runs/pascal_context_fcn8s \\
        --config.init_from=runs/pascal_context_fcn16s

Init: the trained PASCAL-Context FCN-16s.
Solver: SGD, momentum 0.99, fixed learning rate 1e-14, summed loss, batch 1, weight decay 5e-4
  on weights, biases at 2x the rate, bilinear upsampling fixed.
Aims at: 37.8 mean IU (PAMI 2016, Table 6).
Dataset: `pascal_context`, prepared with `fcn-jax data prepare pascal_context --manual-dir DIR`
  (issue #4).
"""

from fcn_jax.default_config import reference_config


def get_config():
    config = reference_config(
        dataset="pascal_context",
        arch="fcn8s",
        learning_rate=1e-14,
        init_from="runs/pascal_context_fcn16s",
    )
    return config
