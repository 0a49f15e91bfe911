"""FCN-8s on SIFT Flow, staged from FCN-16s.

    fcn-jax train --config experiments/configs/siftflow_fcn8s.py \\
        --workdir runs/siftflow_fcn8s \\
        --config.init_from=runs/siftflow_fcn16s

Init: the trained SIFT Flow FCN-16s.
Solver: SGD, momentum 0.99, fixed learning rate 1e-14, summed loss, batch 1, weight decay 5e-4
  on weights, biases at 2x the rate, bilinear upsampling fixed.
Aims at: about 39.5 semantic mean IU (the reference FCN-8s matches FCN-16s).
Dataset: `siftflow`, prepared with `fcn-jax data prepare siftflow --manual-dir DIR` (issue #4).
"""

from fcn_jax.default_config import reference_config


def get_config():
    config = reference_config(
        dataset="siftflow", arch="fcn8s", learning_rate=1e-14, init_from="runs/siftflow_fcn16s"
    )
    config.tasks = ("semantic", "geometric")
    return config
