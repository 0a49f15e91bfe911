"""FCN-8s-GoogLeNet on PASCAL VOC, staged from FCN-16s-GoogLeNet (skip from the inception
output at stride 8; not in the paper, which reports only the 32s GoogLeNet net).

    fcn-jax train --config experiments/configs/voc_fcn8s_googlenet.py \\
        --workdir runs/voc_fcn8s_googlenet \\
        --config.init_from=runs/voc_fcn16s_googlenet

Init: the trained FCN-16s-GoogLeNet (its workdir); score_inception_3b_output starts at zero,
  upscore_pool4 (3/2) bilinear.
Solver: SGD, momentum 0.99, fixed learning rate 1e-13, summed loss, batch 1, weight decay 5e-4
  on weights, biases at 2x the rate, bilinear upsampling fixed (as the VGG16 stages).
Aims at: above FCN-16s-GoogLeNet, as the VGG16 skips are (no reference figure exists).
Dataset: `voc_sbd`, prepared with `fcn-jax data prepare voc_sbd --manual-dir DIR` (issue #4).
"""

from fcn_jax.default_config import reference_config


def get_config():
    return reference_config(
        dataset="voc_sbd",
        arch="fcn8s-googlenet",
        learning_rate=1e-13,
        init_from="runs/voc_fcn16s_googlenet",
    )
