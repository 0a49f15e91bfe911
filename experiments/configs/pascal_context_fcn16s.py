"""FCN-16s on PASCAL-Context, staged from FCN-32s.

    fcn-jax train --config experiments/configs/pascal_context_fcn16s.py \\
        --workdir runs/pascal_context_fcn16s \\
        --config.init_from=runs/pascal_context_fcn32s

Init: the trained PASCAL-Context FCN-32s.
Solver: SGD, momentum 0.99, fixed learning rate 1e-12, summed loss, batch 1, weight decay 5e-4
  on weights, biases at 2x the rate, bilinear upsampling fixed.
Aims at: 37.6 mean IU (PAMI 2016, Table 6).
Dataset: `pascal_context`, prepared with `fcn-jax data prepare pascal_context --manual-dir DIR`
  (issue #4).
"""

from fcn_jax.default_config import reference_config


def get_config():
    config = reference_config(
        dataset="pascal_context",
        arch="fcn16s",
        learning_rate=1e-12,
        init_from="runs/pascal_context_fcn32s",
    )
    return config
