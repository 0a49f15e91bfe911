"""FCN-16s on PASCAL VOC, staged from FCN-32s.

    fcn-jax train --config experiments/configs/voc_fcn16s.py \\
        --workdir runs/voc_fcn16s \\
        --config.init_from=runs/voc_fcn32s

Init: the trained FCN-32s (its workdir); score_pool4 starts at zero, upscore2 bilinear.
Solver: SGD, momentum 0.99, fixed learning rate 1e-12, summed loss, batch 1, weight decay 5e-4
  on weights, biases at 2x the rate, bilinear upsampling fixed.
Aims at: 65.0 mean IU on seg11valid (PAMI 2016; reference README).
Dataset: `voc_sbd`, prepared with `fcn-jax data prepare voc_sbd --manual-dir DIR` (issue #4).
"""

from fcn_jax.default_config import reference_config


def get_config():
    config = reference_config(
        dataset="voc_sbd", arch="fcn16s", learning_rate=1e-12, init_from="runs/voc_fcn32s"
    )
    return config
