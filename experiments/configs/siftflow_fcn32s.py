"""FCN-32s on SIFT Flow: 33 semantic and 3 geometric classes, two heads.

    fcn-jax train --config experiments/configs/siftflow_fcn32s.py \\
        --workdir runs/siftflow_fcn32s \\
        --config.init_from=VGG16.npz

Init: VGG16 (ILSVRC).
Solver: SGD, momentum 0.99, fixed learning rate 1e-10, summed loss, batch 1, weight decay 5e-4
  on weights, biases at 2x the rate, bilinear upsampling fixed.
Aims at: semantic mean IU in the upper 30s (reference siftflow-fcn32s).
Dataset: `siftflow`, prepared with `fcn-jax data prepare siftflow --manual-dir DIR` (issue #4).
"""

from fcn_jax.default_config import reference_config


def get_config():
    config = reference_config(
        dataset="siftflow", arch="fcn32s", learning_rate=1e-10, init_from="VGG16.npz"
    )
    config.tasks = ("semantic", "geometric")
    return config
