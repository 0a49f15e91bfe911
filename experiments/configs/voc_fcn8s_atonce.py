"""FCN-8s at once on PASCAL VOC: all skips learned together from VGG16, pool4 scaled by 0.01 and
pool3 by 0.0001.

    fcn-jax train --config experiments/configs/voc_fcn8s_atonce.py \\
        --workdir runs/voc_fcn8s_atonce \\
        --config.init_from=VGG16.npz

Init: VGG16 (ILSVRC) directly, no staging.
Solver: SGD, momentum 0.99, fixed learning rate 1e-10, summed loss, batch 1, weight decay 5e-4
  on weights, biases at 2x the rate, bilinear upsampling fixed.
Aims at: 65.4 mean IU on seg11valid (PAMI 2016; reference README).
Dataset: `voc_sbd`, prepared with `fcn-jax data prepare voc_sbd --manual-dir DIR` (issue #4).
"""

from fcn_jax.default_config import reference_config


def get_config():
    config = reference_config(
        dataset="voc_sbd", arch="fcn8s-atonce", learning_rate=1e-10, init_from="VGG16.npz"
    )
    return config
