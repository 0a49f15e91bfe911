"""FCN-32s on PASCAL VOC: SBD train (8,498 images), seg11valid validation (736).

    fcn-jax train --config experiments/configs/voc_fcn32s.py \\
        --workdir runs/voc_fcn32s \\
        --config.init_from=VGG16.npz

Init: VGG16 (ILSVRC), fc6/fc7 convolutionalized; an .npz state dict with the reference names.
Solver: SGD, momentum 0.99, fixed learning rate 1e-10, summed loss, batch 1, weight decay 5e-4
  on weights, biases at 2x the rate, bilinear upsampling fixed.
Aims at: 63.6 mean IU on seg11valid (PAMI 2016, Table 3; reference README).
Dataset: `voc_sbd`, prepared with `fcn-jax data prepare voc_sbd --manual-dir DIR` (issue #4).
"""

from fcn_jax.default_config import reference_config


def get_config():
    config = reference_config(
        dataset="voc_sbd", arch="fcn32s", learning_rate=1e-10, init_from="VGG16.npz"
    )
    return config
