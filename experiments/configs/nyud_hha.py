"""FCN-32s on NYUDv2, HHA depth encoding as input.

    fcn-jax train --config experiments/configs/nyud_hha.py \\
        --workdir runs/nyud_hha \\
        --config.init_from=VGG16.npz

Init: VGG16 (ILSVRC), applied to HHA images.
Solver: SGD, momentum 0.99, fixed learning rate 1e-10, summed loss, batch 1, weight decay 5e-4
  on weights, biases at 2x the rate, bilinear upsampling fixed.
Aims at: 32.8 mean IU (CVPR 2015, Table 4, HHA).
Dataset: `nyud`, prepared with `fcn-jax data prepare nyud --manual-dir DIR` (issue #4).
"""

from fcn_jax.default_config import reference_config


def get_config():
    config = reference_config(
        dataset="nyud", arch="fcn32s", learning_rate=1e-10, init_from="VGG16.npz"
    )
    config.input = "hha"
    return config
