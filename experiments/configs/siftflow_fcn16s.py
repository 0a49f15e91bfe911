"""FCN-16s on SIFT Flow, staged from FCN-32s.

    fcn-jax train --config experiments/configs/siftflow_fcn16s.py \\
        --workdir runs/siftflow_fcn16s \\
        --config.init_from=runs/siftflow_fcn32s

Init: the trained SIFT Flow FCN-32s.
Solver: SGD, momentum 0.99, fixed learning rate 1e-12, summed loss, batch 1, weight decay 5e-4
  on weights, biases at 2x the rate, bilinear upsampling fixed.
Aims at: 39.5 semantic mean IU, 94.3% geometric pixel accuracy (CVPR 2015, Table 5).
Dataset: `siftflow`, prepared with `fcn-jax data prepare siftflow --manual-dir DIR` (issue #4).
"""

from fcn_jax.default_config import reference_config


def get_config():
    config = reference_config(
        dataset="siftflow", arch="fcn16s", learning_rate=1e-12, init_from="runs/siftflow_fcn32s"
    )
    config.tasks = ("semantic", "geometric")
    return config
