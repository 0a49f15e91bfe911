"""FCN-16s-GoogLeNet on PASCAL VOC, staged from FCN-32s-GoogLeNet (skip from the inception
output at stride 16; not in the paper, which reports only the 32s GoogLeNet net).

    fcn-jax train --config experiments/configs/voc_fcn16s_googlenet.py \\
        --workdir runs/voc_fcn16s_googlenet \\
        --config.init_from=runs/voc_fcn32s_googlenet

Init: the trained FCN-32s-GoogLeNet (its workdir); score_inception_4e_output starts at zero,
  upscore2 (3/2) bilinear.
Solver: SGD, momentum 0.99, fixed learning rate 1e-12, summed loss, batch 1, weight decay 5e-4
  on weights, biases at 2x the rate, bilinear upsampling fixed (as the VGG16 stages).
Aims at: above FCN-32s-GoogLeNet, as the VGG16 skips are (no reference figure exists).
Dataset: `voc_sbd`, prepared with `fcn-jax data prepare voc_sbd --manual-dir DIR` (issue #4).
"""

from fcn_jax.default_config import reference_config


def get_config():
    return reference_config(
        dataset="voc_sbd",
        arch="fcn16s-googlenet",
        learning_rate=1e-12,
        init_from="runs/voc_fcn32s_googlenet",
    )
