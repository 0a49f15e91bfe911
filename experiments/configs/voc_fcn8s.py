"""FCN-8s on PASCAL VOC, staged from FCN-16s.

    fcn-jax train --config experiments/configs/voc_fcn8s.py \\
        --workdir runs/voc_fcn8s \\
        --config.init_from=runs/voc_fcn16s

Init: the trained FCN-16s (its workdir); score_pool3 starts at zero.
Solver: SGD, momentum 0.99, fixed learning rate 1e-14, summed loss, batch 1, weight decay 5e-4
  on weights, biases at 2x the rate, bilinear upsampling fixed.
Aims at: 65.5 mean IU on seg11valid (PAMI 2016; reference README).
Dataset: `voc_sbd`, prepared with `fcn-jax data prepare voc_sbd --manual-dir DIR` (issue #4).
"""

from fcn_jax.default_config import reference_config


def get_config():
    config = reference_config(
        dataset="voc_sbd", arch="fcn8s", learning_rate=1e-14, init_from="runs/voc_fcn16s"
    )
    return config
